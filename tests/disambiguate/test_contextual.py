"""The contextual method: name spans, mentions, mention vectors, the fitted models' decisions, and the
inputs that leave nothing to split (each gives one sense and a reason, never an exception)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from disambiguation_fixtures import CORPUS, NEBRASKA, OKLAHOMA, OTHER, QUERY, candidates

import semsearch
from semsearch.disambiguate import (
    DisambiguationConfig,
    SenseGroup,
    SenseNotFoundError,
    find_senses_in_context,
    narrow,
)
from semsearch.disambiguate.learned import PAIR_FEATURES, QUERY_FEATURES, Fitted, Logistic, default_fitted
from semsearch.disambiguate.mentions import Mention, context, find_mention, mention_vectors, name_words
from semsearch.types import Precision

# Hand-set models for the pure tests (the shipped ones are fitted on RAMDocs and may change): documents
# sharing specific terms or close mention vectors are one referent; two strong senses are ambiguous.
FITTED = Fitted(
    pair=Logistic(PAIR_FEATURES, (6.0, 4.0, 0.0, 0.0), -3.5),
    query=Logistic(QUERY_FEATURES, (1.0, 2.0, 0.0, 0.0, 0.0), -2.0),
    relevant=1.3,
    strong=1.5,
    link=0.5,
)
CONFIG = DisambiguationConfig()


def by_state(positions: Sequence[int], mentions: Sequence[Mention], texts: Sequence[str]) -> np.ndarray:
    """Stand-in mention vectors: one direction for documents that say Nebraska, another otherwise."""
    return np.array([[1.0, 0.0] if "Nebraska" in texts[p] else [0.0, 1.0] for p in positions])


def test_name_words_are_the_capitalised_and_quoted_words_past_the_question_word() -> None:
    assert name_words(QUERY) == {"broken", "bow"}
    assert name_words('Who directed the film "Lahu Ke Do Rang"?') == {"lahu", "ke", "rang"}
    assert name_words("What sport is Doak associated with?") == {"doak"}
    assert name_words("how do vaccines work?") == frozenset()
    assert name_words("What is the capital?") == frozenset()


def test_the_longest_run_of_name_words_is_the_mention() -> None:
    text = "Bow hunting near Broken Bow, Nebraska is popular."
    mention = find_mention(text, frozenset({"broken", "bow"}))
    assert mention is not None and text[mention.start : mention.end] == "Broken Bow" and mention.words == 2
    assert find_mention("Nothing about it here.", frozenset({"broken", "bow"})) is None
    titled = "Lincoln County High School of Hamlin opened in 1920."
    found = find_mention(titled, frozenset({"lincoln", "county", "high", "school", "hamlin"}))
    assert found is not None and titled[found.start : found.end] == "Lincoln County High School of Hamlin"


def test_context_keeps_the_words_around_the_mention() -> None:
    text = " ".join(f"w{i}" for i in range(40)) + " Broken Bow " + " ".join(f"v{i}" for i in range(40))
    mention = find_mention(text, frozenset({"broken", "bow"}))
    assert mention is not None
    snippet, start, end = context(text, mention)
    assert snippet[start:end] == "Broken Bow"
    assert snippet.startswith("w36 ") and snippet.endswith(" v3")  # 4 words each side


def test_mention_vectors_pool_the_mention_tokens_in_one_call() -> None:
    calls: list[list[str]] = []

    def encode(texts: Sequence[str]) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
        calls.append(list(texts))
        out = []
        for text in texts:
            spans = [(0, 0)] + [(i, i + 1) for i in range(len(text))] + [(0, 0)]
            hidden = np.array([[1.0, 0.0] if a < b and text[a].isupper() else [0.0, 1.0] for a, b in spans])
            out.append((hidden, spans))
        return out

    texts = ["the town Broken Bow lies", "no mention", "BB"]
    names = frozenset({"broken", "bow"})
    mentions = [find_mention(t, names) for t in texts]
    vectors = mention_vectors(texts, mentions, encode)
    assert len(calls) == 1 and len(calls[0]) == 1  # one batch, only texts with a mention
    assert vectors.shape == (3, 2)
    # "Broken Bow": 2 capitals of 10 characters -> mean (0.2, 0.8), normalised.
    assert vectors[0] == pytest.approx(np.array([0.2, 0.8]) / np.linalg.norm([0.2, 0.8]))
    assert not vectors[1].any() and not vectors[2].any()
    assert mention_vectors(["x"], [None], encode).shape == (1, 0) and len(calls) == 1


def towns() -> tuple[list[str], list[float], list[float]]:
    texts = [NEBRASKA[0], NEBRASKA[1], OKLAHOMA[0], NEBRASKA[2], OKLAHOMA[1], OKLAHOMA[2], *OTHER]
    dense = [0.80, 0.78, 0.76, 0.74, 0.72, 0.70, 0.20, 0.18, 0.15, 0.12, 0.10, 0.08, 0.06, 0.05]
    lexical = [9.0, 8.0, 9.0, 7.0, 7.0, 7.0, 0, 0, 0, 0, 0, 0, 0, 0]
    return texts, dense, lexical


def test_two_referents_are_found_and_labelled_with_the_name_and_its_qualifier() -> None:
    texts, dense, lexical = towns()
    found = find_senses_in_context(QUERY, candidates(texts, dense, lexical), CORPUS, CONFIG, FITTED,
                                   lambda p, m: by_state(p, m, texts))  # fmt: skip
    assert found.ambiguous and found.reason == ""
    assert [set(s.members) for s in found.senses] == [{0, 1, 3}, {2, 4, 5}]
    assert found.order[:2] == (0, 2) and sorted(found.order) == list(range(len(texts)))
    for sense in found.senses:
        assert sense.label.startswith("Broken Bow (") and sense.label.endswith(")")
    qualifiers = [s.label[len("Broken Bow (") : -1] for s in found.senses]
    assert all(qualifiers[0] in texts[i] for i in (0, 1, 3)) and not any(qualifiers[0] in t for t in OKLAHOMA)
    assert all(qualifiers[1] in texts[i] for i in (2, 4, 5)) and not any(qualifiers[1] in t for t in NEBRASKA)


def test_a_sense_is_chosen_by_its_label_or_its_qualifier() -> None:
    senses = (SenseGroup("Broken Bow (Nebraska)", (0, 3)), SenseGroup("Broken Bow (Oklahoma)", (1, 4)))
    assert narrow(6, senses, "broken bow (oklahoma)") == (1, 4, 0, 2, 3, 5)
    assert narrow(6, senses, "Oklahoma") == (1, 4, 0, 2, 3, 5)
    with pytest.raises(SenseNotFoundError, match="no sense labelled 'Kansas'"):
        narrow(6, senses, "Kansas")


def test_close_mention_vectors_keep_one_referent_together() -> None:
    """Without shared terms to go on, the mention vectors alone decide: all alike, one sense."""
    texts, dense, lexical = towns()
    same = find_senses_in_context(QUERY, candidates(texts, dense, lexical), CORPUS, CONFIG, FITTED,
                                  lambda p, m: np.ones((len(p), 2)) / np.sqrt(2))  # fmt: skip
    # Terms still separate the towns (overlap 0 across states), but the mention vectors pull together.
    pair = FITTED.pair.probability(np.array([[0.0, 1.0, 0.0, 0.0]]))[0]
    assert pair > 0.5  # the hand-set model trusts identical mention vectors over disjoint terms
    assert not same.ambiguous and same.order == tuple(range(len(texts)))


def test_the_ambiguity_model_can_overrule_two_groups() -> None:
    texts, dense, lexical = towns()
    never = Fitted(FITTED.pair, Logistic(QUERY_FEATURES, (0.0,) * 5, -1.0), 1.3, 1.5, 0.5)
    found = find_senses_in_context(QUERY, candidates(texts, dense, lexical), CORPUS, CONFIG, never,
                                   lambda p, m: by_state(p, m, texts))  # fmt: skip
    assert not found.ambiguous and "too alike or too weak" in found.reason
    assert found.order == tuple(range(len(texts)))


@pytest.mark.parametrize(
    ("query", "texts", "reason"),
    [
        ("how do towns grow?", None, "names nothing"),  # no name-like span
        (QUERY, NEBRASKA[:1], "too few"),  # one candidate
        (QUERY, NEBRASKA[:2], "too few"),
        ("What is the population of Kearney Falls?", None, "mention the query's name"),  # nobody names it
    ],
)
def test_nothing_to_split_gives_one_sense_and_a_reason(query: str, texts: list[str] | None, reason: str) -> None:
    calls = []

    def vectors(positions: Sequence[int], mentions: Sequence[Mention]) -> np.ndarray:
        calls.append(positions)
        return np.ones((len(positions), 2))

    if texts is None:
        texts, dense, lexical = towns()
    else:
        dense, lexical = [0.8] * len(texts), [9.0] * len(texts)
    found = find_senses_in_context(query, candidates(texts, dense, lexical), CORPUS, CONFIG, FITTED, vectors)
    assert not found.ambiguous and found.senses == () and found.order == tuple(range(len(texts)))
    assert reason in found.reason
    assert calls == []  # nothing was encoded


def test_no_candidates_at_all() -> None:
    found = find_senses_in_context(QUERY, [], CORPUS, CONFIG, FITTED, lambda p, m: np.zeros((0, 2)))
    assert not found.ambiguous and found.order == () and found.reason


def test_the_shipped_models_are_small_and_complete() -> None:
    fitted = default_fitted()
    assert fitted.pair.features == PAIR_FEATURES and len(fitted.pair.weights) == len(PAIR_FEATURES)
    assert fitted.query.features == QUERY_FEATURES and len(fitted.query.weights) == len(QUERY_FEATURES)
    assert 0 < fitted.link < 1 and fitted.relevant <= fitted.strong
    assert Fitted.from_dict(fitted.as_dict()) == fitted


def test_token_vectors_give_hidden_states_and_character_offsets() -> None:
    from semsearch.encoder import Encoder

    encoder = Encoder(precision=Precision.FP32, threads=1)  # the token vectors are fp32: compare with fp32
    texts = ["Broken Bow is a city in Nebraska.", "Hochatown"]
    out = encoder.token_vectors(texts)
    assert len(out) == 2
    for text, (hidden, offsets) in zip(texts, out, strict=True):
        assert hidden.shape == (len(offsets), encoder.dim)
        assert offsets[0] == (0, 0) and offsets[-1] == (0, 0)  # [CLS] and [SEP]
        inner = offsets[1:-1]
        assert all(0 <= a < b <= len(text) for a, b in inner)
        assert [a for a, _ in inner] == sorted(a for a, _ in inner) and text[slice(*inner[0])] == text[: inner[0][1]]
    assert "Broken" in texts[0][out[0][1][1][0] : out[0][1][2][1]]  # the first tokens cover "Broken"
    # Mean-pooling the whole text's token vectors is what the encoder's own vector is.
    pooled = out[1][0].mean(axis=0)
    assert pooled / np.linalg.norm(pooled) == pytest.approx(encoder.encode(["Hochatown"])[0], abs=1e-4)
    assert encoder.token_vectors([]) == []


def test_search_encodes_mentions_in_one_forward_pass(towns_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fit that reads mention vectors costs ONE batched forward pass per query; the shipped fit, which
    does not (they did not separate referents on RAMDocs), costs none."""
    import semsearch.facade.senses as facade_senses

    index = semsearch.open(towns_index)
    encoder = index.encoder
    calls: list[int] = []
    original = encoder.token_vectors

    def counted(texts: Sequence[str]) -> list[tuple[np.ndarray, list[tuple[int, int]]]]:
        calls.append(len(texts))
        return original(texts)

    monkeypatch.setattr(encoder, "token_vectors", counted)
    index.search(QUERY, k=6, disambiguate=True)
    assert len(calls) == (1 if default_fitted().uses_mentions else 0)
    calls.clear()
    monkeypatch.setattr(facade_senses, "default_fitted", lambda: FITTED)
    assert FITTED.uses_mentions
    result = index.search(QUERY, k=6, disambiguate=True)
    assert len(calls) == 1 and 2 <= calls[0] <= index.disambiguation.candidates
    assert result.ambiguous is not None
    plain = index.search("how do glaciers hold fresh water?", k=5, disambiguate=True)
    assert plain.ambiguous is False and len(calls) == 1  # nothing named: nothing encoded
    assert plain.notes == ["disambiguation: the query names nothing (no capitalised or quoted words)"]
