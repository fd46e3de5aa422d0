"""Deployment settings pass `check --deploy` with no warning; every response carries a strict CSP."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from config.security import DEFAULT_CSP, csp_header, csp_policy

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "frontend" / "templates"
GOOD_SECRET = "k3J9x!vQ2#pL8@wZ5^mN1&rT7*yB4(cF6)hD0-sG9_aE2+uI3=oP5"


def _deploy_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser tests' conftest for the live server, never in deployment.
        if k not in {"DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=GOOD_SECRET,
        DATABASE_URL="postgres://wiser@127.0.0.1:5432/wiser",
        REDIS_URL="redis://127.0.0.1:6379/0",
        ALLOWED_HOSTS="wiser.example.org",
        WISER_VAR_DIR=str(ROOT / "var"),
    )
    return env


def test_check_deploy_reports_nothing_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_deploy_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output


def test_production_settings_are_the_hardened_ones():
    code = (
        "import json, django; from django.conf import settings as s; django.setup(); print(json.dumps({"
        "'ssl': s.SECURE_SSL_REDIRECT, 'proxy': list(s.SECURE_PROXY_SSL_HEADER), 'hsts': s.SECURE_HSTS_SECONDS,"
        "'sub': s.SECURE_HSTS_INCLUDE_SUBDOMAINS, 'session': s.SESSION_COOKIE_SECURE, 'csrf': s.CSRF_COOKIE_SECURE,"
        "'httponly': s.SESSION_COOKIE_HTTPONLY, 'csrf_httponly': s.CSRF_COOKIE_HTTPONLY, 'frame': s.X_FRAME_OPTIONS,"
        "'nosniff': s.SECURE_CONTENT_TYPE_NOSNIFF, 'debug': s.DEBUG}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_deploy_env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        '{"ssl": true, "proxy": ["HTTP_X_FORWARDED_PROTO", "https"], "hsts": 31536000, "sub": true, '
        '"session": true, "csrf": true, "httponly": true, "csrf_httponly": true, "frame": "DENY", '
        '"nosniff": true, "debug": false}'
    )


def test_the_security_middlewares_are_installed_in_order():
    stack = list(settings.MIDDLEWARE)
    csp = stack.index("config.security.ContentSecurityPolicyMiddleware")
    limiter = stack.index("core.ratelimit_middleware.RateLimitMiddleware")
    assert csp > stack.index("django.middleware.security.SecurityMiddleware")
    assert limiter > stack.index("django.contrib.sessions.middleware.SessionMiddleware")
    assert limiter > stack.index("django.contrib.auth.middleware.AuthenticationMiddleware")


def test_the_default_policy_forbids_inline_script_and_eval():
    policy = csp_policy("/r/any/vote/")
    assert policy == DEFAULT_CSP
    assert policy["script-src"] == ["'self'"]
    assert all("unsafe" not in source for sources in policy.values() for source in sources)
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_the_swagger_page_loads_only_our_own_scripts_and_never_inline_script():
    docs = csp_policy("/api/v1/docs/")
    assert docs["script-src"] == ["'self'"]
    assert "'unsafe-inline'" not in docs["script-src"]
    page = Client().get("/api/v1/docs/")
    assert page.status_code == 200
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", page.content), "no inline script on the docs page"
    assert "script-src 'self';" in page["Content-Security-Policy"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/", "/login/", "/api/v1/schema/", "/r/no-such-round/", "/static/missing.js"]
)
def test_every_response_carries_the_policy(path):
    response = Client().get(path)
    assert response["Content-Security-Policy"] == csp_header(DEFAULT_CSP)
    assert "script-src 'self';" in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_report_only_mode_sends_the_other_header(settings):
    settings.WISER_CSP_REPORT_ONLY = True
    response = Client().get("/")
    assert "Content-Security-Policy" not in response
    assert response["Content-Security-Policy-Report-Only"] == csp_header(DEFAULT_CSP)


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)


def test_no_template_has_inline_script_event_handlers_or_script_links():
    found = []
    for path in sorted(TEMPLATES.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        for pattern in (INLINE_SCRIPT, EVENT_HANDLER, re.compile(r"javascript:", re.IGNORECASE)):
            found += [f"{path.name}: {m.group(0)[:60]}" for m in pattern.finditer(text)]
    assert found == []


def test_the_pattern_would_catch_an_inline_script():
    assert INLINE_SCRIPT.search("<script>alert(1)</script>") and not INLINE_SCRIPT.search(
        '<script src="a.js">'
    )
    assert EVENT_HANDLER.search('<img src=x onerror="alert(1)">')
