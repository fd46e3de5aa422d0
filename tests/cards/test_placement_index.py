"""Placement's cached index of canonical values: the same answer as scoring every value, reading only what changed."""

import re

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cards import dedup, services
from cards.models import CanonicalValue, CardMerge, ValuesCard
from cards.services import _best_candidate, _refresh_representative, vectors_from_bytes, vectors_to_bytes
from llm.offline import embed_texts
from tests.factories import FAMILIES, join, make_round

pytestmark = pytest.mark.django_db

RANDOM_VALUES = dedup.PREFILTER_POOL + 20


def _offline(title: str, description: str, policies: list[str]) -> np.ndarray:
    return embed_texts(dedup.card_texts(title, description, policies))


def _random_matrix(rng: np.random.Generator, dimensions: int = 384) -> np.ndarray:
    rows = rng.normal(size=(4, dimensions)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _value(question, matrix: np.ndarray, title: str, description: str = "A value.", policies=None):
    return CanonicalValue.objects.create(
        round_id=question.round_id,
        question=question,
        title=title,
        description=description,
        policies=policies or ["THINGS that matter"],
        embedding=vectors_to_bytes(matrix),
    )


def _full_scan(question, vectors: np.ndarray) -> tuple[int, float]:
    """The reference: every active value scored, as placement did before the index."""
    values = list(CanonicalValue.objects.filter(question=question, is_active=True).order_by("id"))
    stored = [dedup.as_card_vectors(vectors_from_bytes(v.embedding)) for v in values]
    # Centred by the population of the question's active values, as placement centres a new card.
    scores = dedup.similarity_matrix([dedup.as_card_vectors(vectors)], stored, dedup.Population.of(stored))[0]
    best = int(np.argmax(scores))
    return values[best].pk, float(scores[best])


def _placed(question, vectors: np.ndarray) -> tuple[int | None, float]:
    value, score = _best_candidate(ValuesCard(round_id=question.round_id, question_id=question.pk), vectors)
    return (value.pk if value is not None else None), score


def _assert_like_full_scan(question, vectors: np.ndarray) -> int:
    expected_pk, expected_score = _full_scan(question, vectors)
    pk, score = _placed(question, vectors)
    assert pk == expected_pk
    assert score == pytest.approx(expected_score, abs=1e-5)
    return pk


@pytest.fixture
def scene():
    """A question with one value per family (variant 0) among more random values than the prefilter keeps."""
    round_ = make_round(slug="index")
    question = round_.questions.first()
    family_values = {
        family: _value(question, _offline(*variants[0]), *variants[0])
        for family, variants in FAMILIES.items()
    }
    rng = np.random.default_rng(11)
    for i in range(RANDOM_VALUES):
        _value(question, _random_matrix(rng), f"Random value {i}")
    return round_, question, family_values


def test_an_empty_question_has_no_candidate():
    question = make_round(slug="empty").questions.first()
    assert _placed(question, _offline(*FAMILIES["safety"][1])) == (None, -1.0)


def test_placement_picks_what_scoring_every_value_picks(scene):
    _, question, family_values = scene
    queries = [_offline(*variants[v]) for variants in FAMILIES.values() for v in (1, 2)]
    queries.append(_random_matrix(np.random.default_rng(3)))
    for cold_then_warm in range(2):
        chosen = [_assert_like_full_scan(question, q) for q in queries]
        assert chosen[:8] == [family_values[f].pk for f in FAMILIES for _ in (1, 2)], cold_then_warm


def test_a_deactivated_value_is_never_chosen(scene):
    _, question, family_values = scene
    query = _offline(*FAMILIES["honesty"][1])
    assert _assert_like_full_scan(question, query) == family_values["honesty"].pk
    CanonicalValue.objects.filter(pk=family_values["honesty"].pk).update(is_active=False)
    assert _assert_like_full_scan(question, query) != family_values["honesty"].pk


def test_a_value_created_elsewhere_is_seen_on_the_next_call(scene):
    _, question, family_values = scene
    query = _offline(*FAMILIES["community"][2])
    assert _assert_like_full_scan(question, query) == family_values["community"].pk
    copy = _value(question, query, "A copy")
    pk, score = _placed(question, query)
    assert pk == copy.pk and score == pytest.approx(1.0, abs=1e-5)


def test_a_representative_change_is_rescored(scene):
    round_, question, family_values = scene
    context = question.contexts.first()

    def card(family, variant):
        title, description, policies = FAMILIES[family][variant]
        return ValuesCard.objects.create(
            round=round_,
            question=question,
            context=context,
            author=join(round_),
            title=title,
            description=description,
            policies=policies,
            embedding=vectors_to_bytes(_offline(title, description, policies)),
        )

    safety = family_values["safety"]
    first, *autonomy = [card("safety", 0), card("autonomy", 1), card("autonomy", 2)]
    CanonicalValue.objects.filter(pk=safety.pk).update(representative=first)
    probes = {c.pk: _offline(c.title, c.description, c.policies) for c in autonomy}
    for c in autonomy:
        assert _assert_like_full_scan(question, probes[c.pk]) == family_values["autonomy"].pk
    for c in [first, *autonomy]:
        CardMerge.objects.create(card=c, value=safety, origin=CardMerge.Origin.AUTO)
    _refresh_representative(safety)
    safety.refresh_from_db()
    assert safety.representative_id in probes
    # The safety value now reads as its new representative, an autonomy card: that card's copy.
    pk, score = _placed(question, probes[safety.representative_id])
    assert pk == safety.pk and score == pytest.approx(1.0, abs=1e-5)
    _assert_like_full_scan(question, probes[safety.representative_id])


def test_a_warm_index_reads_only_new_vectors(scene, monkeypatch):
    _, question, _ = scene
    query = _offline(*FAMILIES["safety"][2])
    _placed(question, query)
    new = _value(question, _offline(*FAMILIES["safety"][1]), "New")
    decoded = []
    real_decode = services.vectors_from_bytes
    monkeypatch.setattr(services, "vectors_from_bytes", lambda raw: decoded.append(raw) or real_decode(raw))
    with CaptureQueriesContext(connection) as captured:
        pk, _ = _placed(question, query)
    assert pk == _full_scan(question, query)[0]
    reading_vectors = [
        q["sql"]
        for q in captured.captured_queries
        if "cards_canonicalvalue" in q["sql"] and "embedding" in q["sql"]
    ]
    # One read of the new value's vectors, one of the few candidates rescored exactly; never the whole question.
    assert len(reading_vectors) == 2, reading_vectors
    assert re.search(rf"IN \({new.pk}\)", reading_vectors[0]), reading_vectors[0]
    candidates = re.search(r"IN \(([^)]*)\)", reading_vectors[1]).group(1).split(",")
    assert len(candidates) <= services.RESCORE_CANDIDATES
    assert len(decoded) <= 1 + services.RESCORE_CANDIDATES
    assert CanonicalValue.objects.filter(question=question, is_active=True).count() > 10 * len(decoded)


def test_a_second_placement_on_an_unchanged_question_reads_no_other_vectors(scene):
    round_, question, _ = scene
    title, description, policies = FAMILIES["honesty"][2]
    card = ValuesCard.objects.create(
        round=round_,
        question=question,
        context=question.contexts.first(),
        author=join(round_),
        title=title,
        description=description,
        policies=policies,
        embedding=vectors_to_bytes(_offline(title, description, policies)),
    )
    _placed(question, _offline(*FAMILIES["autonomy"][1]))
    with CaptureQueriesContext(connection) as captured:
        merge = services.dedup_place_card(card_id=card.pk)
    assert merge is not None
    reading_vectors = [
        q["sql"]
        for q in captured.captured_queries
        if "cards_canonicalvalue" in q["sql"] and '"embedding"' in q["sql"] and q["sql"].startswith("SELECT")
    ]
    # The two calls (before and inside the transaction) read only their few candidates' vectors.
    assert len(reading_vectors) == 2, reading_vectors
    for sql in reading_vectors:
        listed = re.search(r"\"id\" IN \(([^)]*)\)", sql)
        assert listed and len(listed.group(1).split(",")) <= services.RESCORE_CANDIDATES, sql


def test_a_new_embedding_space_rebuilds_the_index_and_recomputes_values(scene, fake_openai):
    _, question, family_values = scene
    _placed(question, _offline(*FAMILIES["safety"][1]))
    # Keep the recomputation small: the random values leave, the family values are embedded again remotely.
    CanonicalValue.objects.filter(question=question).exclude(
        pk__in=[v.pk for v in family_values.values()]
    ).update(is_active=False, updated_at=timezone.now())
    from llm.gateway import embed

    query = embed(dedup.card_texts(*FAMILIES["safety"][1]), purpose="test")
    assert query.shape[1] == fake_openai.embedding_dim
    pk, score = _placed(question, query)
    stored = [
        vectors_from_bytes(v.embedding)
        for v in CanonicalValue.objects.filter(question=question, is_active=True)
    ]
    assert all(matrix.shape[1] == fake_openai.embedding_dim for matrix in stored)
    assert (pk, score) == (
        _full_scan(question, query)[0],
        pytest.approx(_full_scan(question, query)[1], abs=1e-5),
    )
    assert _placed(question, query) == (pk, pytest.approx(score, abs=1e-6))


def test_the_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(services, "INDEX_CACHE_QUESTIONS", 2)
    question = make_round(slug="bounded").questions.first()
    safety = _value(question, _offline(*FAMILIES["safety"][0]), "Safety")
    for other in range(3):
        services._question_index(question.pk + 1000 + other, 384)
    assert _placed(question, _offline(*FAMILIES["safety"][1]))[0] == safety.pk
    assert len(services._index_cache) == 2
    monkeypatch.setattr(services, "INDEX_CACHE_BYTES", 0)
    services._question_index(question.pk + 2000, 384)
    _placed(question, _offline(*FAMILIES["safety"][1]))
    # Over the memory budget, only the index just used is kept.
    assert list(services._index_cache.values()) == [services._question_index(question.pk, 384)]
