"""Searching an index from Python: the interface in INTERFACE.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import semsearch
from semsearch.errors import FilterError, IndexDamagedError, IndexNotFoundError


def test_open_missing_or_damaged_index_is_a_clear_error(tmp_path: Path, sample_index: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="no index at"):
        semsearch.open(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexNotFoundError, match="manifest.json is missing"):
        semsearch.open(tmp_path / "empty")
    (tmp_path / "empty" / "manifest.json").write_text("{trunc")
    with pytest.raises(IndexDamagedError, match="manifest.json is damaged"):
        semsearch.open(tmp_path / "empty")


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_search_returns_k_distinct_documents_best_first(sample_index: Path, mode: str) -> None:
    result = semsearch.open(sample_index).search("vitamin D and bone health", k=7, mode=mode)
    assert len(result.hits) == 7
    assert len({h.id for h in result.hits}) == 7
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(h.text and isinstance(h.metadata, dict) for h in result.hits)
    assert result.ambiguous is None and result.senses == []


def test_query_of_stop_words_only(sample_index: Path) -> None:
    """BM25 has no term to score ("M&M's" is an NFCorpus query); hybrid falls back to the dense ranking (with
    feedback, the dense ranking of the moved query)."""
    index = semsearch.open(sample_index)
    bm25 = index.search("M&M's", k=5, mode="bm25")
    assert bm25.hits == [] and bm25.notes == ["the query has no word BM25 can match (only stop words or symbols)"]
    hybrid = index.search("M&M's", k=5, mode="hybrid", feedback=False)
    assert [h.id for h in hybrid] == [h.id for h in index.search("M&M's", k=5, mode="dense").hits]
    assert "the ranking is the dense one alone" in hybrid.notes[0]
    fed = index.search("M&M's", k=5, mode="hybrid")  # the new index's default fusion feeds back
    assert index.fusion.feedback and [h.id for h in fed][:1] == [h.id for h in hybrid][:1] and fed.notes == hybrid.notes
    assert index.search("M&M's", k=5, mode="dense").notes == [] and index.search("vitamin", mode="bm25").notes == []


def test_dense_search_finds_the_relevant_abstract(sample_index: Path, sample_dir: Path) -> None:
    """The abstract that the first judged claim of the sample cites is in its dense top 10."""
    queries = {row["_id"]: row["text"] for row in map(json.loads, (sample_dir / "queries.jsonl").open())}
    qrels = [line.split("\t") for line in (sample_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]]
    query_id, doc_id, _ = qrels[0]
    hits = semsearch.open(sample_index).search(queries[query_id], k=10, mode="dense").hits
    assert doc_id in [h.id for h in hits]


def test_where_filter_applies_before_top_k(sample_index: Path, sample_docs: list[dict]) -> None:
    index = semsearch.open(sample_index)
    assert "id" in index.fields() and "title" in index.fields()
    wanted = sorted(d["_id"] for d in sample_docs[:2])
    hits = index.search("cancer", k=5, mode="dense", where=f"id IN ('{wanted[0]}', '{wanted[1]}')").hits
    assert sorted(h.id for h in hits) == wanted
    with pytest.raises(FilterError, match="unknown field"):
        index.search("cancer", where="year > 3")
    with pytest.raises(FilterError, match="no predicted labels"):
        index.search("cancer", label="x")


def test_result_json_shape(sample_index: Path) -> None:
    data = semsearch.open(sample_index).search("protein folding", k=3).to_json()
    assert set(data) == {"query", "hits", "ambiguous", "senses", "notes"}  # docs/interface.md's, and notes
    assert set(data["hits"][0]) == {"id", "score", "text", "metadata"}  # an index without a classifier
    assert data["notes"] == []
    json.dumps(data)


def test_the_store_is_a_table_lancedb_opens(sample_index: Path) -> None:
    """Outside tools read an index's store: it is the LanceDB table "chunks" (docs/indexing.md)."""
    lancedb = pytest.importorskip("lancedb")
    table = lancedb.connect(sample_index / "store").open_table("chunks")
    assert table.count_rows("chunk = 0") == len(semsearch.open(sample_index))


def test_backends_agree_on_the_sample(sample_index: Path) -> None:
    faiss = semsearch.open(sample_index, backend="faiss")
    lance = semsearch.open(sample_index, backend="lancedb")
    for query in ["vitamin D", "stem cell reprogramming", "malaria in children"]:
        assert [h.id for h in faiss.search(query, k=10, mode="dense").hits] == [
            h.id for h in lance.search(query, k=10, mode="dense").hits
        ]


def test_the_query_encoder_loads_once_per_process(sample_index: Path) -> None:
    import semsearch

    first, second = semsearch.open(sample_index), semsearch.open(sample_index)
    assert first.encoder is second.encoder
    assert first.encoder.precision is first.manifest.precision


def test_fusion_per_search_and_per_index(sample_index: Path, tmp_path: Path) -> None:
    import shutil

    from semsearch.errors import OptionError
    from semsearch.types import DEFAULT_FUSION, Fusion

    index = semsearch.open(sample_index)
    query = "vitamin D and bone health"
    dense = [doc for doc, _ in index.rank(query, 10, "dense")]
    lexical = [doc for doc, _ in index.rank(query, 10, "bm25")]
    assert index.fusion == DEFAULT_FUSION and dense != lexical  # a new index's
    assert [doc for doc, _ in index.rank(query, 10, fusion="convex:1")] == dense
    assert [doc for doc, _ in index.rank(query, 10, fusion="convex:0")] == lexical
    convex = [doc for doc, _ in index.rank(query, 10, fusion="convex:0.4")]
    default = [doc for doc, _ in index.rank(query, 10, fusion=DEFAULT_FUSION)]
    assert [hit.id for hit in index.search(query, k=10).hits] == default != convex
    assert [hit.id for hit in index.search(query, k=10, fusion=Fusion.parse("convex:0.4")).hits] == convex
    with pytest.raises(OptionError, match="fusion='convex:2'"):
        index.search(query, fusion="convex:2")
    copy = tmp_path / "idx"
    shutil.copytree(sample_index, copy)
    semsearch.open(copy).set_fusion("convex:0.4")
    reopened = semsearch.open(copy)
    assert reopened.fusion == Fusion.parse("convex:0.4") and reopened.info().to_json()["fusion"] == "convex:0.4:minmax"
    assert [hit.id for hit in reopened.search(query, k=10).hits] == convex  # the index's own, unless a search says
    assert [hit.id for hit in reopened.search(query, k=10, fusion="rrf").hits] != convex


@pytest.mark.slow
def test_tune_chooses_on_pseudo_queries_and_records_the_evidence(sample_index: Path, tmp_path: Path) -> None:
    """About a minute on 2 cores: 150 of the sample's documents are encoded again, their query taken out."""
    import shutil

    copy = tmp_path / "idx"
    shutil.copytree(sample_index, copy)
    made = semsearch.open(copy).tune()
    assert made.queries >= 100 and made.scores["bm25"] > 0.5 and made.scores["dense"] > 0.5
    assert len(made.scores) == 2 + 1 + 10  # dense, BM25, RRF and ten convex candidates
    about = semsearch.open(copy).info()
    assert about.fusion == made.fusion and about.fusion_evidence == json.loads(json.dumps(made.to_json()))


@pytest.mark.parametrize("windows", [100_000, 100])
def test_convex_hybrid_scores_each_candidate_in_both_retrievers(
    sample_index: Path, windows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Complete fusion against brute force: every document of either top 100 has its exact BM25 score and
    its exact best-window cosine, or, past the windows the dense side scores (all of them, or 100 x 4
    of the sample's), the last scored window's cosine, which bounds it from above."""
    import numpy as np

    import semsearch.facade.hybrid as facade
    from semsearch.ranking import convex_fusion
    from semsearch.types import Normalisation

    monkeypatch.setattr(facade, "COMPLETE_WINDOWS", windows)
    index = semsearch.open(sample_index)
    query = "vitamin D and bone health"
    rows = index.store.scan(["doc_id", "vector"])
    vectors = np.asarray(rows["vector"].combine_chunks().flatten().to_numpy(), dtype=np.float32)
    cosines = vectors.reshape(rows.num_rows, -1) @ index.query_vector(query)
    best: dict[str, float] = {}
    for doc, cosine in zip(rows["doc_id"].to_pylist(), cosines.tolist(), strict=True):
        best[doc] = max(best.get(doc, -2.0), cosine)
    scored = max(windows, 400)
    assert rows.num_rows > 400  # so the second case leaves windows unscored
    floor = float(np.sort(cosines)[::-1][scored - 1]) if rows.num_rows > scored else None
    dense = sorted(best.items(), key=lambda item: -item[1])[:100]
    lexical = index.rank(query, 100, "bm25")
    bm25 = index.bm25.scores(query)
    reached = {doc for doc, cosine in best.items() if floor is None or cosine >= floor}
    dense_others = {doc: score if doc in reached else floor for doc, score in best.items()}
    assert floor is None or all(dense_others[doc] >= best[doc] for doc in dense_others)
    lexical_others = {doc: float(bm25[index.bm25.position[doc]]) for doc in best}
    expected = convex_fusion(dense, lexical, 0.5, Normalisation.MINMAX, (dense_others, lexical_others))[:10]
    got = index.rank(query, 10, fusion="convex:0.5")
    assert [doc for doc, _ in got] == [doc for doc, _ in expected]
    assert np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-6)
    assert (floor is None) == (windows == 100_000)  # every window scored, or some left at the floor


def test_a_forked_child_gets_its_own_search_threads() -> None:
    """The parent's side threads (BM25 beside the encoding) do not survive a fork: a child that used the
    inherited pool would wait forever. Run in a fresh interpreter that loads nothing fork-unsafe."""
    import subprocess
    import sys

    script = (
        "import os, signal\n"
        "from semsearch.facade.hybrid import side_thread\n"
        "assert side_thread().submit(lambda: 1).result() == 1\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    signal.alarm(20)\n"
        "    os._exit(0 if side_thread().submit(lambda: 2).result() == 2 else 1)\n"
        "_, status = os.waitpid(pid, 0)\n"
        "raise SystemExit(os.waitstatus_to_exitcode(status))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_feedback_searches_again_with_the_query_moved_towards_the_first_rankings_top_two(
    sample_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new index's fusion feeds back: its search is the one the moved query vector gets without feedback,
    Rocchio over the best stored windows of the first fusion's top two documents, the BM25 side unchanged
    (the first pass holds every window of this small index, so scoring them again is the whole search)."""
    import numpy as np

    from semsearch.errors import OptionError
    from semsearch.ranking import moved_query

    index = semsearch.open(sample_index)
    assert index.fusion == semsearch.Fusion.parse("convex:0.5:minmax+feedback")
    query = "vitamin D and bone health"
    vector = index.query_vector(query)
    top_two = [doc for doc, _ in index.rank(query, 2, feedback=False)]
    rows = index.store.chunks_of(top_two)
    vectors = np.asarray(rows["vector"].combine_chunks().flatten().to_numpy(), dtype=np.float32).reshape(
        rows.num_rows, -1
    )
    doc_of = rows["doc_id"].to_pylist()
    best = [vectors[max((i for i, d in enumerate(doc_of) if d == doc), key=lambda i: vectors[i] @ vector)]
            for doc in top_two]  # fmt: skip
    moved = moved_query(vector, np.stack(best), top_two).vector
    fed, plain = index.rank(query, 10), index.rank(query, 10, feedback=False)
    assert fed == index.rank(query, 10, feedback=True) == index.rank(query, 10, fusion="convex:0.5+feedback")
    assert fed != plain and float(moved @ vector) < 0.9999
    monkeypatch.setattr(index, "query_vector", lambda text: moved if text == query else vector)
    searched = index.rank(query, 10, feedback=False)  # the moved vector's search (FAISS's sums: last digits differ)
    assert [doc for doc, _ in fed] == [doc for doc, _ in searched]
    np.testing.assert_allclose([score for _, score in fed], [score for _, score in searched], rtol=1e-5)
    monkeypatch.undo()
    with pytest.raises(OptionError, match="hybrid mode only"):
        index.rank(query, 10, "dense", feedback=True)
    assert index.rank(query, 10, "dense") == index.rank(query, 10, "dense", feedback=False)  # nothing to turn off
    sensed = index.search(query, 10, disambiguate=True)  # senses among the feedback ranking
    pool = index.rank(query, max(10, index.disambiguation.candidates))
    assert len(sensed.hits) == 10 and {hit.id for hit in sensed.hits} <= {doc for doc, _ in pool}
    assert sensed.ambiguous is not None


def test_feedback_scores_the_first_passs_windows_again_when_the_index_holds_more(
    sample_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the first pass's windows there is no second search: the moved query scores the windows found,
    each document as its best of them, and a document of the BM25 list past them at the lowest."""
    import numpy as np

    from semsearch.facade import hybrid
    from semsearch.types import Fusion

    index = semsearch.open(sample_index)
    query = "vitamin D and bone health"
    monkeypatch.setattr(hybrid, "COMPLETE_WINDOWS", 12)
    dense, lexical, others, moved = hybrid.fusion_inputs(index, query, 3, None, Fusion.parse("convex:0.5+feedback"))
    first = index.vectors.search(index.query_vector(query), 12)
    assert len(first) == 12 and index.store.count_chunks() > 12 and moved is not None and len(moved.documents) == 2
    scores = index.store.vectors_of(first.ids) @ moved.vector
    best: dict[str, float] = {}
    for doc, score in zip(first.doc_ids, scores, strict=True):
        best[doc] = max(best.get(doc, -2.0), float(score))
    expected = sorted(best.items(), key=lambda item: -item[1])
    assert [doc for doc, _ in dense] == [doc for doc, _ in expected[:3]]
    np.testing.assert_allclose([score for _, score in dense], [score for _, score in expected[:3]], rtol=1e-5)
    assert others is not None
    past = [doc for doc, _ in lexical if doc not in best]
    assert past and all(abs(others[0][doc] - float(scores.min())) < 1e-5 for doc in past)
