"""Makes the fake OpenAI server fixture available here until tests/conftest.py registers the plugin."""

from tests.fake_openai import fake_openai  # noqa: F401
