"""Are the token shares faithful, and what does explaining cost? (issue 23), on SciFact test queries.

    .venv/bin/python benchmarks/explain.py                 # 10 queries (100 hits); copies the fp32 SciFact index
    .venv/bin/python benchmarks/explain.py --queries 300   # every test query (hours: leave-one-out is slow)
    .venv/bin/python benchmarks/explain.py --index DIR     # another mean-pooled index of SciFact

For each of the first N test queries (in file order) and each of its dense top-10 hits, the scored window
is cut again as the index cut it, and m = 1, 3, 5 of its words are deleted (their word pieces removed from
the window's token ids, [CLS] and [SEP] kept), then the window is re-encoded and scored against the query.
The words deleted are:

- attributed: the m largest dense shares of the explanation (``search(..., explain=True)``), and the m whose
  share most exceeds what as many tokens would have at the window's average share (score / tokens): a word of
  three pieces has about three times a one-piece word's share just for its length;
- random: m words drawn at random (the mean over 3 draws);
- leave-one-out, as txtai's explain does it: every word deleted on its own and the window re-encoded each
  time; the m whose deletion lowers the score most, then deleted together.

The table gives the mean score drop (full window's cosine minus the cosine after deletion) of each. Also:
the largest gap between the shares' sum and the window's cosine over every hit (the identity is exact, so
float rounding only), the largest gap between that cosine and the stored vector's, and the time: what
``explain=True`` adds to a search of 10 hits (dense and hybrid), against leave-one-out per hit.

Leave-one-out dominates the run: about 100 encodings of a 128-token window per hit, some 3 s a hit on 2 cores.
5 queries took 247 s there (the run in benchmarks/RESULTS.md), so the default of 10 should take about 8 minutes.

The index is never written: without --index, the fp32 index of the main checkout is copied to
indexes/bench-scifact-explain first (or SciFact is indexed there when no such index exists).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Measure the checkout this script belongs to, not whichever semsearch the interpreter has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semsearch import Index
from semsearch.chunking import ChunkConfig
from semsearch.encoder import Encoder
from semsearch.evaluation import load_qrels, load_queries
from semsearch.explain import Explanation
from semsearch.explain.dense import TokenWindow, document_windows
from semsearch.ingest import IndexOptions, build_index
from semsearch.types import Hit, Pooling, Precision

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"
PREBUILT = ROOT.parent / "main" / "indexes" / "bench-scifact-mean-fp32"
INDEX = ROOT / "indexes" / "bench-scifact-explain"
K = 10
DELETIONS = (1, 3, 5)
RANDOM_DRAWS = 3
SEED = 23


def ready_index(given: Path | None) -> Path:
    """The index to measure: ``given``, else a copy of the prebuilt fp32 index, else one built here."""
    if given is not None:
        return given
    if not INDEX.exists():
        if PREBUILT.exists():
            print(f"copying {PREBUILT} to {INDEX}", file=sys.stderr)
            shutil.copytree(PREBUILT, INDEX)
        else:
            print(f"indexing {SCIFACT} into {INDEX}", file=sys.stderr)
            build_index(SCIFACT, INDEX, IndexOptions(precision=Precision.FP32))
    return INDEX


def word_groups(window: TokenWindow) -> list[list[int]]:
    """Token positions of each word of ``window``, in order (as :func:`semsearch.explain.dense.word_shares`
    groups them: consecutive pieces of one tokenizer word)."""
    groups: list[list[int]] = []
    last: int | None = None
    for position, word in enumerate(window.words):
        if word is not None and word == last:
            groups[-1].append(position)
        elif word is not None:
            groups.append([position])
        last = word
    return groups


def without(ids: Sequence[int], groups: list[list[int]], words: Sequence[int]) -> list[int]:
    """``ids`` with the pieces of ``words`` (indexes into ``groups``) removed."""
    dropped = {position for word in words for position in groups[word]}
    return [token for position, token in enumerate(ids) if position not in dropped]


class Hits:
    """The windows of one query's hits and the variants to score, collected so they encode in batches."""

    def __init__(self) -> None:
        self.variants: list[list[int]] = []
        self.owner: list[tuple[int, str, int]] = []  # (hit, method, m)

    def add(self, hit: int, method: str, m: int, ids: list[int]) -> None:
        self.variants.append(ids)
        self.owner.append((hit, method, m))


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def cpu_name() -> str:
    """The CPU's model name and widest vector instructions, as /proc/cpuinfo gives them."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())
    widest = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name} ({widest}{', VNNI' if flags & {'avx512_vnni', 'avx_vnni'} else ''})"


def ms(values: Sequence[float]) -> str:
    return f"{1000 * statistics.median(values):.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=10, help="how many test queries (in file order)")
    parser.add_argument("--index", type=Path, default=None, help="a mean-pooled SciFact index (never written)")
    args = parser.parse_args()
    began = time.perf_counter()

    index = Index.open(ready_index(args.index))
    if index.manifest.pooling is not Pooling.MEAN:
        raise SystemExit("this benchmark measures the exact decomposition of mean pooling: give a mean-pooled index")
    queries = load_queries(SCIFACT / "queries.jsonl")
    judged = load_qrels(SCIFACT / "qrels" / "test.tsv")
    chosen = [(qid, text) for qid, text in queries.items() if qid in judged][: args.queries]
    bulk = Encoder(index.manifest.model_spec, index.manifest.pooling, index.manifest.precision)  # every core
    config = ChunkConfig(index.manifest.max_length, index.manifest.overlap)
    rng = random.Random(SEED)
    bulk_threads = "every core" if bulk.threads is None else f"{bulk.threads} threads"

    drops: dict[tuple[str, int], list[float]] = {}
    share_gap, stored_gap, words_per_window = 0.0, 0.0, []
    added: dict[str, list[float]] = {"dense": [], "hybrid": []}
    plain: dict[str, list[float]] = {"hybrid": []}
    loo_seconds: list[float] = []
    index.search("warm up the encoder and the BM25 index", k=K, explain=True)
    for number, (_, query) in enumerate(chosen, start=1):
        _, first = timed(index.search, query, k=K)  # a hybrid search as a user runs it: encodes the query
        plain["hybrid"].append(first)
        for mode in ("hybrid", "dense"):
            _, cached = timed(index.search, query, k=K, mode=mode)  # the query vector is cached from here on
            result, explained = timed(index.search, query, k=K, mode=mode, explain=True)
            plain.setdefault(f"{mode} cached", []).append(cached)
            added[mode].append(explained - cached)
        hits: list[Hit] = list(result.hits)
        vector = index.query_vector(query)
        batch = Hits()
        windows = []
        for position, hit in enumerate(hits):
            e = hit.explanation
            assert isinstance(e, Explanation) and e.dense is not None
            share_gap = max(share_gap, e.dense.gap)
            stored_gap = max(stored_gap, abs(e.dense.score - (e.dense.stored_score or 0.0)))
            window = document_windows(bulk.tokenizer, hit.text, config)[e.window_number]
            groups = word_groups(window)
            shares = [t.score for t in e.dense_tokens if not t.special]
            spans = [(t.start, t.end) for t in e.dense_tokens if not t.special]
            assert len(shares) == len(groups) and spans[0][0] == window.offsets[groups[0][0]][0]
            words_per_window.append(len(groups))
            windows.append((window, groups, shares))
            batch.add(position, "full", 0, window.ids)
            order = sorted(range(len(shares)), key=lambda i: -shares[i])
            average = e.dense.score / len(window.ids)  # a token's share if every token counted the same
            above = sorted(range(len(shares)), key=lambda i: -(shares[i] - len(groups[i]) * average))
            for m in DELETIONS:
                batch.add(position, "attributed", m, without(window.ids, groups, order[:m]))
                batch.add(position, "above average", m, without(window.ids, groups, above[:m]))
                for _ in range(RANDOM_DRAWS):
                    picked = rng.sample(range(len(groups)), min(m, len(groups)))
                    batch.add(position, "random", m, without(window.ids, groups, picked))
        scores = bulk.encode_ids(batch.variants) @ vector
        full = {hit: float(s) for (hit, method, _), s in zip(batch.owner, scores, strict=True) if method == "full"}
        for (hit, method, m), score in zip(batch.owner, scores, strict=True):
            if method != "full":
                drops.setdefault((method, m), []).append(full[hit] - float(score))
        # leave-one-out: every word deleted on its own, the window re-encoded each time
        singles = [without(w.ids, g, [i]) for w, g, _ in windows for i in range(len(g))]
        encoded, seconds = timed(bulk.encode_ids, singles)
        loo_scores = encoded @ vector
        loo_seconds.append(seconds / len(windows))
        combined: list[list[int]] = []
        at = 0
        for window, groups, _ in windows:
            own = loo_scores[at : at + len(groups)]
            at += len(groups)
            order = list(np.argsort(own, kind="stable"))  # lowest score after deletion = largest drop
            combined += [without(window.ids, groups, order[:m]) for m in DELETIONS]
        for (position, m), score in zip(
            [(p, m) for p in range(len(windows)) for m in DELETIONS], bulk.encode_ids(combined) @ vector, strict=True
        ):
            drops.setdefault(("leave-one-out", m), []).append(full[position] - float(score))
        print(f"{number}/{len(chosen)} queries", file=sys.stderr, end="\r")
    print(file=sys.stderr)

    hits_count = len(drops[("attributed", 1)])
    names = {
        "attributed": "attributed (largest token shares)",
        "above average": "attributed (largest shares above the average share of as many tokens)",
        "random": f"random words (mean of {RANDOM_DRAWS} draws)",
        "leave-one-out": "leave-one-out (txtai-style)",
    }
    per_hit = [seconds / K for seconds in added["dense"]]
    cost = {
        "attributed": f"{ms(per_hit)} per hit (1 thread, the query path's)",
        "above average": "(the same explanation)",
        "random": "-",
        "leave-one-out": f"{ms(loo_seconds)} per hit ({statistics.mean(words_per_window):.0f} encodings, "
        f"{bulk_threads})",
    }
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores")
    print(f"SciFact test, first {len(chosen)} queries, dense top {K}: {hits_count} hits; index {index.directory} "
          f"({index.manifest.precision}); re-scored with {bulk.engine} {bulk.precision}")  # fmt: skip
    print()
    print("| words deleted | mean drop, m=1 | m=3 | m=5 | time per explanation (median) |")
    print("|---|---|---|---|---|")
    for method in ("attributed", "above average", "random", "leave-one-out"):
        cells = " | ".join(f"{statistics.mean(drops[(method, m)]):.4f}" for m in DELETIONS)
        print(f"| {names[method]} | {cells} | {cost[method]} |")
    print()
    print(f"- shares sum to the window's cosine: max absolute gap {share_gap:.1e} over {hits_count} hits")
    print(f"- window re-encoded now against its stored vector: max absolute cosine gap {stored_gap:.1e}")
    print(f"- words per window: mean {statistics.mean(words_per_window):.1f}, max {max(words_per_window)}")
    print(f"- explain=True adds, per search of {K} hits (median): dense {ms(added['dense'])}, hybrid "
          f"{ms(added['hybrid'])}; the search without it: hybrid {ms(plain['hybrid'])} with the query encoded, "
          f"{ms(plain['hybrid cached'])} with its vector cached, dense {ms(plain['dense cached'])} cached")  # fmt: skip
    print(f"- leave-one-out costs {statistics.median(loo_seconds) / statistics.median(per_hit):.0f}x an explanation "
          f"per hit; the whole run took {time.perf_counter() - began:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
