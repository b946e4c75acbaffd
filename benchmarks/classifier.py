"""Classifier head on 20 Newsgroups (raw posts), beside a TF-IDF + LinearSVC baseline, in one run.

    .venv/bin/python benchmarks/classifier.py                    # everything (encodes 11,314 posts once)
    .venv/bin/python benchmarks/classifier.py --skip-finetune --skip-index

Data: ../shared/data/20newsgroups/train.jsonl.gz only (the official test split is kept aside). A fixed,
stratified 20% of it (seed 0) is the validation part every row below is scored on; everything is
trained on the other 80%. Hyper-parameters are fixed in advance (LinearSVC C=1 on sublinear TF-IDF;
the frozen heads' C, and the hybrid head's dense weight, by 3-fold CV inside the training part;
fine-tuning: TrainOptions defaults).

Rows: the baseline; the frozen dense head (logistic regression on the first window's pooled vector);
the frozen hybrid head (a linear SVM on that pooled vector beside hashed sublinear TF-IDF of the whole
post's word unigrams and bigrams, its margins made probabilities by a fitted softmax temperature); the
fine-tuned mode (top N layers + head, on the same first windows). Every post is encoded once per run
(first 128-token window, as a new index cuts them, or --window; with --mean-windows all windows too):
the frozen vectors and the hidden states that fine-tuning trains on come from that one pass and are
cached in benchmarks/results/ so that a second run skips it (--no-cache re-encodes). Times are CPU
seconds (user+sys of this process) and wall seconds. Then the search check: the validation posts are
indexed with the best classifier (`build_index(..., classifier=...)`), and
`search(query, k=10, label="sci.med")` must return 10 hits, all labelled sci.med by the classifier; how
many are truly sci.med is printed beside.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from semsearch.chunking import default_window
from semsearch.classify import (
    Classifier,
    Encoded,
    Features,
    TrainOptions,
    WindowPooling,
    classification_scores,
    encode_texts,
    plot_confusion,
)
from semsearch.encoder import Encoder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "20newsgroups"
RESULTS = Path(__file__).resolve().parent / "results"
QUERIES = [
    "side effects of the medication",
    "symptoms of chronic fatigue and what doctors recommend",
    "is it safe to eat food with MSG",
    "how to cure a migraine headache",
    "computer graphics rendering",  # off-topic for sci.med: the filter must still return sci.med posts
]


@dataclass(frozen=True)
class Row:
    name: str
    accuracy: float
    macro_f1: float
    cpu_s: float
    wall_s: float
    note: str = ""

    def markdown(self) -> str:
        return (
            f"| {self.name} | {self.accuracy:.4f} | {self.macro_f1:.4f} | {self.cpu_s:.0f} | {self.wall_s:.0f} | "
            f"{self.note} |"
        )


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(action: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = cpu_seconds(), time.perf_counter()
    result = action()
    return result, cpu_seconds() - cpu, time.perf_counter() - wall


def load_posts() -> list[dict[str, Any]]:
    with gzip.open(DATA / "train.jsonl.gz", "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def split(posts: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    labels = [p["label_name"] for p in posts]
    train, val = train_test_split(np.arange(len(posts)), test_size=0.2, stratify=labels, random_state=0)
    return np.sort(train), np.sort(val)


def baseline(texts: list[str], labels: list[str], train: np.ndarray, val: np.ndarray) -> tuple[Row, list[str]]:
    """The baseline's row and its predictions on the validation posts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    model = make_pipeline(TfidfVectorizer(sublinear_tf=True), LinearSVC(C=1.0))
    _, cpu, wall = timed(lambda: model.fit([texts[i] for i in train], [labels[i] for i in train]))
    predicted = [str(label) for label in model.predict([texts[i] for i in val])]
    scores = classification_scores([labels[i] for i in val], predicted, [])
    return Row("TF-IDF + LinearSVC (baseline)", scores.accuracy, scores.macro_f1, cpu, wall, "raw posts"), predicted


def paired(truth: list[str], ours: list[str], theirs: list[str]) -> str:
    """How two classifiers differ on the same posts, with the exact McNemar test's two-sided p-value."""
    from scipy.stats import binomtest

    only_ours = sum(o == t != h for t, o, h in zip(truth, ours, theirs, strict=True))
    only_theirs = sum(h == t != o for t, o, h in zip(truth, ours, theirs, strict=True))
    p = binomtest(only_ours, only_ours + only_theirs, 0.5).pvalue if only_ours + only_theirs else 1.0
    return f"right where the other is wrong: {only_ours} vs {only_theirs} posts (exact McNemar p = {p:.2g})"


def cache_key(encoder: Encoder, window: int, first_only: bool, state_layer: int) -> str:
    data = hashlib.sha256((DATA / "train.jsonl.gz").read_bytes()).hexdigest()
    parts = [encoder.identity.sha256, str(encoder.pooling), str(window), str(first_only), str(state_layer)]
    return hashlib.sha256("|".join([data, *parts]).encode()).hexdigest()[:16]


def encode_cached(
    encoder: Encoder, window: int, texts: list[str], first_only: bool, state_layer: int, use_cache: bool
) -> tuple[Encoded, float, float]:
    """Encode the posts once: (encoding, CPU s, wall s). The vectors and states are kept in a safetensors
    file (no pickle) with the time the encoding took, which a cached run reports as its own."""
    path = (
        RESULTS
        / f"20ng-{'first' if first_only else 'all'}-{cache_key(encoder, window, first_only, state_layer)}.safetensors"
    )
    if use_cache and path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), "pt") as handle:
            took = handle.metadata() or {}
        saved = load_file(str(path))
        offsets = saved["offsets"].tolist()
        flat = saved["states"]
        states = [flat[offsets[i] : offsets[i + 1]] for i in range(len(texts))] if flat.numel() else None
        encoded = Encoded(
            saved["doc_index"].numpy(), saved["vectors"].numpy(), len(texts), states, state_layer, texts, window
        )
        return encoded, float(took.get("cpu_s", "nan")), float(took.get("wall_s", "nan"))
    encoded, cpu, wall = timed(
        lambda: encode_texts(encoder, texts, first_only=first_only, window=window, state_layer=state_layer)
    )
    tensors = {"doc_index": torch.from_numpy(encoded.doc_index), "vectors": torch.from_numpy(encoded.vectors)}
    if encoded.states is not None:
        lengths = [s.shape[0] for s in encoded.states]
        tensors["offsets"] = torch.tensor(np.concatenate([[0], np.cumsum(lengths)]), dtype=torch.int64)
        tensors["states"] = torch.cat(encoded.states)
    else:
        tensors["offsets"] = torch.zeros(len(texts) + 1, dtype=torch.int64)
        tensors["states"] = torch.zeros(0, dtype=torch.bfloat16)
    RESULTS.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"cpu_s": f"{cpu:.1f}", "wall_s": f"{wall:.1f}"})
    return encoded, cpu, wall


def keep(name: str, classifier: Classifier, scores: Any, candidates: dict[str, tuple[Path, Any]]) -> None:
    """Save ``classifier`` and its confusion matrix under ``name``, as a candidate to label the index."""
    directory = classifier.save(RESULTS / f"clf-{name}")
    plot_confusion(scores, RESULTS / f"confusion-{name}.png")
    candidates[name] = (directory, scores)


def score(classifier: Classifier, encoded: Encoded, labels: list[str]) -> tuple[Any, list[str]]:
    predicted = classifier.predict(encoded)
    return classification_scores(labels, predicted, classifier.config.labels), predicted


def search_check(classifier_dir: Path, posts: list[dict[str, Any]], val: np.ndarray, limit: int | None) -> list[str]:
    """Index the validation posts with the classifier, then filter searches by label."""
    from semsearch import Index
    from semsearch.ingest import IndexOptions, build_index

    target = Path("indexes") / "bench-20newsgroups-val"
    if target.exists():
        shutil.rmtree(target)
    source = RESULTS / "20ng-val.jsonl"
    chosen = val if limit is None else np.sort(np.random.default_rng(0).permutation(val)[:limit])  # all groups
    with source.open("w", encoding="utf-8") as out:
        for i in chosen:
            out.write(json.dumps(posts[i]) + "\n")
    summary, cpu, wall = timed(lambda: build_index(source, target, IndexOptions(classifier=classifier_dir)))
    index = Index.open(target)
    lines = [
        f"indexed {summary.docs} validation posts ({summary.chunks} chunks) with --classifier {classifier_dir} "
        f"in {cpu:.0f} CPU s / {wall:.0f} s wall",
    ]
    stored = dict(zip(*index.store.scan(["doc_id", "sys_label"], "chunk = 0").to_pydict().values(), strict=True))
    right = sum(stored[posts[i]["id"]] == posts[i]["label_name"] for i in chosen)
    own = Classifier.load(classifier_dir).predict([posts[i]["text"] for i in chosen])
    agree = sum(stored[posts[i]["id"]] == label for i, label in zip(chosen, own, strict=True))
    lines.append(
        f"stored labels: accuracy {right / len(chosen):.4f}; the same as Classifier.predict for {agree}/{len(chosen)}"
    )
    predicted = index.store.scan(["doc_id"], "chunk = 0 AND sys_label = 'sci.med'").num_rows
    truly = sum(posts[i]["label_name"] == "sci.med" for i in chosen)
    lines.append(f"{predicted} posts labelled sci.med by the classifier; {truly} of the indexed are truly sci.med")
    for query in QUERIES:
        hits = index.search(query, k=10, mode="hybrid", label="sci.med").hits
        stored = index.store.scan(
            ["doc_id", "sys_label"], "chunk = 0 AND doc_id IN (" + ", ".join(f"'{h.id}'" for h in hits) + ")"
        )
        labelled = sum(label == "sci.med" for label in stored["sys_label"].to_pylist())
        true = sum(h.metadata["label_name"] == "sci.med" for h in hits)
        lines.append(
            f"search {query!r} --label sci.med -k 10: {len(hits)} hits, {labelled}/{len(hits)} labelled sci.med, "
            f"{true}/{len(hits)} truly sci.med"
        )
    unfiltered = index.search(QUERIES[-1], k=10, mode="hybrid").hits
    lines.append(
        f"same last query without --label: {sum(h.metadata['label_name'] == 'sci.med' for h in unfiltered)}/10 sci.med"
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=2, help="Top layers tuned by the fine-tuned mode.")
    parser.add_argument("--epochs", type=int, default=TrainOptions().epochs)
    parser.add_argument("--mean-windows", action="store_true", help="Also encode every window (3x the time).")
    parser.add_argument("--skip-finetune", action="store_true")
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument("--index-limit", type=int, default=None, help="Index a random sample of validation posts.")
    parser.add_argument(
        "--index-classifier", choices=["best", "frozen", "hybrid", "finetuned"], default="best",
        help="Which classifier labels the index (frozen, hybrid: from the index's own vectors and stored "
        "texts, no extra encoding; best: the highest validation macro-F1).",
    )  # fmt: skip
    parser.add_argument("--no-cache", action="store_true", help="Re-encode even if a cached encoding exists.")
    parser.add_argument(
        "--window", type=int, default=None, help="Tokens per window [default: as a new index cuts them, 128]."
    )
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA}")
    torch.manual_seed(0)

    posts = load_posts()
    texts = [p["text"] for p in posts]
    labels = [p["label_name"] for p in posts]
    train, val = split(posts)
    y_train, y_val = [labels[i] for i in train], [labels[i] for i in val]
    print(f"20 Newsgroups train split: {len(posts)} posts -> {len(train)} train / {len(val)} validation (stratified)")
    first, baseline_predicted = baseline(texts, labels, train, val)
    rows = [first]
    print(rows[0].markdown(), flush=True)

    encoder = Encoder()
    state_layer = len(encoder.torch_model.encoder.layer) - args.layers
    window = args.window or default_window(encoder.max_length)
    encoded, enc_cpu, enc_wall = encode_cached(encoder, window, texts, True, state_layer, not args.no_cache)
    print(
        f"encoded first {window}-token windows of {len(texts)} posts "
        f"(one pass, also caching the states after layer {state_layer}): "
        f"{enc_cpu:.0f} CPU s, {enc_wall:.0f} s wall (a run that reuses the cache reports the recorded figures)",
        flush=True,
    )
    share = len(train) / len(texts)  # the training part's share of the one encoding pass
    train_enc, val_enc = encoded.subset(train), encoded.subset(val)

    default_features = TrainOptions().effective_features
    default = f" (default: {default_features})"
    frozen = Classifier(encoder=encoder, options=TrainOptions(features=Features.DENSE))
    _, cpu, wall = timed(lambda: frozen.fit(train_enc, y_train))
    scores, _ = score(frozen, val_enc, y_val)
    rows.append(
        Row(
            "frozen head, dense: first window's pooled vector" + default * (default_features == Features.DENSE),
            scores.accuracy, scores.macro_f1,
            cpu + share * enc_cpu, wall + share * enc_wall,
            f"C={frozen.config.training['c']:g} by CV; head alone {cpu:.0f} CPU s",
        )
    )  # fmt: skip
    print(rows[-1].markdown(), flush=True)
    candidates: dict[str, tuple[Path, Any]] = {}
    keep("frozen", frozen, scores, candidates)

    hybrid = Classifier(encoder=encoder, options=TrainOptions(features=Features.HYBRID))
    _, cpu, wall = timed(lambda: hybrid.fit(train_enc, y_train))
    scores, hybrid_predicted = score(hybrid, val_enc, y_val)
    report = hybrid.config.training
    rows.append(
        Row(
            "frozen head, hybrid: pooled vector + hashed TF-IDF (1-2 grams)"
            + default * (default_features == Features.HYBRID), scores.accuracy, scores.macro_f1,
            cpu + share * enc_cpu, wall + share * enc_wall,
            f"C={report['c']:g}, dense weight {report['dense_weight']:g} by CV; {report['lexical_columns']} "
            f"hashed columns (min_df {report['min_df']}); head alone {cpu:.0f} CPU s",
        )
    )  # fmt: skip
    print(rows[-1].markdown(), flush=True)
    keep("hybrid", hybrid, scores, candidates)
    comparison = f"hybrid head vs baseline, {paired(y_val, hybrid_predicted, baseline_predicted)}"
    print(comparison, flush=True)

    # Ablation: the hybrid head without the pooled vector (dense weight 0): what the words alone give it.
    words_only = Classifier(encoder=encoder, options=TrainOptions(features=Features.HYBRID, dense_weights=(0.0,)))
    _, cpu, wall = timed(lambda: words_only.fit(train_enc, y_train))
    scores, _ = score(words_only, val_enc, y_val)
    rows.append(
        Row(
            "ablation: hybrid head without the pooled vector (dense weight 0)", scores.accuracy, scores.macro_f1,
            cpu, wall, f"C={words_only.config.training['c']:g} by CV; no encoding needed",
        )
    )  # fmt: skip
    print(rows[-1].markdown(), flush=True)

    if args.mean_windows:
        every, all_cpu, all_wall = encode_cached(encoder, window, texts, False, -1, not args.no_cache)
        mean = Classifier(encoder=encoder, options=TrainOptions(window=WindowPooling.MEAN, features=Features.DENSE))
        _, cpu, wall = timed(lambda: mean.fit(every.subset(train), y_train))
        scores, _ = score(mean, every.subset(val), y_val)
        rows.append(
            Row(
                "frozen head, dense: mean of all windows", scores.accuracy, scores.macro_f1, cpu + share * all_cpu,
                wall + share * all_wall, f"{len(every.vectors)} windows encoded",
            )
        )  # fmt: skip
        print(rows[-1].markdown(), flush=True)

    if not args.skip_finetune:
        tuned = Classifier(encoder=encoder, options=TrainOptions(finetune_layers=args.layers, epochs=args.epochs))
        _, cpu, wall = timed(lambda: tuned.fit(train_enc, y_train))
        scores, _ = score(tuned, val_enc, y_val)
        rows.append(
            Row(
                f"fine-tuned top {args.layers} layers + head, {window} tokens", scores.accuracy, scores.macro_f1,
                cpu + share * enc_cpu, wall + share * enc_wall,
                f"{args.epochs} epochs; tuning alone {cpu:.0f} CPU s; loss {tuned.config.training['train_loss']}",
            )
        )  # fmt: skip
        print(rows[-1].markdown(), flush=True)
        keep("finetuned", tuned, scores, candidates)

    print()
    print(f"validation: {len(val)} posts; times include the training part's share of the one encoding pass")
    print("| model | accuracy | macro-F1 | train CPU s | train wall s | note |")
    print("|---|---|---|---|---|---|")
    print("\n".join(row.markdown() for row in rows))
    print(f"\n{comparison}")
    print(f"\nconfusion matrices: {RESULTS}/confusion-*.png")
    if not args.skip_index:
        chosen = args.index_classifier
        if chosen == "best":
            chosen = max(candidates, key=lambda name: candidates[name][1].macro_f1)
        if chosen not in candidates:
            sys.exit(f"--index-classifier {chosen}: that classifier was not trained in this run")
        print()
        print("\n".join(f"- {line}" for line in search_check(candidates[chosen][0], posts, val, args.index_limit)))


if __name__ == "__main__":
    main()
