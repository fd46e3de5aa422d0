"""Domain errors raised by services; the API and pages map them to HTTP statuses."""


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class WrongStage(Conflict):
    code = "wrong_stage"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class ServiceUnavailable(DomainError):
    """A service the request needs (the database, Redis as cache, rate limiter or broker) cannot be reached."""

    status = 503
    code = "unavailable"
    default_message = "The service is briefly unavailable; please retry."
    retry_after = 5


def service_unavailable_error(exc: BaseException) -> bool:
    """Whether `exc` says Redis (cache, rate-limit counters, Celery's broker) could not be reached."""
    try:
        from kombu.exceptions import OperationalError as BrokerError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - both are dependencies
        return False
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, BrokerError))
