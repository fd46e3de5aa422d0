"""The one error body of the API, and its description in the OpenAPI schema."""

import re

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import DomainError, ServiceUnavailable, TooLarge, service_unavailable_error

UNAVAILABLE = {
    "code": ServiceUnavailable.code,
    "message": ServiceUnavailable.default_message,
    "fields": {},
}


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {str(k): [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {"non_field_errors": [str(detail)]}


def exception_handler(exc, context):
    """One error body everywhere: {"error": {"code", "message", "fields"}}."""
    if isinstance(exc, RequestDataTooBig):
        exc = TooLarge("The request body is too large.")
    elif service_unavailable_error(exc):
        # Redis (the cache, the rate limiter, the broker) is unreachable: nothing was half-done; retry soon.
        exc = ServiceUnavailable(ServiceUnavailable.default_message)
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
        response = Response({"error": dict(UNAVAILABLE)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
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


_WHOLE = re.compile(r"[0-9]+")


def _whole_param(request, name: str, *, minimum: int) -> int | None:
    """A query parameter that must be a whole number from `minimum` (ASCII digits); None when absent."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not _WHOLE.fullmatch(raw) or int(raw) < minimum:
        raise exceptions.ValidationError({name: [f"A whole number from {minimum}."]})
    return int(raw)


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=` with bounds: a page holds 1 to 1000 rows, and an offset past a 64-bit integer is the end.

    A limit or offset that is not a whole number in range is refused (400), like every other bad filter."""

    max_limit = 1000

    def get_limit(self, request) -> int:
        limit = _whole_param(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        # SQLite and PostgreSQL refuse an OFFSET beyond a signed 64-bit integer (a 500 instead of an empty page).
        return min(_whole_param(request, self.offset_query_param, minimum=0) or 0, 2**63 - 1)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            bounds = {"minimum": 1, "maximum": self.max_limit} if parameter["name"] == self.limit_query_param else {}
            parameter["schema"] = {**parameter["schema"], **({"minimum": 0} | bounds)}
        return parameters


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
    "503": "A service the API depends on (the database, Redis) is briefly unavailable: retry after `Retry-After` "
    "seconds.",
}
WRITE_ERRORS = {
    "409": "The round's stage (or the object's state) refuses this now.",
    "413": "The request body is larger than the server accepts.",
}
# Answered by the HTTP server (gunicorn) before the application, as plain text.
URI_TOO_LONG = {"description": "The request line (path and query) is longer than the server accepts."}
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
            responses.setdefault("414", dict(URI_TOO_LONG))
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
