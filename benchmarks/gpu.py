"""The GPU paths for real, one short run on a machine with a CUDA GPU; writes its figures as JSON.

    python benchmarks/gpu.py [--docs 2000] [--cpu-docs 200] [--out gpu.json]

- fp16 against fp32 on the GPU: the cosine of each window's two vectors (min and mean);
- windows/s: fp16 and fp32 on the GPU, against the CPU runtime a new index gets here;
- FAISS: training an IVF4096 on 200k random unit vectors, on the GPUs against the CPU (when the
  faiss-gpu build is installed).
The documents are SciFact's (``../shared/data``) or, without it, the bundled sample. Without a GPU it says
so, writes ``{"gpu": false}`` and exits 0. Everything it measures takes a few minutes at most.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def documents(limit: int) -> list[str]:
    shared = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
    source = shared if shared.is_file() else ROOT / "examples" / "scifact-sample" / "corpus.jsonl"
    texts = []
    with source.open() as lines:
        for line in lines:
            row = json.loads(line)
            texts.append(f"{row.get('title', '')} {row['text']}".strip())
            if len(texts) == limit:
                break
    return texts


def windows_per_second(encoder: object, windows: list[list[int]]) -> tuple[float, np.ndarray]:
    encoder.encode_ids(windows[:64])  # type: ignore[attr-defined]  # warm-up (CUDA kernels, allocator)
    started = time.perf_counter()
    vectors = encoder.encode_ids(windows)  # type: ignore[attr-defined]
    return len(windows) / (time.perf_counter() - started), vectors


def faiss_training() -> dict[str, float] | None:
    import faiss

    if getattr(faiss, "get_num_gpus", lambda: 0)() == 0:
        return None
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((200_000, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    seconds = {}
    for where in ("cpu", "gpu"):
        index = faiss.index_factory(384, "IVF4096,PQ48", faiss.METRIC_INNER_PRODUCT)
        if where == "gpu":
            ivf = faiss.extract_index_ivf(index)
            ivf.clustering_index = faiss.index_cpu_to_all_gpus(faiss.IndexFlat(384, faiss.METRIC_INNER_PRODUCT))
        started = time.perf_counter()
        index.train(vectors)
        seconds[f"ivf_train_{where}_s"] = time.perf_counter() - started
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--cpu-docs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("gpu.json"))
    args = parser.parse_args()
    from semsearch.gpu import cuda_available

    if not cuda_available():
        print("no CUDA GPU here: nothing measured", file=sys.stderr)
        args.out.write_text(json.dumps({"gpu": False}) + "\n")
        return
    import torch

    from semsearch import runtime
    from semsearch.encoder import Encoder
    from semsearch.types import Precision

    texts = documents(args.docs)
    fp16 = Encoder(precision=Precision.FP16)
    windows = [c.input_ids for c in fp16.chunks(texts, overlap=32, window=128)]
    results: dict[str, object] = {"gpu": True, "device": torch.cuda.get_device_name(0), "windows": len(windows),
                                  "default_precision": str(runtime.best_precision())}  # fmt: skip
    half_rate, half = windows_per_second(fp16, windows)
    full_rate, full = windows_per_second(Encoder(precision=Precision.FP32), windows)
    cosine = np.sum(half * full, axis=1)
    cpu_windows = [c.input_ids for c in fp16.chunks(texts[: args.cpu_docs], overlap=32, window=128)]
    torch.cuda.is_available = lambda: False  # the CPU runtime a machine without a GPU gets
    from semsearch import gpu

    gpu.cuda_available.cache_clear()
    gpu.cuda_available = lambda: False  # type: ignore[assignment]
    cpu_rate, _ = windows_per_second(Encoder(precision=runtime.best_precision()), cpu_windows)
    results.update({
        "fp16_windows_per_s": half_rate, "fp32_gpu_windows_per_s": full_rate, "cpu_windows_per_s": cpu_rate,
        "fp16_vs_fp32_cosine_min": float(cosine.min()), "fp16_vs_fp32_cosine_mean": float(cosine.mean()),
    })  # fmt: skip
    results["faiss"] = faiss_training()
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
