"""Fixtures of the reliability tests: a private Redis per test, real worker processes, and the broker switch.

Each test gets its own redis-server on a free port, so it can kill and restart Redis and hold messages without
touching the machine's shared Redis or another test's queue. Workers run `tests.reliability.worker_main` in
their own process group, so a test can kill -9 the whole worker (main process and pool) at once.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """The URL of the database this test runs against (pytest-django's test database)."""
    conf = connection.settings_dict
    password = f":{conf['PASSWORD']}" if conf.get("PASSWORD") else ""
    return f"postgres://{conf['USER']}{password}@{conf['HOST'] or '127.0.0.1'}:{conf['PORT'] or 5432}/{conf['NAME']}"


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str, workers=()) -> object:
    """Poll until predicate() is truthy; fail with the workers' logs when it never becomes so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    logs = "\n".join(f"--- {w.name} ---\n{w.log()[-4000:]}" for w in workers)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")


class PrivateRedis:
    """A redis-server on its own port, without persistence; stop() and start() simulate an outage."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what=f"redis-server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


class Worker:
    """One `celery worker` process group on the private Redis and the test database."""

    def __init__(self, name: str, redis_url: str, log_dir: Path, concurrency: int, env: dict[str, str]):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.concurrency = concurrency
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "PYTHONPATH": str(ROOT),
            "WISER_TEST_RANK_DELAY_FLAG": str(log_dir / f"{name}.slowed"),
            **env,
        }
        self.process: subprocess.Popen | None = None

    ready_marker = "ready."

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "tests.reliability.worker_main",
            "-Q",
            "wiser",
            "-n",
            f"{self.name}@%h",
            f"--concurrency={self.concurrency}",
            "--pool=prefork",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]

    def start(self) -> "Worker":
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(
            lambda: self.ready_marker in self.log() or self.process.poll() is not None,
            timeout=60,
            what=f"worker {self.name} to be ready",
            workers=[self],
        )
        if self.process.poll() is not None:
            pytest.fail(f"worker {self.name} exited early:\n{self.log()}")
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def pool_pids(self) -> list[int]:
        """The pids of the pool processes (children of the worker's main process)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def kill9(self) -> None:
        """SIGKILL the main process and its pool at once: nothing is acknowledged or rejected."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def kill9_pool(self) -> None:
        """SIGKILL only the pool processes: the main process sees the worker lost and rejects the message."""
        pids = self.pool_pids()
        assert pids, "the worker has no pool process"
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """The test is over: kill the worker outright (its private Redis goes too, so nothing is left queued)."""
        if self.process is not None and self.process.poll() is None:
            self.kill9()


class Beat(Worker):
    """`celery beat` in its own process group, as deployed (deploy/Procfile): it only sends the periodic tasks."""

    ready_marker = "beat: Starting"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel=INFO",
            f"--schedule={self.log_path.with_suffix('.schedule')}",
        ]


def _reset_broker_pools() -> None:
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker(url: str) -> Iterator[None]:
    """Send this process's tasks to the broker at `url` instead of running them in-process."""
    previous = (app.conf.broker_url, app.conf.task_always_eager)
    app.conf.broker_url, app.conf.task_always_eager = url, False
    _reset_broker_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager = previous
        _reset_broker_pools()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_worker(private_redis, tmp_path) -> Iterator[Callable[..., Worker]]:
    """start_worker(name, concurrency=1, **env) starts a worker; every worker is stopped after the test."""
    started: list[Worker] = []

    def start(name: str, concurrency: int = 1, **env: str) -> Worker:
        worker = Worker(name, private_redis.url, tmp_path, concurrency, env).start()
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


@pytest.fixture
def start_beat(private_redis, tmp_path) -> Iterator[Callable[..., Beat]]:
    """start_beat(**env) starts `celery beat` on the private Redis; it is stopped after the test."""
    started: list[Beat] = []

    def start(**env: str) -> Beat:
        beat = Beat("beat", private_redis.url, tmp_path, 0, env).start()
        started.append(beat)
        return beat

    try:
        yield start
    finally:
        for beat in started:
            beat.stop()


@pytest.fixture
def sweeper_now(settings):
    """The sweeper with no grace period: whatever is pending or running without a live worker is swept."""
    settings.WISER_SWEEP_GRACE_SECONDS = 0
    settings.WISER_SWEEP_LOST_AFTER_SECONDS = 0
    settings.WISER_RANK_DEBOUNCE_SECONDS = 0
    return settings
