"""Fit the contextual disambiguation models on RAMDocs dev, and cross-validate how the fit generalises.

    .venv/bin/python benchmarks/disambiguation_fit.py            # 5-fold CV table, old and new method
    .venv/bin/python benchmarks/disambiguation_fit.py --write    # also fit on all dev questions and write
                                                                  # semsearch/disambiguate/fitted.py

Everything the contextual method decides with is chosen here, on the dev questions only:

- the relevance thresholds ``relevant`` and ``strong`` and the grouping cut ``link``, by a small grid
  whose point is chosen on the training folds (the benchmark's objective: the sum of S-recall@n, P@3,
  ambiguity balanced accuracy and purity);
- the same-referent model: a logistic regression over pairs of relevant correct documents of one
  question (same gold sense or not);
- the ambiguity model: a logistic regression over the questions whose documents form two or more
  labelled senses (gold: two or more senses in the corpus), each class weighted as it is among ALL the
  training questions, so that 0.5 aims at the balanced accuracy of the whole decision.

5-fold cross-validation over questions (a fixed shuffle): every choice above is made on four folds and
scored on the fifth; the table gives mean and min over the folds, never a fit on all 250. Today's
method (term overlap, hand-set thresholds) is scored on the same folds: its defaults, and its grid
chosen on the training folds. Candidates and mention vectors are computed once and cached under
/tmp/disamb (``--cache``).
"""

from __future__ import annotations

import argparse
import os
import pickle
import pprint
import random
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from disambiguation import GRID, INDEX, SEED, K, Outcome, Scorer, load_questions, objective, write_corpus
from sklearn.linear_model import LogisticRegression

from semsearch import Index
from semsearch.disambiguate import Candidate, Disambiguation, DisambiguationConfig, find_senses
from semsearch.disambiguate.contextual import Evidence, MentionVectors, decide, evidence, senses_of
from semsearch.disambiguate.learned import PAIR_FEATURES, QUERY_FEATURES, Fitted, Logistic
from semsearch.disambiguate.mentions import find_mention, mention_vectors, name_words
from semsearch.facade.senses import candidates
from semsearch.types import Hit, Mode

ROOT = Path(__file__).resolve().parents[1]
FITTED_PY = ROOT / "semsearch" / "disambiguate" / "fitted.py"
FOLDS = 5
NEW_GRID = {"relevant": [1.2, 1.3, 1.4], "strong": [1.4, 1.5, 1.6], "link": [0.4, 0.5, 0.6]}
METRICS = ("S-recall@n", "P@3", "ambiguity bal. acc.", "sense purity")
QUERY_PLACEHOLDER = Logistic(QUERY_FEATURES, (0.0,) * len(QUERY_FEATURES), 0.0)
CONTEXTS = (4, 12)  # words each side of a mention: both are cached, --context picks one
ALL = tuple(range(len(PAIR_FEATURES)))
MENTION = PAIR_FEATURES.index("mention_cosine")
# What the shipped fit reads. Mention vectors did not separate referents on RAMDocs dev (ROC AUC 0.49 for
# "same gold sense" over pairs of correct documents, against 0.83 for term overlap and 0.65 for stored
# window cosine; the "+ mention vectors" rows of the CV) and cost a forward pass: they are left out.
SHIPPED = tuple(i for i in ALL if i != MENTION)


@dataclass
class Cached:
    query: str
    hits: list[Hit]
    candidates: list[Candidate]
    vectors: dict[int, np.ndarray]  # per context size, the mention vector of every candidate (0 if none)


class CacheReader(pickle.Unpickler):
    """Reads a cache whichever script wrote it (this one run as __main__, or imported)."""

    def find_class(self, module: str, name: str) -> Any:
        return Cached if name == "Cached" else super().find_class(module, name)


def build_cache(index: Index, questions: list[dict], mode: Mode, path: Path) -> list[Cached]:
    if path.is_file():
        with path.open("rb") as handle:
            return CacheReader(handle).load()
    config = index.disambiguation
    out = []
    for q in questions:
        query = q["question"]
        hits = index.hits(index.rank(query, config.candidates, mode))
        found = candidates(index, query, hits)
        names = name_words(query)
        mentions = [find_mention(c.text, names) if names else None for c in found]
        vectors = {}
        for words in CONTEXTS:
            vectors[words] = mention_vectors([c.text for c in found], mentions, index.encoder.token_vectors, words)
            if vectors[words].shape[1] == 0:
                vectors[words] = np.zeros((len(found), index.encoder.dim), dtype=np.float32)
        out.append(Cached(query, hits, found, vectors))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        pickle.dump(out, handle)
    return out


def outcome_of(cached: Cached, found: Disambiguation) -> Outcome:
    """The same assembly as ``Index.search(disambiguate=True)``."""
    hits = cached.hits
    returned = [hits[i] for i in found.order][:K]
    shown = {h.id for h in returned}
    senses = [
        (s.label, [hits[i].id for i in s.members if hits[i].id in shown])
        for s in found.senses
        if hits[s.members[0]].id in shown
    ]
    return Outcome(hits=[h.id for h in returned], ambiguous=found.ambiguous, senses=senses)


class Replay:
    """The contextual method's stages on cached candidates, for any fitted models."""

    def __init__(self, index: Index, scorer: Scorer, cache: list[Cached], config: DisambiguationConfig,
                 context: int = CONTEXTS[0]) -> None:  # fmt: skip
        self.index, self.scorer, self.cache, self.config, self.context = index, scorer, cache, config, context
        self._evidence: dict[tuple[float, float, bool], list[Evidence | Disambiguation]] = {}

    def evidence(self, relevant: float, strong: float, mentions: bool = True) -> list[Evidence | Disambiguation]:
        """Stage 1 of every question; without ``mentions``, as if no mention vector were computed."""
        key = (relevant, strong, mentions)
        if key not in self._evidence:
            reads = tuple(float(mentions and name == "mention_cosine") for name in PAIR_FEATURES)
            fitted = Fitted(Logistic(PAIR_FEATURES, reads, 0.0), QUERY_PLACEHOLDER, relevant, strong, 0.5)
            self._evidence[key] = [
                evidence(c.query, c.candidates, self.index.bm25, self.config, fitted, self.vectors(c, mentions))
                for c in self.cache
            ]
        return self._evidence[key]

    def vectors(self, cached: Cached, mentions: bool) -> MentionVectors:
        if not mentions:
            return lambda positions, _m: np.zeros((len(positions), 0), dtype=np.float32)
        return lambda positions, _m: cached.vectors[self.context][list(positions)]

    def pair_samples(self, questions: Sequence[int], relevant: float, strong: float,
                     mentions: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        rows, labels = [], []
        found = self.evidence(relevant, strong, mentions)
        for qi in questions:
            ev = found[qi]
            if isinstance(ev, Disambiguation):
                continue
            gold = [self.scorer.sense_of(qi, self.cache[qi].hits[i].id) for i in ev.members]
            for a in range(len(ev.members)):
                for b in range(a + 1, len(ev.members)):
                    if gold[a] is not None and gold[b] is not None:
                        rows.append(ev.pairs[a, b])
                        labels.append(gold[a] == gold[b])
        return np.array(rows), np.array(labels)

    def fit(self, questions: Sequence[int], relevant: float, strong: float, link: float,
            columns: Sequence[int] = ALL) -> Fitted:  # fmt: skip
        mentions = MENTION in columns
        x, y = self.pair_samples(questions, relevant, strong, mentions)
        pair = logistic(x, y, PAIR_FEATURES, columns)
        fitted = Fitted(pair, QUERY_PLACEHOLDER, relevant, strong, link)
        rows, labels = [], []
        query_columns = [i for i, name in enumerate(QUERY_FEATURES) if mentions or name != "leader_cosine"]
        for qi in questions:
            ev = self.evidence(relevant, strong, mentions)[qi]
            if isinstance(ev, Disambiguation):
                continue
            split = senses_of(ev, fitted)
            if len(split.senses) >= 2:
                rows.append(split.features)
                labels.append(self.scorer.n[qi] >= 2)
        # Weighted as the classes are among ALL training questions (not only those that reach the model), so
        # that 0.5 aims at the balanced accuracy of the whole decision.
        positives = sum(self.scorer.n[qi] >= 2 for qi in questions)
        share = {
            True: len(questions) / (2 * max(positives, 1)),
            False: len(questions) / (2 * max(len(questions) - positives, 1)),
        }
        weights = np.array([share[bool(label)] for label in labels])
        query = logistic(np.array(rows), np.array(labels), QUERY_FEATURES, query_columns, weights)
        return replace(fitted, query=query)

    def outcomes(self, fitted: Fitted, questions: Sequence[int]) -> dict[int, Outcome]:
        out = {}
        found = self.evidence(fitted.relevant, fitted.strong, fitted.uses_mentions)
        for qi in questions:
            ev, cached = found[qi], self.cache[qi]
            if not isinstance(ev, Disambiguation):
                texts = [c.text for c in cached.candidates]
                ev = decide(len(texts), texts, ev, senses_of(ev, fitted), fitted)
            out[qi] = outcome_of(cached, ev)
        return out


def logistic(x: np.ndarray, y: np.ndarray, names: Sequence[str], columns: Sequence[int],
             weights: np.ndarray | None = None) -> Logistic:  # fmt: skip
    """A logistic regression on ``columns`` of ``x`` (the other features weigh 0), standardised while
    fitting (C=1) and folded back to raw features so the package needs no scaler."""
    columns = list(columns)
    coefficients = np.zeros(len(names))
    if len(set(y.tolist())) < 2:  # nothing to learn from: always the majority answer
        return Logistic(tuple(names), tuple(float(w) for w in coefficients), 5.0 if (len(y) and y[0]) else -5.0)
    sub = x[:, columns]
    mean, std = sub.mean(axis=0), sub.std(axis=0)
    std[std == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit((sub - mean) / std, y, sample_weight=weights)
    raw = model.coef_[0] / std
    coefficients[columns] = raw
    bias = float(model.intercept_[0] - np.sum(raw * mean))
    return Logistic(tuple(names), tuple(float(round(w, 6)) for w in coefficients), round(bias, 6))


def folds(count: int) -> list[list[int]]:
    order = list(range(count))
    random.Random(SEED).shuffle(order)
    return [sorted(order[f::FOLDS]) for f in range(FOLDS)]


def choose_new(replay: Replay, train: Sequence[int], columns: Sequence[int] = ALL) -> Fitted:
    best, best_value = None, -np.inf
    for relevant, strong, link in product(*NEW_GRID.values()):
        if strong < relevant:
            continue
        fitted = replay.fit(train, relevant, strong, link, columns)
        value = objective(replay.scorer.metrics(replay.outcomes(fitted, train), train))
        if value > best_value:
            best, best_value = fitted, value
    assert best is not None
    return best


def old_outcomes(index: Index, cache: list[Cached], config: DisambiguationConfig) -> dict[int, Outcome]:
    return {qi: outcome_of(c, find_senses(c.query, c.candidates, index.bm25, config)) for qi, c in enumerate(cache)}


def cross_validate(index: Index, scorer: Scorer, cache: list[Cached], ablations: bool = True,
                   context: int = CONTEXTS[0]) -> list[str]:  # fmt: skip
    """The CV table's rows: per method, mean and min over folds of each target metric."""
    config = replace(index.disambiguation, contextual=False)
    replay = Replay(index, scorer, cache, config, context)
    parts = folds(len(cache))
    results: dict[str, list[dict[str, float]]] = {}
    plain = {qi: Outcome([h.id for h in c.hits][:K], True, []) for qi, c in enumerate(cache)}
    old_default = old_outcomes(index, cache, config)
    old_grid = [replace(config, **dict(zip(GRID, v, strict=True))) for v in product(*GRID.values())]
    old_runs = [old_outcomes(index, cache, c) for c in old_grid]
    variants = {"new (shipped): terms + stored window vectors, fitted models": SHIPPED}
    if ablations:
        variants |= {
            "new + mention vectors (one forward pass)": ALL,
            "new, terms + mention vectors": (0, 1, 2),
            "new, terms only": (0, 2),
            "new, mention vectors only": (1,),
        }
    chosen: list[str] = []
    for f, test in enumerate(parts):
        train = [qi for qi in range(len(cache)) if qi not in set(test)]
        results.setdefault("hybrid ranking (ambiguous always True)", []).append(scorer.metrics(plain, test))
        results.setdefault("today's method, its defaults (tuned on all 250)", []).append(
            scorer.metrics(old_default, test)
        )
        best = max(range(len(old_grid)), key=lambda i: objective(scorer.metrics(old_runs[i], train)))
        results.setdefault("today's method, grid chosen on the training folds", []).append(
            scorer.metrics(old_runs[best], test)
        )
        main = choose_new(replay, train, SHIPPED)
        chosen.append(f"fold {f}: relevant {main.relevant}, strong {main.strong}, link {main.link}")
        for name, columns in variants.items():
            # Ablations keep the main variant's thresholds of this fold and refit both models without some features.
            fitted = main if columns == SHIPPED else replay.fit(train, main.relevant, main.strong, main.link, columns)
            results.setdefault(name, []).append(scorer.metrics(replay.outcomes(fitted, test), test))
    names = (*METRICS, "label has a gold word")
    rows = [
        f"| method ({FOLDS}-fold CV, mean / min over folds) | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for method, per_fold in results.items():
        cells = []
        for metric in names:
            values = np.array([m[metric] for m in per_fold], dtype=float)
            cells.append("" if np.all(np.isnan(values)) else f"{np.nanmean(values):.3f} / {np.nanmin(values):.3f}")
        rows.append(f"| {method} | " + " | ".join(cells) + " |")
    return [*rows, "", "settings chosen per fold (new): " + "; ".join(chosen)]


def write_fitted(fitted: Fitted) -> None:
    text = (
        '"""Written by benchmarks/disambiguation_fit.py --write (RAMDocs dev only); do not edit by hand."""\n\n'
        f"FITTED = {pprint.pformat(fitted.as_dict(), width=100, sort_dicts=False)}\n"
    )
    FITTED_PY.write_text(text, encoding="utf-8")
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.is_file():  # the shape `ruff format` keeps, so lint stays clean
        subprocess.run([str(ruff), "format", "--quiet", str(FITTED_PY)], check=False)


def setup(mode: Mode = Mode.HYBRID, cache_dir: Path = Path("/tmp/disamb")) -> tuple[Index, Scorer, list[Cached]]:
    questions = load_questions()
    corpus = INDEX.parent / "bench-ramdocs.jsonl"
    gold = write_corpus(questions, corpus)
    if not (INDEX / "manifest.json").is_file():
        from semsearch.ingest import IndexOptions, build_index

        build_index(corpus, INDEX, IndexOptions(progress=False))
    index = Index.open(INDEX)
    return index, Scorer(questions, gold), build_cache(index, questions, mode, cache_dir / f"ramdocs-{mode}.pkl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="Fit on all dev questions and write fitted.py.")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/disamb"))
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--fit-only", action="store_true", help="Skip the cross-validation (with --write).")
    parser.add_argument("--columns", default="shipped", help="Pair features to fit: comma-separated names, or all.")
    parser.add_argument("--context", type=int, choices=CONTEXTS, default=CONTEXTS[0], help="Words each side.")
    args = parser.parse_args()
    index, scorer, cache = setup(Mode.HYBRID, args.cache)
    if not args.fit_only:
        print("\n".join(cross_validate(index, scorer, cache, not args.no_ablations, args.context)))
    if args.write:
        replay = Replay(index, scorer, cache, replace(index.disambiguation, contextual=False), args.context)
        named = {"all": ALL, "shipped": SHIPPED}
        columns = named.get(args.columns) or tuple(PAIR_FEATURES.index(c) for c in args.columns.split(","))
        fitted = choose_new(replay, list(range(len(cache))), columns)
        write_fitted(fitted)
        print(f"wrote {FITTED_PY}: {fitted.as_dict()}")


if __name__ == "__main__":
    main()
