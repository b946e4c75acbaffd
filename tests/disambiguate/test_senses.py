"""Query disambiguation: the pure functions on hand-made candidates, then the engine and the CLI on a
small real index (default model) holding two towns called Broken Bow."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from disambiguation_fixtures import CORPUS, NEBRASKA, OKLAHOMA, OTHER, QUERY, candidates

import semsearch
from semsearch.bm25 import BM25
from semsearch.cli import main
from semsearch.disambiguate import (
    DisambiguationConfig,
    SenseGroup,
    SenseNotFoundError,
    find_senses,
    narrow,
    relevance,
)
from semsearch.disambiguate.senses import corroborated, diversify, lead_with_corroborated
from semsearch.disambiguate.terms import group, overlap, word_set
from semsearch.errors import SemsearchError


def test_relevance_scales_each_score_within_the_query() -> None:
    scores = relevance([0.9, 0.5, 0.3, 0.2, 0.1], [10.0, 5.0, 0.0, 0.0, 0.0])
    assert scores[0] == pytest.approx(2.0)  # best in both
    assert scores[2] == pytest.approx(0.0)  # the median dense score, no lexical match
    assert scores[1] == pytest.approx((0.5 - 0.3) / (0.9 - 0.3) + 0.5)
    assert np.all(relevance([0.4, 0.4, 0.4], [0.0, 0.0, 0.0]) == 0)  # nothing stands out


def test_overlap_and_grouping_of_specific_terms() -> None:
    a, b, c = frozenset({"custer", "nebraska", "sandhills"}), frozenset({"custer", "nebraska"}), frozenset({"idabel"})
    assert overlap(a, b) == 1.0 and overlap(a, c) == 0.0 and overlap(a, frozenset()) == 0.0
    assert group([a, c, b], link=0.4) == [[0, 2], [1]]
    assert group([a], link=0.4) == [[0]] and group([], link=0.4) == []


def test_two_senses_are_found_labelled_and_their_best_documents_lead() -> None:
    # Rank: two Nebraska documents, then one about Oklahoma, then the rest; a plain list shows Nebraska twice.
    texts = [NEBRASKA[0], NEBRASKA[1], OKLAHOMA[0], NEBRASKA[2], OKLAHOMA[1], OKLAHOMA[2], *OTHER]
    dense = [0.80, 0.78, 0.76, 0.74, 0.72, 0.70, 0.20, 0.18, 0.15, 0.12, 0.10, 0.08, 0.06, 0.05]
    lexical = [9.0, 8.0, 9.0, 7.0, 7.0, 7.0, 0, 0, 0, 0, 0, 0, 0, 0]
    found = find_senses(QUERY, candidates(texts, dense, lexical), CORPUS)
    assert found.ambiguous
    assert [set(s.members) for s in found.senses] == [{0, 1, 3}, {2, 4, 5}]
    assert found.order[:2] == (0, 2) and sorted(found.order) == list(range(len(texts)))
    assert found.order[2:] == (1, *range(3, len(texts)))  # everything else keeps its rank
    nebraska, oklahoma = (s.label for s in found.senses)
    assert nebraska != oklahoma
    assert all(nebraska in texts[i] for i in (0, 1, 3)) and not any(nebraska in t for t in OKLAHOMA)
    assert all(oklahoma in texts[i] for i in (2, 4, 5)) and not any(oklahoma in t for t in NEBRASKA)


# NEBRASKA[0] with its figure changed: a near-copy that contradicts the original (and everything else).
ALTERED = NEBRASKA[0].replace("3,559", "12,480").replace("Middle Loup River", "Platte River")


def test_corroborated_picks_the_copy_other_documents_agree_with() -> None:
    words = [word_set(t) for t in (ALTERED, NEBRASKA[0], NEBRASKA[1], OKLAHOMA[0])]
    # The altered copy ranks first, but "Middle Loup" recurs in NEBRASKA[1] and "Platte" nowhere.
    assert corroborated(0, words, witnesses=[0, 1, 2, 3]) == 1
    # No near-copy: the best document stays the leader.
    assert corroborated(2, words, witnesses=[0, 1, 2, 3]) == 2
    # Without witnesses the two versions tie and the better ranked one leads.
    assert corroborated(0, words, witnesses=[]) == 0


def test_a_sense_is_not_led_by_a_member_of_another_sense() -> None:
    """The corroborated copy of sense A's best document was grouped into sense B: A keeps its own."""
    texts = [ALTERED, OKLAHOMA[0], NEBRASKA[0], NEBRASKA[1], OKLAHOMA[1]]
    senses = [SenseGroup("Nebraska", (0, 3)), SenseGroup("Oklahoma", (1, 2, 4))]
    led = lead_with_corroborated(senses, texts, witnesses=[0, 1, 2, 3, 4])
    members = [m for sense in led for m in sense.members]
    assert len(members) == len(set(members)) == 5
    assert led[0].members[0] == 0 and set(led[1].members) == {1, 2, 4}
    # Grouped into A, the same copy does lead it.
    assert lead_with_corroborated([SenseGroup("Nebraska", (0, 2, 3))], texts, [0, 1, 2, 3, 4])[0].members[0] == 2


def test_a_contradicting_copy_does_not_lead_its_sense() -> None:
    texts = [ALTERED, OKLAHOMA[0], NEBRASKA[0], NEBRASKA[1], OKLAHOMA[1], OKLAHOMA[2], NEBRASKA[2], *OTHER]
    dense = [0.81, 0.80, 0.78, 0.76, 0.72, 0.70, 0.69, 0.20, 0.18, 0.15, 0.12, 0.10, 0.08, 0.06, 0.05]
    lexical = [9.0, 9.0, 9.0, 8.0, 7.0, 7.0, 7.0, 0, 0, 0, 0, 0, 0, 0, 0]
    found = find_senses(QUERY, candidates(texts, dense, lexical), CORPUS)
    assert found.ambiguous
    nebraska = next(s for s in found.senses if 3 in s.members)
    assert nebraska.members[0] == 2 and 0 in nebraska.members  # the original leads, the copy stays in the sense
    assert set(found.order[:2]) == {1, 2} and sorted(found.order) == list(range(len(texts)))
    assert found.order[2:] == (0, *range(3, len(texts)))  # the copy keeps its place among the rest


def test_diversify_places_each_leader_once() -> None:
    assert diversify(4, [2, 2, 0]) == (2, 0, 1, 3)


def test_one_sense_leaves_the_ranking_unchanged() -> None:
    texts = [*NEBRASKA, *OTHER[:5]]
    dense = [0.8, 0.75, 0.7, 0.2, 0.18, 0.15, 0.12, 0.1]
    lexical = [9.0, 8.0, 8.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    found = find_senses(QUERY, candidates(texts, dense, lexical), CORPUS)
    assert not found.ambiguous and found.senses == () and found.order == tuple(range(len(texts)))


def test_background_documents_never_make_a_sense() -> None:
    """Documents that share no specific terms but are not about the query stay out of every sense."""
    texts = [NEBRASKA[0], *OTHER]
    dense = [0.8, 0.4, 0.38, 0.36, 0.3, 0.25, 0.2, 0.18, 0.15]
    lexical = [9.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    found = find_senses(QUERY, candidates(texts, dense, lexical), CORPUS)
    assert not found.ambiguous and found.order == tuple(range(len(texts)))


def test_documents_with_too_little_evidence_are_not_split_off() -> None:
    """Two strongly relevant documents with few specific terms: disjoint terms prove nothing."""
    texts = ["Broken Bow has a population.", "The population of Broken Bow grew.", *OTHER[:4]]
    dense, lexical = [0.8, 0.79, 0.2, 0.15, 0.1, 0.05], [9.0, 9.0, 0.0, 0.0, 0.0, 0.0]
    assert not find_senses(QUERY, candidates(texts, dense, lexical), CORPUS).ambiguous


def test_too_few_candidates_are_never_ambiguous() -> None:
    found = find_senses(QUERY, candidates(NEBRASKA[:1] + OKLAHOMA[:1], [0.8, 0.8], [9.0, 9.0]), CORPUS)
    assert not found.ambiguous and found.order == (0, 1)


def test_narrowing_by_label_or_index() -> None:
    senses = (SenseGroup("Nebraska", (0, 3)), SenseGroup("Oklahoma", (1, 4)))
    assert narrow(6, senses, "oklahoma") == (1, 4, 0, 2, 3, 5)
    assert narrow(6, senses, 0) == (0, 3, 1, 2, 4, 5)
    assert narrow(6, senses, "1") == (1, 4, 0, 2, 3, 5)
    with pytest.raises(SenseNotFoundError, match="0: 'Nebraska', 1: 'Oklahoma'"):
        narrow(6, senses, "Kansas")
    with pytest.raises(SenseNotFoundError, match="no sense 2"):
        narrow(6, senses, 2)
    with pytest.raises(SenseNotFoundError, match="single sense"):
        narrow(6, (), "Nebraska")
    assert diversify(4, [2, 0]) == (2, 0, 1, 3)


def test_config_is_checked() -> None:
    with pytest.raises(SemsearchError):
        DisambiguationConfig(candidates=1)
    with pytest.raises(SemsearchError):
        DisambiguationConfig(relevant=1.6, strong=1.5)


def test_bm25_document_frequencies() -> None:
    index = BM25.build(["a", "b", "c"], ["Nebraska towns", "towns of Oklahoma", "the towns"])
    assert index.num_docs == 3
    terms = index.normalize(["Towns", "Nebraska", "the", "Kansas"])
    assert index.document_frequencies(terms) == [3, 1, None, None]  # "the" is a stop word, Kansas is absent


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_search_finds_both_towns(towns_index: Path, mode: str) -> None:
    index = semsearch.open(towns_index)
    plain = index.search(QUERY, k=6, mode=mode)
    result = index.search(QUERY, k=6, mode=mode, disambiguate=True)
    assert result.ambiguous is True and len(result.senses) == 2
    assert {h.id for h in result.hits} == {h.id for h in plain.hits}  # reordered, nothing swapped in
    by_state = {s.hits[0].id[:2] for s in result.senses}
    assert by_state == {"ne", "ok"}
    assert {h.id[:2] for h in result.hits[:2]} == {"ne", "ok"}
    for sense in result.senses:
        assert all(h.id[:2] == sense.hits[0].id[:2] for h in sense.hits)
        assert {h.id for h in sense.hits} <= {h.id for h in result.hits}
    for number, sense in enumerate(result.senses):
        narrowed = index.search(QUERY, k=3, mode=mode, sense=number).hits
        assert narrowed[0].id == sense.hits[0].id
        assert index.search(QUERY, k=3, mode=mode, sense=sense.label.upper()).hits[0].id == sense.hits[0].id
    oklahoma = index.search(f"{QUERY} Oklahoma", k=3, mode=mode).hits  # context narrows as well
    assert oklahoma[0].id.startswith("ok")
    filtered = index.search(QUERY, k=4, mode=mode, where="id LIKE 'ok%'", disambiguate=True)
    assert len(filtered.hits) == 3 and all(h.id.startswith("ok") for h in filtered.hits)
    assert filtered.ambiguous is False  # the filter applies before disambiguation: one town is left


def test_an_unambiguous_query_keeps_its_ranking(towns_index: Path) -> None:
    index = semsearch.open(towns_index)
    query = "Who recorded Kind of Blue with John Coltrane?"
    result = index.search(query, k=5, disambiguate=True)
    assert result.ambiguous is False and result.senses == []
    assert [h.id for h in result.hits] == [h.id for h in index.search(query, k=5).hits]
    with pytest.raises(SenseNotFoundError, match="single sense"):
        index.search(query, k=5, sense=0)


def test_cli_groups_results_under_sense_labels(towns_index: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(main, ["search", QUERY, "--index", str(towns_index), "-k", "6", "--disambiguate"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0] == "ambiguous: 2 senses" and lines[1].startswith("[0] ")
    assert sum(line.startswith("[") for line in lines) == 2 and "other results" in lines
    data = json.loads(
        runner.invoke(main, ["search", QUERY, "--index", str(towns_index), "-k", "6", "--sense", "1", "--json"]).stdout
    )
    assert data["ambiguous"] is True and len(data["senses"]) == 2
    assert data["hits"][0]["id"] == data["senses"][1]["hits"][0]
    assert all(isinstance(i, str) for s in data["senses"] for i in s["hits"])
    bad = runner.invoke(main, ["search", QUERY, "--index", str(towns_index), "--sense", "Kansas"])
    assert bad.exit_code == 1 and bad.stderr.startswith("error: no sense labelled 'Kansas'")
    plain = runner.invoke(main, ["search", "Kind of Blue", "--index", str(towns_index), "-k", "2", "--disambiguate"])
    assert plain.stdout.startswith("one sense: ranking unchanged\n  1. ")


def test_cli_prints_the_chosen_sense_first_under_its_own_number(towns_index: Path) -> None:
    runner = CliRunner()
    both = runner.invoke(main, ["search", QUERY, "--index", str(towns_index), "-k", "6", "--disambiguate"]).stdout
    second_label = next(line for line in both.splitlines() if line.startswith("[1] "))
    chosen = runner.invoke(main, ["search", QUERY, "--index", str(towns_index), "-k", "6", "--sense", "1"]).stdout
    assert chosen.splitlines()[1] == second_label  # first after the header, still numbered 1


def test_cli_prints_each_sense_in_the_order_of_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    """After --sense, the other senses keep rank order, so a leader can sit below another member: each group is
    printed in list order, its numbers rising, not in the sense's own (leader first) order."""
    from semsearch.cli.search import print_senses
    from semsearch.types import Hit, SearchResult, Sense

    a, b, c = (Hit(i, score, f"text {i}", {}) for i, score in (("a", 0.9), ("b", 1.0), ("c", 0.95)))
    result = SearchResult("q", [a, b, c], ambiguous=True, senses=[Sense("X", [c, b]), Sense("Y", [a])])
    print_senses(result, chosen="1")
    assert capsys.readouterr().out.splitlines() == [
        "ambiguous: 2 senses", "[1] Y", "    1. 0.9000  a  text a", "[0] X", "    2. 1.0000  b  text b",
        "    3. 0.9500  c  text c",
    ]  # fmt: skip
