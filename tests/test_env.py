"""config.env: django-environ, strict about values (a typo is an error naming its variable, never a guess)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import Env


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setattr(Env, "ENVIRON", {})
    return Env()


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("Yes", True), ("on", True), ("0", False), ("off", False), ("", False)])
def test_booleans(env, raw, value):
    env.ENVIRON["FLAG"] = raw
    assert env.bool("FLAG", default=not value) is value


@pytest.mark.parametrize("raw", ["perhaps", "2", "tru"])
def test_a_bad_boolean_names_its_variable(env, raw):
    env.ENVIRON["FLAG"] = raw
    with pytest.raises(ValueError, match=f"FLAG must be a boolean .*{raw!r}"):
        env.bool("FLAG", default=False)


def test_numbers(env):
    env.ENVIRON.update({"N": "12", "X": "0.5", "EMPTY": " "})
    assert env.int("N", default=1) == 12
    assert env.float("X", default=1.0) == 0.5
    assert env.int("EMPTY", default=7) == 7
    assert env.int("MISSING", default=3) == 3
    env.ENVIRON["N"] = "twelve"
    with pytest.raises(ValueError, match="N must be an integer, got 'twelve'"):
        env.int("N", default=1)
    env.ENVIRON["X"] = "half"
    with pytest.raises(ValueError, match="X must be a number, got 'half'"):
        env.float("X", default=1.0)


def test_strings_and_lists_are_taken_as_they_are(env):
    env.ENVIRON.update({"SECRET": "$not-a-reference", "HOSTS": " a.example, b.example ,,"})
    assert env.str("SECRET", default="") == "$not-a-reference"
    assert env.list("HOSTS", default=[]) == ["a.example", "b.example"]
    assert env.list("NONE", default=["x"]) == ["x"]


def test_a_required_variable_is_named(env):
    with pytest.raises(ImproperlyConfigured, match="Set the SECRET_KEY environment variable"):
        env.str("SECRET_KEY")
