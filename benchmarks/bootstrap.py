"""A classifier bootstrapped from an outside labeller: labels chosen by `suggest` against labels chosen at random.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/bootstrap.py              # seeds 0 1 2, then the table
    flock /tmp/cpu.lock .venv/bin/python benchmarks/bootstrap.py --seeds 1    # one seed (results are kept)

Data: ../shared/data/20newsgroups/train.jsonl.gz only, its gold labels playing the labeller. A fixed,
stratified 20% (seed 0, the split of benchmarks/classifier.py) is the test part every figure is scored
on; the other 80% (9,051 posts) is the pool the labels are drawn from. Every post is encoded once (its
first 128-token window, as a new index cuts it), through the library's feature cache (--cache), and the
loop runs on those vectors and the posts' texts; a second run encodes nothing.

For each seed and each size (200, 500, 1,000, 2,000, 2,400 = 60% of 4,000, and 4,000 labels):

- **random**: the first `size` posts of a seeded shuffle of the pool;
- **suggest**: a cold-start sample of 200 (`suggest` without a classifier: k-means, seeded), then at each
  size the default head trained on the labels so far and `suggest` (the very function the
  `semsearch classifier suggest` command calls, :func:`semsearch.classify.active.suggest_for`) asked
  for the next batch up to the next size.

Each is scored with the default head (hybrid, TrainOptions defaults) on the test part. Then the curve
check: `learning_curve` (what `semsearch classifier curve` runs) on the first 2,000 random labels of
seed 0 predicts the accuracy at 4,000 labels and the labels needed for random's observed 4,000-label
accuracy; both are set against what the random runs observed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

from semsearch.chunking import default_window
from semsearch.classify import Classifier, Encoded, TrainOptions, classification_scores, encode_texts
from semsearch.classify.active import SuggestOptions, suggest_for
from semsearch.classify.curve import learning_curve
from semsearch.encoder import Encoder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "20newsgroups"
SIZES = (200, 500, 1000, 2000, 2400, 4000)
TARGET_SHARE = 0.6  # suggest should reach random's accuracy at the largest size with this share of its labels


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_posts() -> list[dict[str, Any]]:
    with gzip.open(DATA / "train.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def split(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    pool, test = train_test_split(np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=0)
    return np.sort(pool), np.sort(test)


class Bench:
    """The encoded posts, the pool and test parts, and the default head fitted and scored on them."""

    def __init__(self, encoder: Encoder, encoded: Encoded, labels: list[str], pool: np.ndarray, test: np.ndarray):
        self.encoder, self.labels, self.pool = encoder, labels, pool
        self.pool_encoded = encoded.subset(pool)
        self.pool_vectors = self.pool_encoded.pooled(TrainOptions().window)
        self.pool_labels = [labels[i] for i in pool]
        self.test_encoded = encoded.subset(test)
        self.test_labels = [labels[i] for i in test]
        self.options = TrainOptions(progress=False)

    def fit(self, part: Encoded, labels: list[str]) -> Classifier:
        return Classifier(encoder=self.encoder, options=self.options).fit(part, labels)

    def fit_pool(self, chosen: np.ndarray) -> tuple[Classifier, dict[str, float]]:
        """The default head on pool positions ``chosen`` and its test scores (and CPU seconds)."""
        cpu = cpu_seconds()
        clf = self.fit(self.pool_encoded.subset(chosen), [self.pool_labels[i] for i in chosen])
        took = cpu_seconds() - cpu
        scores = classification_scores(self.test_labels, clf.predict(self.test_encoded), clf.config.labels)
        return clf, {"accuracy": scores.accuracy, "macro_f1": scores.macro_f1, "fit_cpu_s": took}


def run_seed(bench: Bench, seed: int, say: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {"seed": seed, "random": {}, "suggest": {}}
    order = np.random.default_rng(seed).permutation(len(bench.pool))
    for size in SIZES:
        _, scores = bench.fit_pool(order[:size])
        out["random"][str(size)] = scores
        say(f"seed {seed} random  {size:>5}: accuracy {scores['accuracy']:.4f} ({scores['fit_cpu_s']:.0f} CPU s)")
    options = SuggestOptions(seed=seed)
    cpu = cpu_seconds()
    chosen = suggest_for(None, bench.pool_vectors, None, SIZES[0], (), options).positions
    suggest_cpu = cpu_seconds() - cpu
    for step, size in enumerate(SIZES):
        assert len(chosen) == size and len(set(chosen.tolist())) == size
        clf, scores = bench.fit_pool(chosen)
        scores["suggest_cpu_s"] = suggest_cpu
        out["suggest"][str(size)] = scores
        say(f"seed {seed} suggest {size:>5}: accuracy {scores['accuracy']:.4f} ({scores['fit_cpu_s']:.0f} CPU s fit, "
            f"{suggest_cpu:.0f} CPU s choosing)")  # fmt: skip
        if step + 1 < len(SIZES):
            cpu = cpu_seconds()
            texts = bench.pool_encoded.texts
            more = suggest_for(clf, bench.pool_vectors, texts, SIZES[step + 1] - size, chosen, options).positions
            suggest_cpu = cpu_seconds() - cpu
            chosen = np.concatenate([chosen, more])
    out["suggest_classes_at_start"] = len({bench.pool_labels[i] for i in chosen[: SIZES[0]]})
    return out


def curve_check(bench: Bench, labels_known: int, target: float, say: Callable[[str], None]) -> dict[str, Any]:
    """The learning curve of seed 0's first ``labels_known`` random labels, extrapolated."""
    order = np.random.default_rng(0).permutation(len(bench.pool))[:labels_known]

    def fit(part: Encoded, labels: list[str]) -> Callable[[Encoded], list[str]]:
        return bench.fit(part, labels).predict

    cpu = cpu_seconds()
    curve = learning_curve(
        bench.pool_encoded.subset(order), [bench.pool_labels[i] for i in order], fit, folds=3, target=target, seed=0,
        progress=say,
    )  # fmt: skip
    result = curve.to_json()
    result["cpu_s"] = cpu_seconds() - cpu
    if curve.fit is not None:
        result["predicted_accuracy"] = {str(size): curve.fit.at(size) for size in SIZES}
        reach95 = curve.fit.labels_for(0.95)
        result["labels_for_0.95"] = None if reach95 is None else int(np.ceil(reach95))
    return result


def crossing(sizes: list[int], means: list[float], level: float) -> float | None:
    """Labels at which a mean curve first reaches ``level``, interpolated in log(labels); None if never."""
    for i, (size, mean) in enumerate(zip(sizes, means, strict=True)):
        if mean >= level:
            if i == 0:
                return float(size)
            low, high = means[i - 1], mean
            share = (level - low) / (high - low)
            return float(np.exp(np.log(sizes[i - 1]) + share * (np.log(size) - np.log(sizes[i - 1]))))
    return None


def table(runs: list[dict[str, Any]], curve: dict[str, Any] | None) -> list[str]:
    lines = [
        f"{len(runs)} seeds ({', '.join(str(r['seed']) for r in runs)}); mean ± sd (min-max) over seeds",
        "",
        "| labels | random accuracy | suggest accuracy | random macro-F1 | suggest macro-F1 | fit CPU s (suggest) |",
        "|---|---|---|---|---|---|",
    ]

    def cell(values: list[float]) -> str:
        return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.4f} " \
               f"({min(values):.3f}-{max(values):.3f})"  # fmt: skip

    means: dict[str, list[float]] = {"random": [], "suggest": []}
    for size in SIZES:
        row = {k: [r[k][str(size)] for r in runs] for k in ("random", "suggest")}
        acc = {k: [s["accuracy"] for s in v] for k, v in row.items()}
        f1 = {k: [s["macro_f1"] for s in v] for k, v in row.items()}
        for k in means:
            means[k].append(float(np.mean(acc[k])))
        fit_cpu = np.mean([s["fit_cpu_s"] for s in row["suggest"]])
        lines.append(f"| {size} | {cell(acc['random'])} | {cell(acc['suggest'])} | {cell(f1['random'])} | "
                     f"{cell(f1['suggest'])} | {fit_cpu:.0f} |")  # fmt: skip
    goal = means["random"][-1]
    reached = crossing(list(SIZES), means["suggest"], goal)
    lines.append("")
    verdict = "not reached within the sizes measured"
    if reached is not None:
        share = reached / SIZES[-1]
        verdict = (
            f"~{reached:.0f} labels = {share:.0%} of {SIZES[-1]} ({'met' if share <= TARGET_SHARE else 'NOT met'})"
        )
    lines.append(f"suggest reaches random's {SIZES[-1]}-label mean accuracy ({goal:.4f}) at {verdict}; "
                 f"target: at most {TARGET_SHARE:.0%}")  # fmt: skip
    starts = [r.get("suggest_classes_at_start") for r in runs]
    lines.append(f"classes among the first {SIZES[0]} suggested (cold start): {starts}")
    if curve is not None and "predicted_accuracy" in curve:
        known = curve["labelled"]
        lines.append("")
        sizes = [p["size"] for p in curve["points"]]
        lines.append(f"curve check: learning_curve on seed 0's first {known} random labels (3 folds, sizes "
                     f"{sizes}; {curve['cpu_s']:.0f} CPU s), fit {curve['fit']}")  # fmt: skip
        for size in SIZES:
            if size > known // 2:
                lines.append(f"- {size} labels: predicted accuracy {curve['predicted_accuracy'][str(size)]:.4f}, "
                             f"random observed {means['random'][SIZES.index(size)]:.4f}")  # fmt: skip
        lines.append(f"- labels for random's {SIZES[-1]}-label accuracy {curve['target']:.4f}: predicted "
                     f"{curve['labels_for_target']}, observed {SIZES[-1]}")  # fmt: skip
        lines.append(f"- labels for 0.95: predicted {curve['labels_for_0.95']} (benchmarks/classifier.py: 0.9518 "
                     "with all 9,051 pool posts, same split and head)")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/bootstrap/features"), help="Feature cache folder.")
    parser.add_argument("--results", type=Path, default=Path("/tmp/bootstrap/results"), help="Per-seed results.")
    parser.add_argument("--fresh", action="store_true", help="Run seeds whose results are kept again.")
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument("--curve-labels", type=int, default=2000)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA}")

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    posts = load_posts()
    texts, labels = [p["text"] for p in posts], [p["label_name"] for p in posts]
    pool, test = split(labels)
    say(f"20 Newsgroups train split: {len(posts)} posts -> pool {len(pool)} / test {len(test)} (stratified, seed 0)")
    encoder = Encoder()
    window = default_window(encoder.max_length)
    cpu, wall = cpu_seconds(), time.perf_counter()
    encoded = encode_texts(encoder, texts, first_only=True, window=window, progress=False, cache=args.cache)
    say(f"encoded (or read from {args.cache}) first {window}-token windows of {len(texts)} posts: "
        f"{cpu_seconds() - cpu:.0f} CPU s, {time.perf_counter() - wall:.0f} s wall ({encoder.precision})")  # fmt: skip
    bench = Bench(encoder, encoded, labels, pool, test)
    args.results.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        path = args.results / f"seed-{seed}.json"
        if path.is_file() and not args.fresh:
            say(f"seed {seed}: kept from {path}")
            continue
        path.write_text(json.dumps(run_seed(bench, seed, say), indent=1))
    runs = [json.loads(p.read_text()) for p in sorted(args.results.glob("seed-*.json"))]
    curve = None
    curve_path = args.results / f"curve-{args.curve_labels}.json"
    if not args.skip_curve and len(runs) == 3:
        if curve_path.is_file() and not args.fresh:
            curve = json.loads(curve_path.read_text())
        else:
            goal = float(np.mean([r["random"][str(SIZES[-1])]["accuracy"] for r in runs]))
            curve = curve_check(bench, args.curve_labels, round(goal, 4), say)
            curve_path.write_text(json.dumps(curve, indent=1))
    print("\n".join(table(runs, curve)))


if __name__ == "__main__":
    main()
