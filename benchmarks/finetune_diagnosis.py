"""Why the fine-tuned head trails the default (hybrid) one on 20 Newsgroups: a short measured diagnosis.

    flock /tmp/cpu.lock .venv/bin/python benchmarks/finetune_diagnosis.py

On a stratified subset (--train posts of the 80% training part of benchmarks/classifier.py's split,
--test posts of its 20% validation part; seed 0), all from one encoding pass of the first 128-token
windows (vectors and the states after the frozen layers): the frozen dense and hybrid heads, the
fine-tuned head with the defaults (2 layers, 2 epochs, learning rates 1e-4 / 2e-3), and the same with
more steps and larger learning rates. If more steps or larger rates close the gap, it is training
budget; if the fine-tuned head only matches the dense head, the gap is what neither reads (the words).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

from semsearch.classify import Classifier, Features, TrainOptions, classification_scores, encode_texts
from semsearch.encoder import Encoder

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "20newsgroups"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    from sklearn.model_selection import train_test_split

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=1500)
    parser.add_argument("--test", type=int, default=600)
    args = parser.parse_args()
    with gzip.open(DATA / "train.jsonl.gz", "rt", encoding="utf-8") as handle:
        posts = [json.loads(line) for line in handle]
    labels = [p["label_name"] for p in posts]
    train, val = train_test_split(np.arange(len(posts)), test_size=0.2, stratify=labels, random_state=0)
    train = train_test_split(train, train_size=args.train, stratify=[labels[i] for i in train], random_state=0)[0]
    val = train_test_split(val, train_size=args.test, stratify=[labels[i] for i in val], random_state=0)[0]
    chosen = np.concatenate([train, val])
    texts = [posts[i]["text"] for i in chosen]
    encoder = Encoder()
    layers = len(encoder.torch_model.encoder.layer)
    cpu = cpu_seconds()
    encoded = encode_texts(encoder, texts, first_only=True, window=128, state_layer=layers - 2, progress=False)
    print(f"encoded {len(texts)} first 128-token windows with states: {cpu_seconds() - cpu:.0f} CPU s", flush=True)
    fit_part, test_part = encoded.subset(np.arange(len(train))), encoded.subset(np.arange(len(train), len(chosen)))
    y_fit, y_test = [labels[i] for i in train], [labels[i] for i in val]
    rows = [
        ("frozen dense", TrainOptions(features=Features.DENSE, progress=False)),
        ("frozen hybrid (default)", TrainOptions(progress=False)),
        ("fine-tuned, defaults: 2 layers, 2 epochs, lr 1e-4 / 2e-3", TrainOptions(finetune_layers=2, progress=False)),
        ("fine-tuned, 2 layers, 4 epochs, lr 3e-4 / 5e-3",
         TrainOptions(finetune_layers=2, epochs=4, layer_lr=3e-4, head_lr=5e-3, progress=False)),
    ]  # fmt: skip
    print(f"{len(train)} training / {len(val)} test posts (stratified); EPYC Zen 3 (AVX2), 2 cores")
    print("| head | accuracy | macro-F1 | train CPU s | train loss per epoch |")
    print("|---|---|---|---|---|")
    for name, options in rows:
        cpu = cpu_seconds()
        clf = Classifier(encoder=encoder, options=options).fit(fit_part, y_fit)
        took = cpu_seconds() - cpu
        scores = classification_scores(y_test, clf.predict(test_part), clf.config.labels)
        loss = clf.config.training.get("train_loss", "")
        print(f"| {name} | {scores.accuracy:.4f} | {scores.macro_f1:.4f} | {took:.0f} | {loss} |", flush=True)


if __name__ == "__main__":
    main()
