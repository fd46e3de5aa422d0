"""Settings of the worker processes the reliability tests start: the test settings, with a model when asked."""

import os

from config.settings.test import *  # noqa: F403

OPENAI_API_KEY = os.environ.get("WISER_TEST_OPENAI_API_KEY", "")
OPENAI_BASE_URL = os.environ.get("WISER_TEST_OPENAI_BASE_URL", "")
WISER_CHAT_MODEL = "fake-chat"
WISER_EMBEDDING_MODEL = "fake-embedding"
WISER_LLM_TIMEOUT = float(os.environ.get("WISER_TEST_LLM_TIMEOUT", "30"))
WISER_LLM_MAX_RETRIES = 1
WISER_LLM_BACKOFF_BASE = 0.01
WISER_LLM_BACKOFF_MAX = 0.05
CELERY_TASK_ALWAYS_EAGER = False
