"""Labelled texts the classifier tests train on: three topics told apart by their words."""

from __future__ import annotations

import random

import semsearch

VOCAB = {
    "space": ["orbit", "rocket", "shuttle", "launch", "nasa", "moon", "satellite", "astronaut", "planet", "telescope"],
    "medicine": [
        "doctor",
        "patient",
        "disease",
        "symptom",
        "treatment",
        "drug",
        "vaccine",
        "clinic",
        "therapy",
        "infection",
    ],
    "hockey": ["puck", "goalie", "skate", "stick", "rink", "penalty", "playoff", "coach", "referee", "period"],
}
FILLER = ["report", "today", "people", "said", "about", "which", "there", "later", "several", "group"]


def texts_of(topic: str, count: int, seed: int, words: int = 12) -> list[str]:
    rng = random.Random(f"{topic}{seed}")
    return [" ".join(rng.choice(VOCAB[topic]) for _ in range(words)) for _ in range(count)]


def dataset(count: int, seed: int) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for topic in VOCAB:
        texts += texts_of(topic, count, seed)
        labels += [topic] * count
    return texts, labels


def late_topic(count: int, seed: int) -> tuple[list[str], list[str]]:
    """Texts whose topic words come after 150 neutral words: past the tiny encoder's window, so only
    a head that reads the whole text's words can tell the topics apart."""
    texts, labels = [], []
    for topic in VOCAB:
        rng = random.Random(f"late{topic}{seed}")
        for _ in range(count):
            filler = " ".join(rng.choice(FILLER) for _ in range(150))
            texts.append(filler + " " + " ".join(rng.choice(VOCAB[topic]) for _ in range(5)))
            labels.append(topic)
    return texts, labels


def corpus(count: int, seed: int) -> list[dict]:
    """20 Newsgroups-like records: their own metadata is called `label` (an int) and `label_name`."""
    rows = []
    for number, topic in enumerate(VOCAB):
        for i, text in enumerate(texts_of(topic, count, seed, words=20)):
            rows.append({"id": f"{topic}/{i}", "text": text, "label": number, "label_name": topic})
    return rows


def predicted(index: semsearch.Index) -> dict[str, tuple[str, float]]:
    """Each document's stored (label, probability)."""
    rows = index.store.scan(["doc_id", "sys_label", "sys_label_prob"], "chunk = 0")
    return {d: (label, prob) for d, label, prob in zip(*(rows[c].to_pylist() for c in rows.column_names), strict=True)}
