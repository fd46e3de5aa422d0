"""The one error body of the API, and its description in the OpenAPI schema."""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {"non_field_errors": [str(detail)]}


def exception_handler(exc, context):
    """One error body everywhere: {"error": {"code", "message", "fields"}}."""
    if isinstance(exc, DomainError):
        response = Response(
            {"error": {"code": exc.code, "message": exc.message, "fields": {}}}, status=exc.status
        )
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(
            {"error": {"code": "invalid", "message": "Some fields need attention.", "fields": fields}},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away mid-request: nothing was half-written (writes are atomic); try again shortly.
        response = Response(
            {
                "error": {
                    "code": "unavailable",
                    "message": "The service is briefly unavailable; please retry.",
                    "fields": {},
                }
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = "5"
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": "invalid", "message": "Some fields need attention.", "fields": _flatten(exc.detail)}
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(exc, "default_code", "error")
        body = {"code": code, "message": str(detail), "fields": {}}
    response.data = {"error": body}
    return response


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=` with bounds: a page holds at most 1000 rows, and an offset past a 64-bit integer is the end."""

    max_limit = 1000

    def get_offset(self, request) -> int:
        # SQLite and PostgreSQL refuse an OFFSET beyond a signed 64-bit integer (a 500 instead of an empty page).
        return min(super().get_offset(request), 2**63 - 1)


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
            "required": ["code", "message", "fields"],
        }
    },
    "required": ["error"],
}
ERRORS = {
    "400": "Invalid input: `fields` names each field with its messages.",
    "403": "Not allowed for this caller (or no credentials).",
    "404": "No such round or object (or not visible to this caller).",
}
WRITE_ERRORS = {"409": "The round's stage (or the object's state) refuses this now."}
TOO_MANY = "Rate-limited: wait `Retry-After` seconds."
VIEW_ERRORS = {
    "api:articulation-start": {"503": "No model is available for this round: write the card instead."}
}
# Views that count requests themselves (core.ratelimit.ratelimit_request), besides the middleware's routes.
VIEW_LIMITED = {"api:auth-token", "api:round-guidance", "api:articulation-turn", "api:articulation-draft"}


def _view_name(path: str) -> str | None:
    from django.urls import Resolver404, resolve

    try:
        return resolve(re.sub(r"\{(\w*id)\}", "1", path).replace("{", "").replace("}", "")).view_name
    except Resolver404:
        return None


def _rate_limited(view_name: str | None, method: str) -> bool:
    from core.ratelimit_middleware import routes

    rule = routes().get(view_name or "")
    return view_name in VIEW_LIMITED or (rule is not None and method.upper() in rule[1])


def _constrain_path_parameters(operation: dict) -> None:
    # The URL converters: <int:> matches digits only and <slug:> letters, digits, "-" and "_"; anything else
    # never reaches the API (it is the site's 404 page).
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "path":
            continue
        schema = parameter.setdefault("schema", {})
        if schema.get("type") == "integer":
            schema["minimum"] = 0
        elif parameter["name"] == "slug":
            schema["pattern"] = "^[-a-zA-Z0-9_]+$"


def error_responses_hook(result, generator, request, public):
    """drf-spectacular postprocessing: document the one error body on the statuses every operation can answer."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in result.get("paths", {}).items():
        view_name = _view_name(path)
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            _constrain_path_parameters(operation)
            errors = {**ERRORS, **(WRITE_ERRORS if method != "get" else {}), **VIEW_ERRORS.get(view_name, {})}
            responses = operation.setdefault("responses", {})
            for code, description in errors.items():
                responses.setdefault(code, {"description": description, "content": reference})
            if _rate_limited(view_name, method):
                responses.setdefault(
                    "429",
                    {
                        "description": TOO_MANY,
                        "headers": {"Retry-After": {"schema": {"type": "integer"}, "required": True}},
                        "content": reference,
                    },
                )
    return result
