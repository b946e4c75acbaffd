"""Vector search at 1M vectors: FAISS exact, FAISS HNSW, FAISS IVF-PQ and LanceDB, in one run.

    .venv/bin/python benchmarks/ann_1m.py                 # 1M x 384, 1,000 queries (about 30-40 min on 2 cores)
    .venv/bin/python benchmarks/ann_1m.py --n 200000      # a quicker look

Prints one table: build time, peak memory, index size, single-query p50/p99 latency and recall@10
against exact search, per configuration. Each configuration runs in its own subprocess so its peak RSS
(``ru_maxrss``) is its own; the RSS includes the process's copy of the vectors it indexes (``data MB``),
so the index's own cost is the difference. Queries run one at a time on ONE thread (the latency a
single request sees when the other core is busy); builds use every core.

How the vectors are made: like sentence embeddings, they are clustered (topics) and have a low
intrinsic dimension, which is what makes ANN indexes work on real data (uniform random 384-d vectors,
or isotropic 384-d noise around cluster centres, make every point nearly equidistant from every other
and ANN unrealistically hard). A latent vector z is drawn from a mixture of 2,000 Gaussians in 48
dimensions (centres N(0, 1), spread 0.5 per dimension, cluster sizes Zipf-like: a few big topics, many
small ones); the vector is z times a fixed random 48 x 384 matrix, plus small isotropic 384-d noise
(0.02 per dimension), L2-normalised. The queries are 1,000 more vectors drawn the same way (not in the
base set). Ground truth is exact inner-product top-10 (FAISS Flat).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's semsearch, not an installed one

DIM = 384
LATENT = 48
CLUSTERS = 2000
SPREAD = 0.5
NOISE = 0.02
K = 10
# name -> (kind, FAISS factory or LanceDB index type, search settings measured on the one build)
CONFIGS: dict[str, tuple[str, str, list[dict[str, int]]]] = {
    "FAISS Flat": ("faiss", "Flat", [{}]),
    "FAISS HNSW32,Flat": ("faiss", "HNSW32,Flat", [{"efSearch": 32}, {"efSearch": 64}, {"efSearch": 128}]),
    "FAISS IVF-PQ": ("faiss", "IVF{nlist},PQ96", [{"nprobe": 16}, {"nprobe": 64}]),
    "FAISS IVF-PQ + exact re-rank": ("faiss", "IVF{nlist},PQ96,RFlat", [{"nprobe": 16, "k_factor": 4}]),
    "LanceDB flat": ("lancedb", "none", [{}]),
    "LanceDB IVF_PQ": ("lancedb", "IVF_PQ", [{"nprobes": 20}, {"nprobes": 20, "refine_factor": 4}]),
    "LanceDB IVF_HNSW_SQ": ("lancedb", "IVF_HNSW_SQ", [{"nprobes": 16}]),
}


def make_vectors(n: int, seed: int) -> np.ndarray:
    """``n`` vectors of the distribution described above; the topics and projection are fixed (seed 0)."""
    shared = np.random.default_rng(0)
    centres = shared.normal(size=(CLUSTERS, LATENT)).astype(np.float32)
    projection = (shared.normal(size=(LATENT, DIM)) / np.sqrt(LATENT)).astype(np.float32)
    weights = 1.0 / np.arange(1, CLUSTERS + 1) ** 0.7
    weights = weights / weights.sum()
    rng = np.random.default_rng(seed + 1)
    out = np.empty((n, DIM), dtype=np.float32)
    for begin in range(0, n, 100_000):
        size = min(100_000, n - begin)
        latent = centres[rng.choice(CLUSTERS, size=size, p=weights)]
        latent += rng.normal(scale=SPREAD, size=(size, LATENT)).astype(np.float32)
        block = latent @ projection + rng.normal(scale=NOISE, size=(size, DIM)).astype(np.float32)
        out[begin : begin + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def ground_truth(base: np.ndarray, queries: np.ndarray) -> np.ndarray:
    import faiss

    index = faiss.IndexFlatIP(DIM)
    index.add(base)
    return index.search(queries, K)[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(name: str, workdir: Path) -> list[dict[str, object]]:
    """Build one configuration, then query it at each of its search settings (runs in a child process)."""
    kind, spec, settings = CONFIGS[name]
    base = np.load(workdir / "base.npy")
    nlist = 4096 if len(base) >= 1_000_000 else 2 ** round(np.log2(4 * np.sqrt(len(base))))  # ~4 sqrt(n) lists
    spec = spec.format(nlist=nlist)
    queries = np.load(workdir / "queries.npy")
    truth = np.load(workdir / "truth.npy")
    data_mb = rss_mb()
    started = time.perf_counter()
    make_search, size = (_faiss if kind == "faiss" else _lancedb)(spec, base, workdir)
    build = time.perf_counter() - started
    del base
    rows: list[dict[str, object]] = []
    for params in settings:
        search = make_search(params)
        latencies, found = [], []
        for query in queries[:20]:
            search(query)  # warm-up
        for query in queries:
            begin = time.perf_counter()
            ids = search(query)
            latencies.append((time.perf_counter() - begin) * 1000)
            found.append(ids)
        recall = float(np.mean([len(set(f[:K]) & set(t)) / K for f, t in zip(found, truth, strict=True)]))
        rows.append(
            {
                "setting": " ".join([spec, *(f"{k}={v}" for k, v in params.items())]),
                "build_s": build,
                "peak_rss_mb": peak_rss_mb(),
                "data_mb": data_mb,
                "index_mb": size / 2**20,
                "p50_ms": float(np.percentile(latencies, 50)),
                "p99_ms": float(np.percentile(latencies, 99)),
                "recall": recall,
            }
        )
    return rows


def _faiss(spec: str, base: np.ndarray, workdir: Path):
    import faiss

    index = faiss.index_factory(DIM, spec, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        index.train(base[:: max(1, len(base) // 200_000)])
    index.add(base)
    size = len(faiss.serialize_index(index))
    faiss.omp_set_num_threads(1)

    def make_search(params: dict[str, int]):
        search_params = None
        if "efSearch" in params:
            search_params = faiss.SearchParametersHNSW(efSearch=params["efSearch"])
        elif "k_factor" in params:
            search_params = faiss.IndexRefineSearchParameters(
                k_factor=params["k_factor"], base_index_params=faiss.SearchParametersIVF(nprobe=params["nprobe"])
            )
        elif "nprobe" in params:
            search_params = faiss.SearchParametersIVF(nprobe=params["nprobe"])
        return lambda query: index.search(query.reshape(1, -1), K, params=search_params)[1][0]

    return make_search, size


def _lancedb(spec: str, base: np.ndarray, workdir: Path):
    import lancedb
    import pyarrow as pa

    from semsearch.fsutil import size_on_disk

    path = workdir / "lance"
    db = lancedb.connect(path)
    flat = pa.array(base.reshape(-1))
    ids = pa.array(np.arange(len(base), dtype=np.int64))
    data = pa.table({"id": ids, "vector": pa.FixedSizeListArray.from_arrays(flat, DIM)})
    table = db.create_table("vectors", data, mode="overwrite")
    if spec != "none":
        options = {"num_partitions": 1024, "num_sub_vectors": 96} if spec == "IVF_PQ" else {"num_partitions": 256}
        table.create_index(metric="dot", vector_column_name="vector", index_type=spec, **options)
    size = size_on_disk(path)

    def make_search(params: dict[str, int]):
        def search(query: np.ndarray) -> np.ndarray:
            builder = table.search(query, vector_column_name="vector").distance_type("dot").select(["id"]).limit(K)
            if "nprobes" in params:
                builder = builder.nprobes(params["nprobes"])
            if "refine_factor" in params:
                builder = builder.refine_factor(params["refine_factor"])
            return builder.to_arrow()["id"].to_numpy()

        return search

    return make_search, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="Base vectors.")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS), metavar="NAME")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.workdir)))
        return

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ann1m-") as scratch:
        workdir = Path(scratch)
        base = make_vectors(args.n, seed=0)
        queries = make_vectors(args.queries, seed=1)
        np.save(workdir / "base.npy", base)
        np.save(workdir / "queries.npy", queries)
        np.save(workdir / "truth.npy", ground_truth(base, queries))
        del base
        print(f"{args.n:,} clustered {DIM}-d vectors, {args.queries} queries, top-{K}; data ready in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        rows = [
            "| configuration | search | build s | peak RSS MB | data MB | index MB | p50 ms | p99 ms | recall@10 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name in args.configs:
            child = subprocess.run(
                [sys.executable, __file__, "--child", name, "--workdir", str(workdir)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if child.returncode != 0:
                rows.append(f"| {name} | failed: {(child.stderr.strip().splitlines() or ['?'])[-1][:80]} ||||||||")
                continue
            for r in json.loads(child.stdout.strip().splitlines()[-1]):
                rows.append(
                    f"| {name} | {r['setting']} | {r['build_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['data_mb']:.0f} | "
                    f"{r['index_mb']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['recall']:.3f} |"
                )
                print(rows[-1], flush=True)
            shutil_rmtree(workdir / "lance")
    print()
    print("\n".join(rows))
    print(f"\ntotal run time {time.perf_counter() - started:.0f} s")


def shutil_rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
