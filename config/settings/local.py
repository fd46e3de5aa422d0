"""The embedded default for one machine: DEBUG on, SQLite under var/, tasks in-process unless REDIS_URL is set."""
from config.env import env

from .base import *  # noqa: F403
from .base import VAR_DIR

DEBUG = True
(VAR_DIR / "staticfiles").mkdir(parents=True, exist_ok=True)
WISER_ALLOW_SIGNUP = env.bool("WISER_ALLOW_SIGNUP", default=True)
