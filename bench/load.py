"""Load test: 200 simulated participants join, submit a card and cast 10 votes against gunicorn + PostgreSQL + Redis.

Usage: .venv/bin/python bench/load.py [--participants 200] [--votes 10] [--workers cores+1] [--threads 4]
       [--worker-class gthread|sync] [--vote-rate 500] [--rate-limits on|off]

It creates the PostgreSQL database `wiser_load` (dropped again at the end unless --keep-database), migrates it, seeds a voting round with enough
values and stories directly in the database, starts a private redis-server and gunicorn on free ports of
127.0.0.1 (production settings with their rate limits, deploy/gunicorn.conf.py, plus a trivial /bench/ping/
JSON route), waits until every worker answers, then runs an asyncio HTTP/1.1 client (one connection per
participant at a time, standard library only; it reconnects when gunicorn closes a connection, which it
does after every response unless GUNICORN_KEEPALIVE is set) in phases: join + card + assigned stories, votes,
and the trivial route at the same concurrency. Each participant sends its own X-Forwarded-For address, as
the reverse proxy would, so the per-IP limits count per participant. It prints throughput and p50/p95/p99
latency per endpoint and the vote endpoint's throughput as a ratio to the trivial route. By default the votes
run in a closed loop (each participant sends its next vote when the last is answered), which measures the
ceiling: with N connections the mean latency is then N / throughput (Little's law), 400 ms for 200 at 500/s,
so latency goals need --vote-rate: votes offered at that steady rate (open loop), each vote's latency counted
from when it was due. Bounded in requests (participants x (votes + 3) + the ping phase) and in time
(--time-limit, default 300 s). Nothing is asserted.
"""

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

SETTINGS_MODULE = """
from config.settings.production import *  # noqa: F403

import importlib.util

# Apps of the working tree whose package is not installed here are left out of the bench.
INSTALLED_APPS = [a for a in INSTALLED_APPS if importlib.util.find_spec(a.split(".")[0])]  # noqa: F405
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
import os
if os.environ.get("WISER_LOAD_RATE_LIMITS") == "off":
    WISER_RATE_LIMITS = {scope: None for scope in (
        "join:ip", "join:participant", "card:ip", "card:participant", "chat:ip", "chat:participant",
        "vote:ip", "vote:participant", "api_auth", "guidance", "articulation")}
ROOT_URLCONF = "wiser_load_urls"
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
"""
URLS_MODULE = """
from django.http import JsonResponse
from django.urls import include, path


def ping(request):
    return JsonResponse({"ok": True})


urlpatterns = [path("bench/ping/", ping), path("", include("config.urls"))]
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Http:
    """A minimal HTTP/1.1 keep-alive client on one connection (JSON in, JSON out)."""

    def __init__(self, host: str, port: int, forwarded_for: str = ""):
        self.host, self.port, self.forwarded_for = host, port, forwarded_for
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body=None, token: str = "") -> tuple[int, object]:
        reused = self.writer is not None
        try:
            return await self._request(method, path, body, token)
        except (ConnectionError, asyncio.IncompleteReadError):
            if not reused:
                raise
        # The server closed an idle keep-alive connection (as browsers see it too): reconnect once.
        self.close()
        return await self._request(method, path, body, token)

    async def _request(self, method: str, path: str, body, token: str) -> tuple[int, object]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(data)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if token:
            head.append(f"Authorization: Participant {token}")
        if self.forwarded_for:
            # As the reverse proxy in front of gunicorn sets it: each participant has an address of their own.
            head.append(f"X-Forwarded-For: {self.forwarded_for}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and value.strip().lower() == "close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, payload[:200]

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Recorder:
    """Latencies and statuses per endpoint and per phase."""

    def __init__(self):
        self.latency: dict[str, list[float]] = {}
        self.statuses: dict[str, dict[int, int]] = {}

    async def call(
        self, name: str, http: Http, method: str, path: str, body=None, token: str = "", since=None
    ):
        started = time.perf_counter() if since is None else since
        status, payload = await http.request(method, path, body, token)
        self.latency.setdefault(name, []).append(time.perf_counter() - started)
        counts = self.statuses.setdefault(name, {})
        counts[status] = counts.get(status, 0) + 1
        return status, payload


def seed(args, env: dict[str, str]) -> dict:
    """Create the round, its values and stories in the load database; returns what the client needs."""
    code = f"""
import json, django
django.setup()
from django.contrib.auth import get_user_model
from cards.models import CanonicalValue
from deliberation.models import Round, Stage
from deliberation.services import round_create
from moral_graph.models import TransitionStory
owner = get_user_model().objects.create_user("load-owner", password="{secrets.token_hex(8)}")
round_ = round_create(owner=owner, slug="load", title="Load test", question="How should an assistant answer?",
    contexts=["When the user is in distress", "When the user is making a big decision"],
    stories_per_participant={args.votes}, min_votes_per_story=3)
question = round_.questions.get()
values = []
for context in question.contexts.all():
    for i in range({args.values}):
        value = CanonicalValue.objects.create(round=round_, question=question, title=f"Load value {{context.pk}} {{i}}",
            description="A value created for the load test.", policies=["MOMENTS a", "CHOICES b", "QUESTIONS c"])
        value.contexts.add(context)
        values.append((context, value))
stories = []
for context in question.contexts.all():
    mine = [v for c, v in values if c == context]
    for a in mine:
        for b in mine:
            if a.pk != b.pk:
                stories.append(TransitionStory(round=round_, context=context, from_value=a, to_value=b,
                    origin="template", text=f"Someone moved from {{a.title}} to {{b.title}}."))
TransitionStory.objects.bulk_create(stories)
Round.objects.filter(pk=round_.pk).update(stage=Stage.VOTING)
print(json.dumps({{"slug": round_.slug, "token": round_.join_token, "context": question.contexts.first().pk,
                  "stories": len(stories)}}))
"""
    out = subprocess.run([PYTHON, "-c", code], env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


async def participant(index: int, host: str, port: int, info: dict, rec: Recorder, phase: dict) -> None:
    http = Http(host, port, forwarded_for=f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}")
    try:
        await phase["start"].wait()
        status, body = await rec.call(
            "POST join",
            http,
            "POST",
            f"/api/v1/rounds/{info['slug']}/join/",
            {"token": info["token"], "consent": True},
        )
        if status != 201:
            raise RuntimeError(f"join: {status} {body}")
        token = body["token"]
        card = {
            "context": info["context"],
            "title": f"Caring answer {index % 50}",
            "description": "Answering a person with care and honesty about their situation.",
            "policies": [
                "MOMENTS when she feels heard",
                "FACTS she needs to decide",
                "PEOPLE who support her",
            ],
        }
        await rec.call("POST card", http, "POST", f"/api/v1/rounds/{info['slug']}/cards/", card, token)
        status, stories = await rec.call(
            "POST assigned", http, "POST", f"/api/v1/rounds/{info['slug']}/stories/assigned/", token=token
        )
        phase["ready"] += 1
        if phase["ready"] == phase["total"]:
            phase["votes_at"] = time.perf_counter()
            phase["votes"].set()
        await phase["votes"].wait()
        for i, story in enumerate(stories):
            answer = ("wiser", "not_wiser", "not_sure")[(index + i) % 3]
            scheduled = None
            if phase["rate"]:
                # Open loop: vote i of participant `index` is due at a fixed offset from the start of the phase;
                # its latency counts from then, so a late start (the server falling behind) is not hidden.
                scheduled = phase["votes_at"] + (i * phase["total"] + index) / phase["rate"]
                await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            status, _ = await rec.call(
                "POST vote",
                http,
                "POST",
                f"/api/v1/stories/{story['id']}/vote/",
                {"answer": answer},
                token,
                since=scheduled,
            )
            if status not in (200, 201):
                phase["errors"] += 1
    finally:
        http.close()


async def pinger(count: int, host: str, port: int, rec: Recorder) -> None:
    http = Http(host, port)
    try:
        for _ in range(count):
            await rec.call("GET ping", http, "GET", "/bench/ping/")
    finally:
        http.close()


async def wait_until_ready(host: str, port: int, workers: int, server: subprocess.Popen) -> bool:
    """True once every worker process answers: the port accepts connections while workers still boot."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            started = time.perf_counter()
            # More requests at once than there are workers: answered quickly only when all of them serve.
            https = [Http(host, port) for _ in range(workers * 4)]
            try:
                statuses = await asyncio.gather(*[http.request("GET", "/bench/ping/") for http in https])
            finally:
                for http in https:
                    http.close()
            if all(status == 200 for status, _ in statuses) and time.perf_counter() - started < 0.5:
                return True
        except OSError:
            pass
        await asyncio.sleep(0.2)
    return False


async def run_load(args, host: str, port: int, info: dict) -> dict:
    rec = Recorder()
    phase = {
        "start": asyncio.Event(),
        "votes": asyncio.Event(),
        "ready": 0,
        "total": args.participants,
        "errors": 0,
        "rate": args.vote_rate,
        "votes_at": 0.0,
    }
    tasks = [
        asyncio.create_task(participant(i, host, port, info, rec, phase)) for i in range(args.participants)
    ]
    started = time.perf_counter()
    phase["start"].set()
    await phase["votes"].wait()
    votes_started = phase["votes_at"]
    await asyncio.gather(*tasks)
    votes_elapsed = time.perf_counter() - votes_started
    setup_elapsed = votes_started - started
    ping_started = time.perf_counter()
    await asyncio.gather(*[pinger(args.votes, host, port, rec) for _ in range(args.participants)])
    ping_elapsed = time.perf_counter() - ping_started
    return {
        "rec": rec,
        "votes_elapsed": votes_elapsed,
        "setup_elapsed": setup_elapsed,
        "ping_elapsed": ping_elapsed,
        "errors": phase["errors"],
    }


def report(args, result: dict) -> None:
    rec: Recorder = result["rec"]
    loop = f"open loop at {args.vote_rate:g} votes/s offered" if args.vote_rate else "closed loop"
    print(
        f"\n{args.participants} participants, {args.votes} votes each ({loop}); gunicorn {args.worker_class} "
        f"{args.workers} workers x {args.threads} threads; PostgreSQL + Redis on this machine ({os.cpu_count()} cores)"
    )
    print(f"{'endpoint':<14}{'requests':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}  statuses")
    for name, values in rec.latency.items():
        ms = [v * 1000 for v in values]
        print(
            f"{name:<14}{len(ms):>9}{percentile(ms, 50):>9.1f}{percentile(ms, 95):>9.1f}"
            f"{percentile(ms, 99):>9.1f}  {dict(sorted(rec.statuses[name].items()))}"
        )
    votes = len(rec.latency.get("POST vote", []))
    pings = len(rec.latency.get("GET ping", []))
    vote_rate = votes / result["votes_elapsed"]
    ping_rate = pings / result["ping_elapsed"]
    print(
        f"join+card+assigned phase: {result['setup_elapsed']:.1f} s "
        f"({3 * args.participants / result['setup_elapsed']:.0f} requests/s)"
    )
    print(
        f"votes: {votes} in {result['votes_elapsed']:.2f} s = {vote_rate:.0f} votes/s "
        f"(mean {statistics.mean(rec.latency['POST vote']) * 1000:.1f} ms), non-2xx: {result['errors']}"
    )
    print(f"trivial JSON route: {pings} in {result['ping_elapsed']:.2f} s = {ping_rate:.0f} requests/s")
    if args.vote_rate:
        p99 = percentile([v * 1000 for v in rec.latency["POST vote"]], 99)
        print(
            f"goal >= 500 votes/s with p99 < 150 ms: {vote_rate:.0f} votes/s served of {args.vote_rate:g} offered, "
            f"p99 {p99:.1f} ms (the ratio to the trivial route needs the closed loop: no --vote-rate)"
        )
    else:
        print(f"vote throughput / trivial route throughput = {vote_rate / ping_rate:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--votes", type=int, default=10)
    parser.add_argument(
        "--values", type=int, default=12, help="values per context (stories = n(n-1) per context)"
    )
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--worker-class", default="gthread", choices=("gthread", "sync"))
    parser.add_argument(
        "--vote-rate",
        type=float,
        default=0.0,
        help="votes/s offered in an open loop (0: closed loop, every participant votes as fast as answered)",
    )
    parser.add_argument(
        "--postgres", default=os.environ.get("WISER_LOAD_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    )
    parser.add_argument(
        "--rate-limits",
        default="on",
        choices=("on", "off"),
        help="on: the production limits, each participant behind its own X-Forwarded-For address",
    )
    parser.add_argument("--database", default="wiser_load")
    parser.add_argument("--keep-database", action="store_true", help="leave the load database for inspection")
    parser.add_argument("--time-limit", type=float, default=300.0)
    args = parser.parse_args()
    if urlparse(args.postgres).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("bench/load.py runs against 127.0.0.1 only")

    admin_url = f"{args.postgres}/postgres"
    subprocess.run(
        ["psql", admin_url, "-qc", f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'], check=True
    )
    subprocess.run(["psql", admin_url, "-qc", f'CREATE DATABASE "{args.database}"'], check=True)
    workdir = Path(tempfile.mkdtemp(prefix="wiser-load-"))
    (workdir / "wiser_load_settings.py").write_text(SETTINGS_MODULE)
    (workdir / "wiser_load_urls.py").write_text(URLS_MODULE)
    redis_port, web_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.postgres}/{args.database}",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SETTINGS_MODULE": "wiser_load_settings",
        "PYTHONPATH": f"{workdir}{os.pathsep}{ROOT}",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_CONN_MAX_AGE": "600",
        "WISER_LOAD_RATE_LIMITS": args.rate_limits,
    }
    processes: list[subprocess.Popen] = []
    try:
        processes.append(
            subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(redis_port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                stdout=subprocess.DEVNULL,
            )
        )
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, cwd=ROOT, check=True
        )
        info = seed(args, env)
        print(f"seeded round {info['slug']!r} with {info['stories']} stories")
        processes.append(
            subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "gunicorn",
                    "config.wsgi:application",
                    "-c",
                    str(ROOT / "deploy" / "gunicorn.conf.py"),
                    "--bind",
                    f"127.0.0.1:{web_port}",
                    "--workers",
                    str(args.workers),
                    "--threads",
                    str(args.threads),
                    "--worker-class",
                    args.worker_class,
                    "--error-logfile",
                    "-",
                ],
                env={**env, "GUNICORN_ACCESS_LOG": ""},
                cwd=ROOT,
            )
        )
        if not asyncio.run(wait_until_ready("127.0.0.1", web_port, args.workers, processes[-1])):
            sys.exit("gunicorn did not start")
        result = asyncio.run(asyncio.wait_for(run_load(args, "127.0.0.1", web_port, info), args.time_limit))
        report(args, result)
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
        if not args.keep_database:
            subprocess.run(
                ["psql", admin_url, "-qc", f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)'],
                check=False,
            )


if __name__ == "__main__":
    main()
