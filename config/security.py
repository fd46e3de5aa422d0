"""The Content-Security-Policy header on every response.

The policy allows scripts and styles from our own origin only: no inline script, no inline event handler,
no eval. Pages load their behaviour from files under static/ and pass data with `json_script`, which the
browser does not execute. Settings: WISER_CSP (directive -> sources) replaces the default policy;
WISER_CSP_PATH_OVERRIDES ({path prefix: {directive: sources}}) widens single directives under a path, for
third-party pages such as the API's Swagger UI; WISER_CSP_REPORT_ONLY sends the policy as report-only.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

DEFAULT_CSP: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Swagger UI is served from our own static files (drf-spectacular-sidecar) with its script in a separate file
# (SpectacularSwaggerSplitView); its page carries a small <style> block, and styles cannot run code.
DEFAULT_PATH_OVERRIDES: dict[str, dict[str, list[str]]] = {
    "/api/v1/docs/": {
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
    },
}
HEADER = "Content-Security-Policy"
REPORT_ONLY_HEADER = "Content-Security-Policy-Report-Only"


def csp_policy(path: str = "/") -> dict[str, list[str]]:
    """The policy for a request path: WISER_CSP (or the default) with any override of the path's prefix."""
    policy = {k: list(v) for k, v in getattr(settings, "WISER_CSP", DEFAULT_CSP).items()}
    overrides = getattr(settings, "WISER_CSP_PATH_OVERRIDES", DEFAULT_PATH_OVERRIDES)
    for prefix, directives in overrides.items():
        if path.startswith(prefix):
            policy.update({k: list(v) for k, v in directives.items()})
    return policy


def csp_header(policy: dict[str, list[str]]) -> str:
    """The header value of a policy: directives in order, separated by semicolons."""
    return "; ".join(f"{name} {' '.join(sources)}".strip() for name, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    """Adds the Content-Security-Policy header to every response that does not already carry one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        header = REPORT_ONLY_HEADER if getattr(settings, "WISER_CSP_REPORT_ONLY", False) else HEADER
        if HEADER not in response and REPORT_ONLY_HEADER not in response:
            response[header] = csp_header(csp_policy(request.path))
        return response


AXES_USERNAME_MAX = 255  # axes' AccessAttempt / AccessFailureLog username columns


def axes_username(request: HttpRequest, credentials: dict | None = None) -> str | None:
    """django-axes' AXES_USERNAME_CALLABLE: the username tried, without NUL and cut to axes' column width.

    axes writes the username of every failed attempt to a varchar(255); PostgreSQL refuses a longer value or a
    NUL character (a 500 on a login form). No real account is affected: usernames are at most 150 characters.
    """
    if credentials:
        username = credentials.get("username")
    else:
        data = getattr(request, "data", None) or request.POST
        username = data.get("username") if hasattr(data, "get") else None
    if not isinstance(username, str):
        return username
    return username.replace("\x00", "")[:AXES_USERNAME_MAX]
