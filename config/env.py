"""Settings from the environment: django-environ's `Env`, kept strict where a typo must not pass silently.

`env.bool/int/float/str/list(NAME, default)` read like environ.Env's, with three guarantees its defaults do not
give (docs/decisions.md):
- a boolean is one of 1/0, true/false, yes/no, on/off: "perhaps" is an error, not False, and "2" is not True;
- a value that is not a number names its variable ("DB_CONN_MAX_AGE must be an integer, got 'x'"), and an
  empty number means the default;
- a value is itself: one beginning with "$" is not read as the name of another variable (secret keys may
  begin with "$"), and list items are trimmed.
"""

import environ
from django.core.exceptions import ImproperlyConfigured

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}
KINDS = {bool: "a boolean (1/0, true/false)", int: "an integer", float: "a number"}


class Env(environ.Env):
    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        """The variable cast by environ's `parse_value`, after the strict checks above."""
        raw = self.ENVIRON.get(var)
        if raw is None or (cast in (int, float) and raw.strip() == ""):
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable.")
            return default
        if cast is bool:
            value = raw.strip().lower()
            if value not in TRUE | FALSE:
                raise ValueError(f"{var} must be {KINDS[bool]}, got {raw!r}")
            return value in TRUE
        if cast is list:
            return [item.strip() for item in raw.split(",") if item.strip()]
        try:
            return self.parse_value(raw, cast)
        except ValueError as exc:
            raise ValueError(f"{var} must be {KINDS.get(cast, 'valid')}, got {raw!r}") from exc


env = Env()
