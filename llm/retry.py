"""The retry policy: which failures are transient, and how long to wait before the next attempt."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import openai

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """At most `max_retries` retries after the first attempt, waiting base·2^n (capped) with jitter."""

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0


class RetriesExhausted(Exception):
    """The last error of a call that failed, with the number of requests made."""

    def __init__(self, error: BaseException, attempts: int):
        super().__init__(f"{describe(error)} (after {attempts} request{'s' if attempts != 1 else ''})")
        self.error = error
        self.attempts = attempts


# Words of a server that does not support what was asked (a response_format, a parameter). Some servers
# (llama-cpp-python's) answer such requests with HTTP 500, which must not be mistaken for a passing fault.
_UNSUPPORTED = re.compile(
    r"not supported|unsupported|not implemented|response_format|json_schema|literal_error|"
    r"validation error|extra inputs are not permitted|unknown (parameter|field)",
    re.IGNORECASE,
)
_UNSUPPORTED_STATUSES = {400, 404, 405, 415, 422, 500, 501}


def is_unsupported(error: BaseException) -> bool:
    """True when the server says it cannot do what the request asks (a 4xx or a "not supported" 500)."""
    if not isinstance(error, openai.APIStatusError) or error.status_code not in _UNSUPPORTED_STATUSES:
        return False
    return bool(_UNSUPPORTED.search(f"{error.message} {error.body}"))


def is_retryable(error: BaseException) -> bool:
    """429, 5xx, timeouts and connection errors are transient; other 4xx, "not supported" 500s and bad
    bodies are not."""
    if isinstance(error, openai.APIConnectionError):
        return True
    if isinstance(error, openai.APIStatusError):
        if error.status_code == 429:
            return True
        return error.status_code >= 500 and not is_unsupported(error)
    return False


def describe(error: BaseException) -> str:
    """A short, single-line description of a failure for the call record."""
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}: {error.message}"[:500]
    if isinstance(error, openai.APITimeoutError):
        return "timeout"
    return f"{type(error).__name__}: {error}"[:500]


def retry_after_seconds(error: BaseException) -> float | None:
    """The server's Retry-After hint (seconds), when it sent one."""
    if not isinstance(error, openai.APIStatusError):
        return None
    value = error.response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def backoff_delay(attempt: int, policy: RetryPolicy, error: BaseException | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (0-based): equal jitter, capped, Retry-After honoured."""
    ceiling = min(policy.backoff_max, policy.backoff_base * (2**attempt))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    hint = retry_after_seconds(error) if error is not None else None
    if hint is not None:
        delay = max(delay, min(hint, policy.backoff_max))
    return delay


# A retry is not started with less time than this left before the call's deadline.
MIN_ATTEMPT_SECONDS = 0.5


def call_with_retries(
    request: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    *,
    deadline: float | None = None,
) -> tuple[T, int]:
    """Run `request` until it succeeds or fails for good; returns its result and the number of requests made.

    `deadline` (time.monotonic() value) ends the retries: no retry starts when its backoff would leave less
    than MIN_ATTEMPT_SECONDS before it.
    """
    attempt = 0
    while True:
        try:
            return request(), attempt + 1
        except Exception as error:
            if not is_retryable(error) or attempt >= policy.max_retries:
                raise RetriesExhausted(error, attempt + 1) from error
            delay = backoff_delay(attempt, policy, error)
            if deadline is not None and time.monotonic() + delay + MIN_ATTEMPT_SECONDS > deadline:
                raise RetriesExhausted(error, attempt + 1) from error
            sleep(delay)
            attempt += 1
