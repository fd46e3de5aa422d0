"""The pure deduplication code, with a bag-of-words embedder standing in for the model (no database)."""

import re
import zlib
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cards import dedup
from cards.dedup import CanonicalIndex, CardText, CardVectors, Thresholds

DIMENSIONS = 64
STOP_WORDS = {"the", "that", "and", "from", "for", "with", "she", "her", "him", "his", "are", "say", "one"}


def bow_embed(texts: list[str]) -> np.ndarray:
    """Each content word (crudely singularised) a fixed random direction; a text the normalised sum."""
    out = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"[a-z]{3,}", text.lower()):
            word = word.removesuffix("s")
            if word in STOP_WORDS:
                continue
            out[row] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(DIMENSIONS)
        out[row] /= max(float(np.linalg.norm(out[row])), 1e-9)
    return out


def card(title: str, description: str, *policies: str) -> CardText:
    return CardText(title, description, tuple(policies))


AUTONOMY = [
    card(
        "Choices stay hers",
        "She decides for herself.",
        "CHOICES that remain hers",
        "PRESSURE from others",
        "VOICE she trusts inside",
    ),
    card(
        "Her own decision",
        "Let her choose.",
        "PRESSURE from others removed",
        "CHOICES that remain hers alone",
        "INNER VOICE she trusts",
    ),
    card("Deciding for herself", "The choice is hers.", "VOICE inside she trusts", "CHOICES hers to make"),
]
SAFETY = [
    card(
        "Protection from harm",
        "Keep him safe.",
        "DANGERS he cannot see",
        "INJURIES that last",
        "SUPERVISION near roads",
    ),
    card(
        "Keeping him safe",
        "Guard against harm.",
        "INJURIES that last forever",
        "DANGERS unseen by him",
        "ROADS needing supervision",
    ),
    card("Safe from danger", "Protect him.", "DANGERS he misses", "SUPERVISION on roads and water"),
]
HONESTY = [
    card(
        "Telling hard truths",
        "Say it plainly.",
        "MISTAKES named plainly",
        "FLATTERY refused",
        "CRITICISM given straight",
    ),
    card(
        "Plain honest critique",
        "Be candid.",
        "CRITICISM given straight and plainly",
        "MISTAKES named",
        "FLATTERY refused always",
    ),
    card("Candid truth telling", "Name mistakes.", "FLATTERY that is refused", "MISTAKES plainly named"),
]
FAMILIES = [AUTONOMY, SAFETY, HONESTY]


def vectors_of(cards):
    return dedup.embed_cards(cards, bow_embed)


def test_card_texts_put_the_heading_first_and_drop_blank_policies():
    texts = dedup.card_texts(
        " Listening first ", "Hear them out.", ["MOMENTS of pause", "  ", "WORDS they use"]
    )
    assert texts == ["Listening first. Hear them out.", "MOMENTS of pause", "WORDS they use"]


def test_policies_text_is_order_insensitive():
    assert dedup.policies_text(["B thing", "A thing"]) == dedup.policies_text(["A thing", " B thing "])


def test_card_text_from_mapping_cleans_and_rejects():
    parsed = CardText.from_mapping({"title": " T t ", "description": "D.", "policies": [" P one ", ""]})
    assert parsed == CardText("T t", "D.", ("P one",))
    with pytest.raises(ValueError, match="no attentional policies"):
        CardText.from_mapping({"title": "T", "description": "D", "policies": ["  "]})
    with pytest.raises(ValueError, match="no title"):
        CardText.from_mapping({"title": "", "description": "D", "policies": ["P"]})
    with pytest.raises(ValueError, match="list of texts"):
        CardText.from_mapping({"title": "T", "description": "D", "policies": "P"})
    with pytest.raises(ValueError, match="must be an object"):
        CardText.from_mapping(["T"])


def test_card_vectors_from_matrix_needs_a_policy_and_gives_a_unit_whole_vector():
    matrix = bow_embed(dedup.card_texts("Listening first", "Hear them.", ["MOMENTS of pause", "WORDS used"]))
    vectors = CardVectors.from_matrix(matrix)
    assert vectors.policy_count == 2
    assert np.linalg.norm(vectors.whole) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError):
        CardVectors.from_matrix(matrix[:1])


def test_embed_cards_makes_one_call_and_checks_its_answer():
    calls = []

    def counting(texts):
        calls.append(list(texts))
        return bow_embed(texts)

    vectors = dedup.embed_cards(AUTONOMY + [AUTONOMY[0]], counting)
    assert len(calls) == 1 and [v.policy_count for v in vectors] == [3, 3, 2, 3]
    assert len(calls[0]) == len(set(calls[0])), "each distinct text is embedded once"
    assert np.array_equal(vectors[0].policies, vectors[3].policies)
    with pytest.raises(ValueError, match="returned"):
        dedup.embed_cards(AUTONOMY, lambda texts: bow_embed(texts)[:-1])


def test_similarity_is_symmetric_one_for_itself_and_blind_to_policy_order():
    a, b = vectors_of([AUTONOMY[0], SAFETY[0]])
    assert dedup.similarity(a, a) == pytest.approx(1.0, abs=1e-5)
    assert dedup.similarity(a, b) == pytest.approx(dedup.similarity(b, a), abs=1e-6)
    shuffled = CardText(AUTONOMY[0].title, AUTONOMY[0].description, tuple(reversed(AUTONOMY[0].policies)))
    (c,) = vectors_of([shuffled])
    assert dedup.similarity(c, b) == pytest.approx(dedup.similarity(a, b), abs=1e-5)


def test_similarity_accepts_the_stored_matrix_form():
    matrices = [
        bow_embed(dedup.card_texts(c.title, c.description, c.policies)) for c in (AUTONOMY[0], SAFETY[1])
    ]
    vectors = [CardVectors.from_matrix(m) for m in matrices]
    assert dedup.similarity(*matrices) == pytest.approx(dedup.similarity(*vectors), abs=1e-6)


def test_same_family_scores_above_other_families():
    vectors = vectors_of([c for family in FAMILIES for c in family])
    family = [i // 3 for i in range(9)]
    within = [
        dedup.similarity(vectors[i], vectors[j])
        for i, j in combinations(range(9), 2)
        if family[i] == family[j]
    ]
    across = [
        dedup.similarity(vectors[i], vectors[j])
        for i, j in combinations(range(9), 2)
        if family[i] != family[j]
    ]
    assert min(within) > max(across)


def test_similarity_matrix_matches_pairwise_similarity():
    left = vectors_of(AUTONOMY + SAFETY[:1])
    right = vectors_of(HONESTY[:2] + AUTONOMY[:1])
    matrix = dedup.similarity_matrix(left, right)
    assert matrix.shape == (4, 3)
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            assert matrix[i, j] == pytest.approx(dedup.similarity(a, b), abs=1e-5)
    assert dedup.similarity_matrix([], right).shape == (0, 3)


def test_alignment_of_identical_policy_sets_is_one_and_subsets_score_high():
    (a,) = vectors_of([AUTONOMY[0]])
    assert dedup.alignment(a.policies, a.policies) == pytest.approx(1.0, abs=1e-5)
    assert dedup.alignment(a.policies, a.policies[:1]) > 0.5


def test_index_finds_the_matching_canonical_value_first():
    index = CanonicalIndex()
    vectors = vectors_of([f[0] for f in FAMILIES])
    for key, v in zip(("autonomy", "safety", "honesty"), vectors, strict=True):
        index.add(key, v)
    for key, query in zip(
        ("autonomy", "safety", "honesty"), vectors_of([f[1] for f in FAMILIES]), strict=True
    ):
        found = index.candidates(query, k=3)
        assert found[0][0] == key
        assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)
        assert found[0][1] == pytest.approx(
            dedup.similarity(query, vectors[[*index.keys()].index(key)], index.population()), abs=3e-3
        )


def test_index_k_threshold_replace_and_remove():
    index = CanonicalIndex()
    assert index.candidates(vectors_of([AUTONOMY[0]])[0]) == []
    a, s, h = vectors_of([AUTONOMY[0], SAFETY[0], HONESTY[0]])
    index.add(1, a)
    index.add(2, s)
    index.add(3, h)
    assert len(index) == 3 and 2 in index
    assert len(index.candidates(a, k=2)) == 2
    assert [key for key, _ in index.candidates(a, threshold=0.99)] == [1]
    index.replace(1, h)
    assert index.candidates(a, threshold=0.99) == []
    assert {key for key, score in index.candidates(h, k=2) if score > 0.99} == {1, 3}
    index.add(1, a)
    assert len(index) == 3 and index.candidates(a, k=1)[0][0] == 1
    index.remove(1)
    assert 1 not in index and sorted(index.keys()) == [2, 3]
    assert index.candidates(s, k=1)[0][0] == 2 and index.candidates(h, k=1)[0][0] == 3
    with pytest.raises(KeyError):
        index.remove(1)
    with pytest.raises(ValueError, match="dimensional"):
        index.add(9, CardVectors(np.ones(3, dtype=np.float32), np.ones((1, 3), dtype=np.float32)))


def test_index_prefilter_still_finds_the_copy_among_many_and_reports_memory():
    rng = np.random.default_rng(7)
    index = CanonicalIndex()
    target = None
    for key in range(3000):
        policies = rng.standard_normal((4, DIMENSIONS)).astype(np.float32)
        policies /= np.linalg.norm(policies, axis=1, keepdims=True)
        heading = rng.standard_normal(DIMENSIONS).astype(np.float32)
        vectors = CardVectors.from_matrix(np.vstack([heading / np.linalg.norm(heading), policies]))
        index.add(key, vectors)
        if key == 1234:
            target = vectors
    assert index.candidates(target, k=5)[0][0] == 1234
    assert index.memory_bytes() >= 3000 * (DIMENSIONS * 4 + 4 * DIMENSIONS * 2)


def test_index_after_adds_replaces_and_removes_answers_like_one_built_fresh():
    rng = np.random.default_rng(5)

    def random_card() -> CardVectors:
        rows = rng.standard_normal((int(rng.integers(2, 7)), DIMENSIONS)).astype(np.float32)
        return CardVectors.from_matrix(rows / np.linalg.norm(rows, axis=1, keepdims=True))

    index, live = CanonicalIndex(), {}
    for _ in range(600):
        key = int(rng.integers(0, 60))
        if rng.random() < 0.6:
            live[key] = random_card()
            index.add(key, live[key])
        elif key in live:
            index.remove(key)
            del live[key]
    assert len(index) == len(live) and sorted(index.keys()) == sorted(live)
    assert index.dimensions == DIMENSIONS
    fresh = CanonicalIndex()
    for key, vectors in live.items():
        fresh.add(key, vectors)
    for _ in range(10):
        query = random_card()
        scores = dict(index.candidates(query, k=len(live)))
        assert scores == pytest.approx(dict(fresh.candidates(query, k=len(live))), abs=1e-6)
        population = dedup.Population.of(list(live.values()))
        assert scores == pytest.approx(
            {key: dedup.similarity(query, v, population) for key, v in live.items()}, abs=3e-3
        )
    for key in list(live):
        index.remove(key)
    assert len(index) == 0 and index.candidates(random_card()) == []


def test_decide_uses_the_band_edges():
    thresholds = Thresholds(threshold=0.5, review_low=0.45, review_high=0.6)
    assert dedup.decide(0.6, thresholds) == "same"
    assert dedup.decide(0.59, thresholds) == "review"
    assert dedup.decide(0.45, thresholds) == "review"
    assert dedup.decide(0.449, thresholds) == "different"
    assert dedup.is_same(0.5, thresholds) and not dedup.is_same(0.49, thresholds)
    with pytest.raises(ValueError):
        Thresholds(threshold=0.5, review_low=0.55, review_high=0.6)


def test_thresholds_for_keeps_the_default_band_widths():
    assert dedup.thresholds_for(0) == dedup.DEFAULT_THRESHOLDS
    assert dedup.thresholds_for(None) == dedup.DEFAULT_THRESHOLDS
    moved = dedup.thresholds_for(0.7)
    default = dedup.DEFAULT_THRESHOLDS
    assert moved.threshold == 0.7
    assert moved.review_high - moved.threshold == pytest.approx(default.review_high - default.threshold)
    assert moved.threshold - moved.review_low == pytest.approx(default.threshold - default.review_low)


def test_calibrate_separates_separable_scores():
    thresholds = dedup.calibrate([0.9, 0.8, 0.7, 0.3, 0.2], [True, True, True, False, False])
    assert 0.3 < thresholds.threshold < 0.7
    assert (
        dedup.binary_metrics(
            np.array([0.9, 0.8, 0.7, 0.3, 0.2]) >= thresholds.threshold, [True, True, True, False, False]
        ).f1
        == 1.0
    )


def test_calibrate_rejects_one_class_or_mismatched_input():
    with pytest.raises(ValueError):
        dedup.calibrate([0.1, 0.2], [True, True])
    with pytest.raises(ValueError):
        dedup.calibrate([0.1, 0.2], [True])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=40), st.booleans()), min_size=2, max_size=60
    ).filter(lambda rows: any(r[1] for r in rows) and not all(r[1] for r in rows))
)
def test_calibrate_maximises_f1_and_honours_the_band_targets(rows):
    scores = np.array([r[0] / 40 for r in rows])
    labels = np.array([r[1] for r in rows])
    thresholds = dedup.calibrate(scores, labels)
    assert thresholds.review_low <= thresholds.threshold <= thresholds.review_high
    best = max(dedup.binary_metrics(scores >= t, labels).f1 for t in np.unique(scores))
    assert dedup.binary_metrics(scores >= thresholds.threshold, labels).f1 == pytest.approx(best)
    assert dedup.binary_metrics(scores >= thresholds.review_low, labels).recall >= dedup.RECALL_TARGET - 1e-9
    above = scores >= thresholds.review_high
    if above.any():
        assert labels[above].mean() >= dedup.PRECISION_TARGET - 1e-9


def test_binary_metrics_and_auc():
    metrics = dedup.binary_metrics([True, True, False, False], [True, False, True, False])
    assert (metrics.precision, metrics.recall, metrics.f1) == (0.5, 0.5, 0.5)
    assert dedup.binary_metrics([False, False], [True, False]).f1 == 0.0
    assert dedup.roc_auc([0.9, 0.1, 0.8, 0.2], [True, False, True, False]) == 1.0
    assert dedup.roc_auc([0.5, 0.5], [True, False]) == 0.5
    with pytest.raises(ValueError):
        dedup.roc_auc([0.5, 0.4], [True, True])


def test_stratified_split_is_disjoint_complete_stratified_and_seeded():
    labels = np.array([True] * 40 + [False] * 60)
    calibration, held_out = dedup.stratified_split(labels, 0.5, seed=3)
    assert set(calibration).isdisjoint(held_out) and len(calibration) + len(held_out) == 100
    assert labels[calibration].sum() == 20 and (~labels[calibration]).sum() == 30
    again = dedup.stratified_split(labels, 0.5, seed=3)
    assert np.array_equal(again[0], calibration)
    assert not np.array_equal(dedup.stratified_split(labels, 0.5, seed=4)[0], calibration)
    none, everything = dedup.stratified_split(labels, 0, seed=0)
    assert none.size == 0 and everything.size == 100
    with pytest.raises(ValueError):
        dedup.stratified_split(labels, 1.0, seed=0)


def test_cluster_cards_groups_articulations_of_one_value():
    cards = [
        AUTONOMY[0],
        SAFETY[0],
        HONESTY[0],
        AUTONOMY[1],
        SAFETY[1],
        HONESTY[1],
        AUTONOMY[2],
        SAFETY[2],
        HONESTY[2],
    ]
    vectors = vectors_of(cards)
    scores = [dedup.similarity(vectors[i], vectors[j]) for i, j in combinations(range(9), 2)]
    cut = (
        min(s for (i, j), s in zip(combinations(range(9), 2), scores, strict=True) if i % 3 == j % 3)
        + max(s for (i, j), s in zip(combinations(range(9), 2), scores, strict=True) if i % 3 != j % 3)
    ) / 2
    labels = dedup.cluster_cards(vectors, Thresholds(cut, cut, cut), cards=cards)
    assert labels == [0, 1, 2, 0, 1, 2, 0, 1, 2]


SURE_DIFFERENT = dedup.Verdict(same=False, confidence=0.9)
SURE_SAME = dedup.Verdict(same=True, confidence=0.9)


def test_cluster_cards_judges_every_doubtful_card_once_against_its_top_candidates():
    cards = AUTONOMY + SAFETY
    vectors = vectors_of(cards)
    asked = []

    def judge(card_index, representatives):
        asked.append((card_index, list(representatives)))
        return [SURE_DIFFERENT] * len(representatives)

    everything_doubtful = Thresholds(threshold=0.0, review_low=-2.0, review_high=2.0)
    labels = dedup.cluster_cards(vectors, everything_doubtful, judge=judge)
    assert labels == list(range(6))
    # One call per card after the first, each with all its candidates up to JUDGE_CANDIDATES.
    assert [c for c, _ in asked] == [1, 2, 3, 4, 5]
    assert [len(r) for _, r in asked] == [min(i, dedup.JUDGE_CANDIDATES) for i in range(1, 6)]
    asked.clear()
    nothing_doubtful = Thresholds(threshold=2.0, review_low=2.0, review_high=2.0)
    dedup.cluster_cards(vectors, nothing_doubtful, judge=judge)
    assert asked == []


def test_cluster_cards_keeps_doubtful_cards_apart_when_the_judge_is_unavailable():
    vectors = vectors_of(AUTONOMY)

    def unavailable(card_index, representatives):
        raise dedup.JudgeUnavailable("no model")

    band = Thresholds(threshold=-2.0, review_low=-2.0, review_high=2.0)
    assert dedup.cluster_cards(vectors, band, judge=unavailable) == [0, 1, 2]
    # Offline (no judge at all), only a card above the band merges.
    assert dedup.cluster_cards(vectors, band) == [0, 1, 2]
    assert dedup.cluster_cards(vectors, Thresholds(-2.0, -2.0, -2.0)) == [0, 0, 0]


def test_cluster_cards_keeps_the_representative_that_choose_representative_would_pick():
    cards = AUTONOMY + [AUTONOMY[1], AUTONOMY[0]]
    vectors = vectors_of(cards)
    seen = []

    def judge(card_index, representatives):
        seen.append((card_index, representatives[0]))
        return [SURE_SAME] * len(representatives)

    labels = dedup.cluster_cards(vectors, Thresholds(0.0, -2.0, 2.0), cards=cards, judge=judge)
    assert labels == [0] * 5
    for card_index, representative_index in seen:
        expected = dedup.choose_representative(vectors[:card_index], cards[:card_index])
        assert representative_index == expected


BAND = Thresholds(threshold=0.5, review_low=0.4, review_high=0.6)


def test_doubtful_is_above_the_floor_below_near_verbatim_and_the_best_few():
    candidates = [("a", 0.39), ("b", 0.45), ("c", dedup.NEAR_VERBATIM), ("d", 0.7), ("e", 0.5), ("f", 0.41)]
    assert dedup.doubtful(candidates, BAND) == [("d", 0.7), ("e", 0.5), ("b", 0.45)][: dedup.JUDGE_CANDIDATES]


def test_settle_without_a_judge_merges_only_above_the_band():
    assert dedup.settle([], BAND) == dedup.Placement("different", None, None)
    assert dedup.settle([("a", 0.39)], BAND).decision == "different"
    assert dedup.settle([("a", 0.55), ("b", 0.3)], BAND) == dedup.Placement("review", None, 0.55)
    assert dedup.settle([("b", 0.3), ("a", 0.65)], BAND) == dedup.Placement("same", "a", 0.65)


def test_settle_with_a_failed_judge_sends_every_doubtful_card_to_review():
    assert dedup.settle([("a", 0.65)], BAND, judge_failed=True) == dedup.Placement("review", None, 0.65)
    assert dedup.settle([("a", 0.3)], BAND, judge_failed=True).decision == "different"
    # A near-verbatim copy needs no judge.
    assert dedup.settle([("a", 0.95)], BAND, judge_failed=True) == dedup.Placement("same", "a", 0.95)


def test_settle_follows_confident_verdicts_and_joins_the_best_candidate_called_same():
    candidates = [("a", 0.55), ("b", 0.5), ("c", 0.45)]
    verdicts = {"a": SURE_DIFFERENT, "b": SURE_SAME, "c": SURE_SAME}
    assert dedup.settle(candidates, BAND, verdicts) == dedup.Placement("same", "b", 0.5, judged=True)
    different = {key: SURE_DIFFERENT for key, _ in candidates}
    assert dedup.settle(candidates, BAND, different) == dedup.Placement("different", None, 0.55, judged=True)
    # A judge may merge below the band's top: it saw the pair.
    assert dedup.settle([("a", 0.42)], BAND, {"a": SURE_SAME}).decision == "same"


def test_settle_sends_a_verdict_against_strong_evidence_to_review():
    # Issue #19: a pair far above the band judged "different" at confidence 1.0 is not placed apart silently.
    verdicts = {"a": dedup.Verdict(same=False, confidence=1.0)}
    assert dedup.settle([("a", 0.8)], BAND, verdicts) == dedup.Placement("review", None, 0.8, judged=True)
    # Nor is it merged into a weaker candidate the judge liked better.
    verdicts = {"a": dedup.Verdict(same=False, confidence=1.0), "b": SURE_SAME}
    assert dedup.settle([("a", 0.8), ("b", 0.5)], BAND, verdicts).decision == "review"


def test_settle_sends_unsure_or_missing_verdicts_to_review():
    unsure = {"a": dedup.Verdict(same=True, confidence=dedup.JUDGE_MIN_CONFIDENCE - 0.01)}
    assert dedup.settle([("a", 0.5)], BAND, unsure).decision == "review"
    # "b" was placed after the judge was asked: no verdict on a doubtful candidate.
    assert dedup.settle([("a", 0.5), ("b", 0.45)], BAND, {"a": SURE_DIFFERENT}).decision == "review"


def test_centring_removes_what_a_populations_cards_share():
    rng = np.random.default_rng(3)
    shared = rng.standard_normal(DIMENSIONS).astype(np.float32)

    def framed(seed: int) -> CardVectors:
        own = np.random.default_rng(seed).standard_normal((4, DIMENSIONS)).astype(np.float32)
        rows = own + 3 * shared
        return CardVectors.from_matrix(rows / np.linalg.norm(rows, axis=1, keepdims=True))

    cards = [framed(seed) for seed in range(40)]
    population = dedup.Population.of(cards)
    raw = dedup.similarity(cards[0], cards[1])
    centred = dedup.similarity(cards[0], cards[1], population)
    # Unrelated cards that share framing look alike until the framing is removed.
    assert raw > 0.8 and abs(centred) < 0.3
    assert dedup.similarity(cards[0], cards[0], population) == pytest.approx(1.0, abs=1e-5)
    # Shrunk towards no shift: one card's population removes a sixth of it, none removes nothing.
    one = dedup.Population.of(cards[:1])
    assert np.allclose(one.whole, cards[0].whole / (1 + dedup.CENTRING_PRIOR), atol=1e-6)
    assert dedup.centred(cards[0], None) is cards[0]


def test_the_pure_module_imports_nothing_from_the_model_gateway_or_the_orm():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(dedup.__file__).read_text(encoding="utf-8"))
    imported = {
        (node.module if isinstance(node, ast.ImportFrom) else alias.name).split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & {"llm", "django", "openai", "cards", "deliberation", "moral_graph"}


def test_choose_representative_is_the_medoid():
    vectors = vectors_of(AUTONOMY)
    sims = dedup.similarity_matrix(vectors, vectors)
    expected = int(np.argmax(sims.sum(axis=1)))
    assert dedup.choose_representative(vectors) == expected
    assert dedup.choose_representative(vectors[:1]) == 0
    with pytest.raises(ValueError):
        dedup.choose_representative([])


def test_choose_representative_breaks_ties_by_style_then_policy_count():
    sloppy = card(
        "Choice",
        "Hers. Really hers.",
        "choices that remain hers",
        "pressure from others",
        "a meaningful inner voice",
    )
    tidy = card(
        "Her own choice",
        "She decides.",
        "CHOICES that remain hers",
        "PRESSURE from others",
        "VOICE she trusts inside",
    )
    (v,) = vectors_of([AUTONOMY[0]])
    assert dedup.choose_representative([v, v], [sloppy, tidy]) == 1
    assert dedup.choose_representative([v, v], [tidy, sloppy]) == 0
    fewer = CardVectors(v.whole, v.policies[:2])
    assert dedup.choose_representative([fewer, v]) == 1
    assert dedup.choose_representative([v, v]) == 0


def test_choose_representative_on_a_large_cluster_picks_a_central_member():
    rng = np.random.default_rng(1)
    centre = rng.standard_normal((3, DIMENSIONS)).astype(np.float32)
    members = []
    for i in range(260):
        noise = 0.05 if i == 200 else 0.6
        policies = centre + noise * rng.standard_normal((3, DIMENSIONS)).astype(np.float32)
        policies /= np.linalg.norm(policies, axis=1, keepdims=True)
        members.append(CardVectors.from_matrix(np.vstack([policies.mean(axis=0), policies])))
    assert dedup.choose_representative(members) == 200


def test_articulation_score_rewards_house_style():
    assert dedup.articulation_score(AUTONOMY[0]) == 1.0
    sloppy = card("Choice", "Hers. Really hers.", "a meaningful voice")
    assert dedup.articulation_score(sloppy) == 0.0


def test_cluster_agreement_counts_pairs_and_adjusts_for_chance():
    perfect = dedup.cluster_agreement([1, 1, 2, 2], ["a", "a", "b", "b"])
    assert perfect == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "ari": 1.0}
    truth = [0, 0, 0, 1, 1, 1]
    predicted = [0, 0, 1, 1, 2, 2]
    result = dedup.cluster_agreement(predicted, truth)
    assert result["precision"] == pytest.approx(2 / 3)
    assert result["recall"] == pytest.approx(2 / 6)
    # ARI by hand: index 2, expected 3 * 6 / 15 = 1.2, max (3 + 6) / 2 = 4.5.
    assert result["ari"] == pytest.approx((2 - 1.2) / (4.5 - 1.2))
    with pytest.raises(ValueError):
        dedup.cluster_agreement([1], [1, 2])
