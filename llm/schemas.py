"""Turning a pydantic model into the `response_format` a chat completion request carries."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pydantic


def _close_objects(node: Any) -> bool:
    """Forbid extra properties on every object schema; True if every object also requires all its properties."""
    strict_ok = True
    if isinstance(node, dict):
        if node.get("type") == "object" and "properties" in node:
            node.setdefault("additionalProperties", False)
            if set(node.get("required", [])) != set(node["properties"]):
                strict_ok = False
        if "default" in node:
            strict_ok = False
        for value in node.values():
            strict_ok = _close_objects(value) and strict_ok
    elif isinstance(node, list):
        for value in node:
            strict_ok = _close_objects(value) and strict_ok
    return strict_ok


def response_format(schema: type[pydantic.BaseModel]) -> dict[str, Any]:
    """A json_schema response_format; strict only when the schema meets OpenAI's strict-mode rules."""
    json_schema = copy.deepcopy(schema.model_json_schema())
    strict = _close_objects(json_schema)
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", schema.__name__)[:64] or "output"
    return {"type": "json_schema", "json_schema": {"name": name, "schema": json_schema, "strict": strict}}


def schema_text(schema: type[pydantic.BaseModel]) -> str:
    """The JSON schema as text, for JSON mode where the schema travels in the system prompt."""
    return json.dumps(schema.model_json_schema(), sort_keys=True)
