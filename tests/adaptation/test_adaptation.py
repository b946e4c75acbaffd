"""`semsearch adapt` on a tiny random BERT: the pieces, the gate, resume, determinism, and the index round trip.

The tiny model learns nothing useful in a few steps; these tests check the mechanics. Whether
adaptation helps on real corpora is measured by benchmarks/adapt.py.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import write_jsonl
from safetensors.torch import load_file

from semsearch.adaptation import AdaptOptions, ContrastiveSettings, MLMSettings, adapt, gate, pairs
from semsearch.adaptation.callbacks import LossBar
from semsearch.adaptation.losses import LexicalBias
from semsearch.adaptation.mlm import masked_lm, windows
from semsearch.adaptation.texts import Passage, load_passages, sentences, split_held_out
from semsearch.bm25 import BM25, tokenize
from semsearch.cli import main
from semsearch.encoder import Encoder
from semsearch.errors import OptionError
from semsearch.models import weights_sha256

SMALL = AdaptOptions(
    mlm=MLMSettings(steps=3, batch_size=4, max_length=32),
    contrastive=ContrastiveSettings(steps=3, batch_size=4, max_length=32),
    held_out_fraction=0.25,
    progress=False,
)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory, sample_docs: list[dict]) -> Path:
    """80 SciFact abstracts: 20 held out, 60 to train on."""
    return write_jsonl(tmp_path_factory.mktemp("adapt") / "corpus.jsonl", sample_docs[:80])


def options(tiny_model: Path, **changes: object) -> AdaptOptions:
    return replace(SMALL, base=str(tiny_model), **changes)  # type: ignore[arg-type]


def test_held_out_split_is_seeded_disjoint_and_independent_of_order(small_corpus: Path) -> None:
    passages = load_passages(small_corpus)
    split = split_held_out(passages, 0.25, 500, seed=3)
    shuffled = list(passages)
    random.Random(1).shuffle(shuffled)
    again = split_held_out(shuffled, 0.25, 500, seed=3)
    other_seed = split_held_out(passages, 0.25, 500, seed=4)
    held = {p.id for p in split.held_out}
    assert len(held) == 20 and not held & {p.id for p in split.train}
    assert held == {p.id for p in again.held_out}
    assert held != {p.id for p in other_seed.held_out}
    assert len(split_held_out(passages, 0.25, 7, seed=3).held_out) == 7


def test_titles_are_kept_apart_from_the_body(small_corpus: Path, sample_docs: list[dict]) -> None:
    passage = load_passages(small_corpus)[0]
    assert passage.title == sample_docs[0]["title"].strip()
    assert passage.body == sample_docs[0]["text"].strip()
    assert passage.text.startswith(passage.title)


def test_inverse_cloze_query_is_removed_from_its_document() -> None:
    body = (
        "Vitamin D levels were measured in 400 adults over two winters. "
        "Deficiency was associated with a higher rate of respiratory infection in the cohort. "
        "The effect remained after adjustment for age, smoking and body mass index in every model."
    )
    passage = Passage("d1", "Vitamin D and infection in adults", body)
    assert len(sentences(body)) == 3
    queries = pairs.sentence_queries(passage, random.Random(0), count=3)
    assert len(queries) == 3
    for query in queries:
        assert query.query in body and query.query not in query.positive
        assert query.positive.startswith(passage.title)
    title = pairs.title_query(passage)
    assert title is not None and title.query == passage.title and title.positive == body


def test_training_queries_come_in_rounds_one_per_document_first(small_corpus: Path) -> None:
    passages = load_passages(small_corpus)
    queries = pairs.training_queries(passages, sentences_per_doc=2, seed=0)
    first_round = queries[: len(passages)]
    assert len({q.doc_id for q in first_round}) == len(first_round)
    assert {q.kind for q in queries} == {pairs.QueryKind.TITLE, pairs.QueryKind.SENTENCE}
    assert queries == pairs.training_queries(passages, sentences_per_doc=2, seed=0)


def test_bm25_negative_is_another_document_sharing_words(small_corpus: Path) -> None:
    passages = load_passages(small_corpus)
    queries = pairs.training_queries(passages, 1, seed=0)[:30]
    triplets = pairs.mine_negatives(queries, passages, depth=5, seed=0, progress=False)
    assert len(triplets) >= 25
    text = {p.id: p.text for p in passages}
    bm25 = BM25.build([p.id for p in passages], [p.text for p in passages])
    for triplet in triplets:
        found = [doc for doc, _ in bm25.top(triplet.query, 6)]
        assert triplet.source_rank == (found.index(triplet.doc_id) + 1 if triplet.doc_id in found else 0)
        assert triplet.negative_id != triplet.doc_id
        assert triplet.negative == text[triplet.negative_id]
        query_terms, negative_terms = tokenize([triplet.query, triplet.negative])
        assert set(query_terms) & set(negative_terms)  # BM25's own (stemmed) terms
    share = pairs.bm25_first_share(triplets)
    assert share == sum(t.source_rank == 1 for t in triplets) / len(triplets)
    assert share > 0.8  # a sentence shares its rare words with the rest of its abstract


def test_lexical_scorer_gives_a_document_the_score_bm25s_gives_it(small_corpus: Path) -> None:
    passages = load_passages(small_corpus)
    scorer = pairs.LexicalScorer.fit(passages)
    text = {p.id: p.text for p in passages}
    bm25 = BM25.build([p.id for p in passages], [p.text for p in passages])
    for query in ("vitamin deficiency increases infection risk in children", "tumour cells grow in mice"):
        found = bm25.top(query, 10)
        assert found
        (bag,) = scorer.bags([query])
        for doc, score in found:
            assert scorer.score(bag, scorer.bags([text[doc]])[0]) == pytest.approx(score, rel=1e-5)


def test_lexical_bias_is_each_querys_bm25_over_the_batch_divided_by_its_best(small_corpus: Path) -> None:
    passages = load_passages(small_corpus)
    triplets = pairs.mine_negatives(pairs.training_queries(passages, 1, 0)[:8], passages, 5, 0, progress=False)
    scorer = pairs.LexicalScorer.fit(passages)
    bias = LexicalBias(triplets, scorer)
    rows = [5, 2, 7]
    matrix = bias(rows, hard_negatives=True)
    candidates = scorer.bags([triplets[r].positive for r in rows] + [triplets[r].negative for r in rows])
    for i, r in enumerate(rows):
        raw = [scorer.score(scorer.bags([triplets[r].query])[0], bag) for bag in candidates]
        assert matrix[i].tolist() == pytest.approx([x / max(raw) for x in raw], rel=1e-5)
        assert raw[i] > 0  # its own document shares its words
    assert tuple(bias(rows, hard_negatives=False).shape) == (3, 3)


def test_triplets_round_trip_through_jsonl(tmp_path: Path, small_corpus: Path) -> None:
    passages = load_passages(small_corpus)
    triplets = pairs.mine_negatives(pairs.training_queries(passages, 1, 0)[:5], passages, 5, 0, progress=False)
    pairs.save_triplets(tmp_path / "t.jsonl", triplets)
    assert pairs.load_triplets(tmp_path / "t.jsonl") == triplets


def test_masked_lm_head_shares_the_word_embeddings(tiny_model: Path) -> None:
    model = masked_lm(tiny_model)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert (
        model.get_output_embeddings().weight.data_ptr() == model.base_model.embeddings.word_embeddings.weight.data_ptr()
    )


def test_mlm_windows_mark_special_tokens(tiny_model: Path, small_corpus: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    rows = windows(tokenizer, load_passages(small_corpus)[:5], max_length=32)
    assert len(rows) > 5  # abstracts are longer than one 32-token window
    for row in rows:
        assert len(row["input_ids"]) <= 32
        assert row["special_tokens_mask"][0] == 1 and row["special_tokens_mask"][-1] == 1
        assert row["input_ids"][0] == tokenizer.cls_token_id


def test_blend_moves_every_weight_the_given_share_of_the_way_from_the_base(tiny_model: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from semsearch.adaptation.train import blend_into_base

    base = SentenceTransformer(str(tiny_model), device="cpu")
    trained = SentenceTransformer(str(tiny_model), device="cpu")
    for tensor in trained.state_dict().values():
        if tensor.is_floating_point():
            tensor.add_(1.0)
    blend_into_base(trained, base, 0.25)
    blended, original = trained.state_dict(), base.state_dict()
    floats = [name for name, tensor in original.items() if tensor.is_floating_point()]
    assert floats and all(np.allclose(blended[n].numpy(), original[n].numpy() + 0.25, atol=1e-6) for n in floats)
    blend_into_base(trained, base, 0.0)
    assert all(np.array_equal(trained.state_dict()[n].numpy(), original[n].numpy()) for n in floats)
    with pytest.raises(OptionError, match="blend=1.5"):
        AdaptOptions(blend=1.5)


def test_gate_promotes_only_a_clear_gain() -> None:
    queries = [pairs.PseudoQuery(str(i), pairs.QueryKind.SENTENCE, "q", "d") for i in range(100)]
    rng = np.random.default_rng(0)
    base = rng.integers(1, 30, size=100)
    better = np.maximum(1, base - 5)
    assert gate.judge(base, better, queries, seed=0).promoted
    same = gate.judge(base, base.copy(), queries, seed=0)
    assert not same.promoted and "not better" in same.reason
    worse = gate.judge(base, base + 3, queries, seed=0)
    assert not worse.promoted and worse.gain < 0
    noisy = base.copy()
    moved = int(np.flatnonzero(base > 1)[0])
    noisy[moved] = 1  # one query of 100 gets better: a gain, but too little to be sure of
    unsure = gate.judge(base, noisy, queries, seed=0)
    assert unsure.gain > 0 and not unsure.promoted and "could be noise" in unsure.reason
    few = gate.judge(base[:10], better[:10], queries[:10], seed=0)
    assert not few.promoted and "too small" in few.reason


def test_gate_promotes_only_when_hybrid_search_is_surely_better_too() -> None:
    queries = [pairs.PseudoQuery(str(i), pairs.QueryKind.SENTENCE, "q", "d") for i in range(100)]
    base = np.random.default_rng(0).integers(1, 30, size=100)
    better = np.maximum(1, base - 5)
    hybrid_base = np.random.default_rng(1).integers(1, 20, size=100)
    kept = gate.judge(base, better, queries, seed=0, hybrid=(hybrid_base, hybrid_base + 1))
    assert not kept.promoted and kept.hybrid_gain is not None and kept.hybrid_gain < 0
    assert "not surely better in hybrid search" in kept.reason and kept.hybrid_adapted is not None
    same = gate.judge(base, better, queries, seed=0, hybrid=(hybrid_base, hybrid_base))
    assert not same.promoted and same.hybrid_gain == 0  # dense is better, hybrid only not worse: kept
    slightly = hybrid_base.copy()
    slightly[int(np.flatnonzero(hybrid_base > 1)[0])] = 1  # one query of 100 better in hybrid: not sure
    unsure = gate.judge(base, better, queries, seed=0, hybrid=(hybrid_base, slightly))
    assert unsure.hybrid_gain is not None and unsure.hybrid_gain > 0
    assert not unsure.promoted and unsure.hybrid_confidence is not None and unsure.hybrid_confidence < gate.CONFIDENCE
    promoted = gate.judge(base, better, queries, seed=0, hybrid=(hybrid_base, np.maximum(1, hybrid_base - 4)))
    assert promoted.promoted and promoted.hybrid_confidence is not None
    assert promoted.hybrid_confidence >= gate.CONFIDENCE and "hybrid search: nDCG@10 +" in promoted.reason


def test_gate_fuses_like_the_engine() -> None:
    dense = np.array([[0.9, 0.8, 0.1], [0.2, 0.5, 0.4], [0.3, 0.2, 0.1]])
    lexical = np.array([[0.0, 5.0, 1.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    # query 0: dense ranks its document 1st, BM25 matches the other two: fused, both pass it
    assert gate.hybrid_ranks(dense, lexical).tolist() == [3, 1, 3]
    assert gate.own_ranks(dense).tolist() == [1, 1, 3]


def test_gate_ndcg_for_a_single_relevant_document() -> None:
    ranks = np.array([1, 2, 10, 11])
    assert np.allclose(gate.ndcg_at_10(ranks), [1.0, 1 / np.log2(3), 1 / np.log2(11), 0.0])
    scores = gate.summarise(ranks)
    assert scores.recall_at_10 == 0.75 and scores.mrr_at_10 == pytest.approx((1 + 0.5 + 0.1) / 4)


def test_gate_scores_a_document_by_its_best_window_as_the_index_does(tiny_model: Path) -> None:
    from sentence_transformers import SentenceTransformer

    from semsearch.chunking import ChunkConfig, split

    model = SentenceTransformer(str(tiny_model), device="cpu")
    rng = random.Random(0)
    vocabulary = ["cell", "protein", "mouse", "tumour", "gene", "blood", "dose", "trial", "brain", "virus"]
    long_doc = " ".join(rng.choice(vocabulary) for _ in range(400))
    chunks = split(model.tokenizer, [long_doc], ChunkConfig(min(128, model.max_seq_length), 32))
    assert len(chunks) >= 3
    tail = long_doc[chunks[-1].start : chunks[-1].end]  # seen only by a document's later windows
    others = [" ".join(rng.choice(vocabulary) for _ in range(60)) for _ in range(5)]
    queries = [pairs.PseudoQuery("long", pairs.QueryKind.SENTENCE, tail, long_doc)]
    queries += [pairs.PseudoQuery(str(i), pairs.QueryKind.SENTENCE, text, text) for i, text in enumerate(others)]
    assert gate.ranks(model, queries).tolist() == [1] * 6  # each query is one of its own document's windows


class _Interrupt(LossBar):
    """Raises KeyboardInterrupt after ``after`` steps of the contrastive stage, as Ctrl-C would."""

    after = 2

    def on_step_end(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
        super().on_step_end(args, state, control, **kwargs)
        if self.description.startswith("stage 2") and state.global_step == self.after:
            raise KeyboardInterrupt


def test_adapt_writes_a_model_dir_resumes_and_is_deterministic(
    tiny_model: Path, small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    straight = adapt(small_corpus, tmp_path / "a", options(tiny_model, keep_work=True))
    report = json.loads((tmp_path / "a" / "adapt_report.json").read_text())
    assert report["stages"]["mlm"]["steps"] == 3 and report["stages"]["contrastive"]["steps"] == 3
    assert report["gate"]["queries"] == 20 and report["held_out_documents"] == 20
    assert report["promoted"] == straight.promoted and (tmp_path / "a" / "adapt_report.md").is_file()
    mined = pairs.load_triplets(tmp_path / "a.work" / "triplets.jsonl")
    assert report["bm25_first_share"] == pairs.bm25_first_share(mined)
    assert f"first for {report['bm25_first_share']:.0%} of those" in straight.summary
    assert report["recipe"]["contrastive"]["lexical_weight"] == 0.0
    assert "no lexical residual (weight 0)" in straight.summary
    candidate = load_file(tmp_path / "a.work" / "candidate" / "model.safetensors")
    base = load_file(tiny_model / "model.safetensors")
    assert any(not np.array_equal(candidate[k].numpy(), base[k].numpy()) for k in base if k in candidate)
    kept_weights = weights_sha256(tmp_path / "a")
    assert kept_weights == (
        weights_sha256(tmp_path / "a.work" / "candidate") if straight.promoted else weights_sha256(tiny_model)
    )

    import semsearch.adaptation.train as train_module

    monkeypatch.setattr(train_module, "LossBar", _Interrupt)
    with pytest.raises(KeyboardInterrupt):
        adapt(small_corpus, tmp_path / "b", options(tiny_model, keep_work=True))
    state = json.loads((tmp_path / "b.work" / "state.json").read_text())
    assert "mlm" in state["stages"] and "contrastive" not in state["stages"]
    monkeypatch.undo()
    resumed = adapt(small_corpus, tmp_path / "b", options(tiny_model, keep_work=True))
    assert resumed.report["stages"]["contrastive"]["steps"] == 3
    again = load_file(tmp_path / "b.work" / "candidate" / "model.safetensors")
    assert all(np.array_equal(candidate[k].numpy(), again[k].numpy()) for k in candidate)

    with pytest.raises(Exception, match="other settings"):
        adapt(small_corpus, tmp_path / "b", options(tiny_model, seed=1, work_dir=tmp_path / "b.work"))


def test_promoted_model_is_indexed_and_loaded_back(
    tiny_model: Path, small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Force the gate open to check the promoted path; the index records and reloads that model."""
    real_judge = gate.judge

    def always_promote(*args, **kwargs):  # type: ignore[no-untyped-def]
        return replace(real_judge(*args, **kwargs), promoted=True, reason="forced by the test")

    monkeypatch.setattr(gate, "judge", always_promote)
    result = adapt(small_corpus, tmp_path / "model", options(tiny_model))
    assert result.promoted and not (tmp_path / "model.work").exists()
    out = tmp_path / "model"
    assert json.loads((out / "modules.json").read_text())[0]["path"] == ""
    assert weights_sha256(out) != weights_sha256(tiny_model)

    from semsearch import Index
    from semsearch.ingest import IndexOptions, build_index

    build_index(small_corpus, tmp_path / "index", IndexOptions(model=str(out), progress=False))
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text())
    assert manifest["model"]["path"] == str(out) and manifest["model"]["sha256"] == weights_sha256(out)
    index = Index.open(tmp_path / "index")
    assert index.search("vitamin D", k=3, mode="dense").hits
    assert index.encoder.identity.path == str(out)
    direct = Encoder(out).encode(["vitamin D"])
    assert np.allclose(index.encoder.encode(["vitamin D"]), direct)


def test_cli_adapt_and_its_errors(tiny_model: Path, small_corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli-model"
    arguments = ["adapt", str(small_corpus), "--out", str(out), "--base", str(tiny_model), "--max-steps", "1"]
    result = runner.invoke(main, [*arguments, "--json", "--lexical-weight", "8"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)  # the report alone on stdout; progress went to stderr
    assert report["stages"]["mlm"]["steps"] == 1 and report["stages"]["contrastive"]["steps"] == 1
    assert report["recipe"]["contrastive"]["lexical_weight"] == 8.0  # trained with row labels and BM25 logits
    assert "lexical residual, weight 8)" in (out / "adapt_report.md").read_text()
    assert (out / "adapt_report.json").is_file() and not Path(f"{out}.work").exists()

    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    refused = runner.invoke(main, ["adapt", str(small_corpus), "--out", str(taken), "--base", str(tiny_model)])
    assert refused.exit_code == 1 and "not an earlier adaptation's output" in refused.output
    missing = runner.invoke(main, ["adapt", str(tmp_path / "nope.jsonl"), "--out", str(out)])
    assert missing.exit_code == 1 and "no such file" in missing.output


@pytest.mark.slow
def test_default_model_on_the_small_sample_keeps_the_base(sample_dir: Path, tmp_path: Path) -> None:
    """300 abstracts: the gate has 30 queries, too few to show a gain, so the base stays (minutes on 2 cores)."""
    from semsearch.models import default_model_dir

    result = adapt(sample_dir, tmp_path / "model", AdaptOptions(progress=False))
    assert not result.promoted
    assert weights_sha256(tmp_path / "model") == weights_sha256(default_model_dir())
