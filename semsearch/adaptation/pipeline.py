"""``semsearch adapt``: masked-LM, contrastive training with distillation, a blend with the base, the gate.

Every step leaves its result in a work directory (``OUT.work`` unless told otherwise): stage 1's
checkpoints and encoder, the mined triplets, stage 2's checkpoints and the candidate encoder. Run
the same command again after an interruption and it resumes from there; a work directory made with
other settings, another corpus or another base model is refused rather than mixed in. On success
the work directory is removed (``keep_work`` keeps it, e.g. to index the stage-1 encoder).

The output directory is always a complete sentence-transformers directory: the adapted encoder if
the gate promoted it, otherwise an exact copy of the base model's files (same weights hash), with
``adapt_report.json`` and ``adapt_report.md`` beside it saying what happened and why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import resource
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import transformers
from sentence_transformers import SentenceTransformer

from semsearch.adaptation import gate, pairs
from semsearch.adaptation.mlm import StageOutcome, continue_pretraining
from semsearch.adaptation.options import AdaptOptions
from semsearch.adaptation.texts import Passage, load_passages, split_held_out
from semsearch.adaptation.train import blend_into_base, fine_tune
from semsearch.errors import AdaptError
from semsearch.fsutil import atomic_write_text
from semsearch.models import resolve_model_dir, weights_sha256
from semsearch.types import DEFAULT_FUSION

log = logging.getLogger(__name__)

REPORT = "adapt_report.json"
STATE = "state.json"
MLM_SHARE = 0.2  # of --max-minutes, by which stage 1 must end
TRAIN_SHARE = 0.85  # of --max-minutes, by which stage 2 must end; the rest is for the gate and saving


@dataclass(frozen=True)
class AdaptResult:
    out: Path
    promoted: bool
    verdict: gate.GateVerdict
    summary: str
    report: dict[str, Any]


class _Clock:
    """Wall and CPU time (user + system, this process and its children) since creation."""

    def __init__(self) -> None:
        self.wall_start = time.monotonic()
        self.cpu_start = self.cpu()

    @staticmethod
    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def wall_seconds(self) -> float:
        return time.monotonic() - self.wall_start

    def cpu_seconds(self) -> float:
        return self.cpu() - self.cpu_start


def check_output_dir(out: Path) -> None:
    """Refuse to overwrite a directory that ``adapt`` did not write."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / REPORT).is_file())):
        raise AdaptError(f"{out} exists and is not an earlier adaptation's output; choose another output directory")


def fingerprint(passages: list[Passage], base_sha: str, options: AdaptOptions) -> str:
    digest = hashlib.sha256()
    digest.update(base_sha.encode())
    digest.update(json.dumps(options.recipe(), sort_keys=True).encode())
    for passage in passages:
        digest.update(f"{passage.id}\x1f{passage.title}\x1f{passage.body}\x1e".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


class _Work:
    """The work directory and its state file (which steps are done, CPU spent by earlier attempts)."""

    def __init__(self, path: Path, print_: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        state_file = path / STATE
        self.state: dict[str, Any] = json.loads(state_file.read_text()) if state_file.is_file() else {}
        if self.state.get("fingerprint", print_) != print_:
            raise AdaptError(
                f"{path} holds an interrupted run with other settings, corpus or base model; "
                "delete it to start afresh, or run with the same settings to resume it"
            )
        self.state["fingerprint"] = print_
        self.save()

    def save(self) -> None:
        atomic_write_text(self.path / STATE, json.dumps(self.state, indent=2, sort_keys=True) + "\n")

    def outcome(self, stage: str) -> StageOutcome | None:
        data = self.state.get("stages", {}).get(stage)
        return StageOutcome(**data) if data else None

    def finish(self, stage: str, outcome: StageOutcome) -> None:
        self.state.setdefault("stages", {})[stage] = asdict(outcome)
        self.save()


def adapt(source: str | Path, out: str | Path, options: AdaptOptions | None = None) -> AdaptResult:
    """Adapt the base encoder to the corpus ``source`` and write the model directory ``out``."""
    options = (options or AdaptOptions()).capped()
    out = Path(out).expanduser().resolve()
    check_output_dir(out)
    clock = _Clock()
    deadline_of = _deadlines(clock, options.max_minutes)
    root, transformer_dir = resolve_model_dir(options.base)
    base_sha = weights_sha256(transformer_dir)
    passages = load_passages(source, options.fields, options.skip_bad)
    split = split_held_out(passages, options.held_out_fraction, options.held_out_cap, options.seed)
    work = _Work(options.work_dir or out.with_name(out.name + ".work"), fingerprint(passages, base_sha, options))
    previous_cpu = float(work.state.get("cpu_seconds_before", 0.0))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    transformers.set_seed(options.seed)
    log.info("adapting %s on %d documents (%d held out) on %s", root, len(passages), len(split.held_out), device)

    teacher = SentenceTransformer(str(root), device=device, local_files_only=True)
    stage1_dir = work.path / "stage1-model"
    mlm_outcome = work.outcome("mlm")
    if options.mlm.steps <= 0:
        student = SentenceTransformer(str(root), device=device, local_files_only=True)
        mlm_outcome = StageOutcome(steps=0, planned=0, stopped_early=False, final_loss=None)
    elif mlm_outcome is not None:
        student = SentenceTransformer(str(stage1_dir), device=device, local_files_only=True)
    else:
        student = SentenceTransformer(str(root), device=device, local_files_only=True)
        mlm_outcome = continue_pretraining(
            student, transformer_dir, split.train, options.mlm, work.path / "mlm", options.seed,
            deadline_of(MLM_SHARE), options.progress,
        )  # fmt: skip
        student.save(str(stage1_dir))
        work.finish("mlm", mlm_outcome)

    triplets_file = work.path / "triplets.jsonl"
    if triplets_file.is_file():
        triplets = pairs.load_triplets(triplets_file)
    else:
        settings = options.contrastive
        queries = pairs.training_queries(split.train, settings.sentences_per_doc, options.seed)
        queries = queries[: settings.steps * settings.batch_size]
        triplets = pairs.mine_negatives(queries, split.train, settings.negative_depth, options.seed, options.progress)
        pairs.save_triplets(triplets_file, triplets)

    candidate_dir = work.path / "candidate"
    train_outcome = work.outcome("contrastive")
    if train_outcome is None:
        scorer = pairs.LexicalScorer.fit(split.train) if options.contrastive.lexical_weight else None
        train_outcome = fine_tune(
            student, teacher, triplets, options.contrastive, work.path / "contrastive", options.seed,
            deadline_of(TRAIN_SHARE), options.progress, scorer,
        )  # fmt: skip
        blend_into_base(student, teacher, options.blend)
        student.save(str(candidate_dir))
        work.finish("contrastive", train_outcome)
    else:
        student = SentenceTransformer(str(candidate_dir), device=device, local_files_only=True)

    gate_queries = pairs.gate_queries(split.held_out, options.seed)
    base_scores = gate.dense_scores(teacher, gate_queries, options.progress)
    adapted_scores = gate.dense_scores(student, gate_queries, options.progress)
    lexical = gate.lexical_scores(gate_queries)
    verdict = gate.judge(
        gate.own_ranks(base_scores),
        gate.own_ranks(adapted_scores),
        gate_queries,
        options.seed,
        hybrid=(
            gate.hybrid_ranks(base_scores, lexical, fusion=DEFAULT_FUSION),
            gate.hybrid_ranks(adapted_scores, lexical, fusion=DEFAULT_FUSION),
        ),
    )
    cpu = clock.cpu_seconds()
    report = {
        "corpus": str(source),
        "documents": len(passages),
        "held_out_documents": len(split.held_out),
        "base": {"name": options.base, "path": str(root), "sha256": base_sha},
        "output": str(out),
        "promoted": verdict.promoted,
        "gate": verdict.to_json(),
        "stages": {"mlm": asdict(mlm_outcome), "contrastive": asdict(train_outcome)},
        "triplets": len(triplets),
        "bm25_first_share": pairs.bm25_first_share(triplets),
        "recipe": options.recipe(),
        "device": device,
        "cpu_seconds": cpu,
        "cpu_seconds_all_attempts": previous_cpu + cpu,
        "wall_seconds": clock.wall_seconds(),
    }
    summary = render_summary(report)
    _publish(candidate_dir if verdict.promoted else root, out, report, summary, verdict.promoted)
    if options.keep_work:
        work.state["cpu_seconds_before"] = previous_cpu + cpu
        work.save()
    else:
        shutil.rmtree(work.path, ignore_errors=True)
    return AdaptResult(out=out, promoted=verdict.promoted, verdict=verdict, summary=summary, report=report)


def _deadlines(clock: _Clock, max_minutes: float | None) -> Any:
    def deadline_of(share: float) -> float | None:
        return None if max_minutes is None else clock.wall_start + max_minutes * 60 * share

    return deadline_of


def _publish(model_dir: Path, out: Path, report: dict[str, Any], summary: str, promoted: bool) -> None:
    """Write ``out`` as a copy of ``model_dir`` plus the reports, replacing it only once complete."""
    staging = out.with_name(out.name + ".publishing")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(model_dir, staging)
    if promoted:
        atomic_write_text(staging / "README.md", summary)
    gate.write_report(staging, report, summary)
    if out.exists():
        retired = out.with_name(out.name + ".replaced")
        shutil.rmtree(retired, ignore_errors=True)
        out.rename(retired)
        staging.rename(out)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(out)


def render_summary(report: dict[str, Any]) -> str:
    """The report as a short Markdown page (printed by the CLI, saved as ``adapt_report.md``)."""
    verdict = report["gate"]
    base, adapted = verdict["base"], verdict["adapted"]
    mlm, contrastive = report["stages"]["mlm"], report["stages"]["contrastive"]
    blend = report["recipe"]["blend"]
    lexical = report["recipe"]["contrastive"]["lexical_weight"]
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(verdict["query_kinds"].items()))
    decision = "PROMOTED the adapted encoder" if report["promoted"] else "KEPT the base model"
    lines = [
        f"# semsearch adapt: {decision}",
        "",
        f"{verdict['reason']}.",
        "",
        f"- corpus: {report['corpus']} ({report['documents']} documents, {report['held_out_documents']} held out)",
        f"- base model: {report['base']['path']} (weights sha256 {report['base']['sha256'][:12]})",
        f"- output: {report['output']}",
        "",
        f"Gate: {verdict['queries']} pseudo-queries ({kinds}) from held-out documents never trained on, "
        f"each searched among all {verdict['pool']} of them.",
        "",
        "| encoder | nDCG@10 | MRR@10 | Recall@10 |",
        "|---|---|---|---|",
        f"| base | {base['ndcg_at_10']:.4f} | {base['mrr_at_10']:.4f} | {base['recall_at_10']:.4f} |",
        f"| adapted | {adapted['ndcg_at_10']:.4f} | {adapted['mrr_at_10']:.4f} | {adapted['recall_at_10']:.4f} |",
        *(
            f"| {name}, hybrid (fused with BM25) | {row['ndcg_at_10']:.4f} | {row['mrr_at_10']:.4f} | "
            f"{row['recall_at_10']:.4f} |"
            for name, row in (("base", verdict.get("hybrid_base")), ("adapted", verdict.get("hybrid_adapted")))
            if row
        ),
        "",
        f"- stage 1, masked-LM: {_stage(mlm)}",
        f"- stage 2, contrastive + distillation: {_stage(contrastive)} on {report['triplets']} mined triplets",
        f"- BM25 alone ranks the source document first for {report['bm25_first_share']:.0%} of those pseudo-queries, "
        "queries that hybrid search's BM25 half already answers; "
        + (
            f"BM25's scores were in the training logits (lexical residual, weight {lexical:g}), so it trained on "
            "what BM25 leaves"
            if lexical
            else "with no lexical residual (weight 0) it trained on them as they are"
        ),
        f"- candidate: {blend:.0%} the trained weights, {1 - blend:.0%} the base's (--blend)",
        f"- time: {report['cpu_seconds'] / 60:.1f} CPU-minutes (user+sys), {report['wall_seconds'] / 60:.1f} minutes "
        f"wall, on {report['device']}",
        "",
    ]
    return "\n".join(lines)


def _stage(outcome: dict[str, Any]) -> str:
    if not outcome["planned"]:
        return "skipped"
    loss = f", final loss {outcome['final_loss']:.4f}" if outcome["final_loss"] is not None else ""
    cut = " (stopped by the time budget, max_minutes)" if outcome["stopped_early"] else ""
    return f"{outcome['steps']}/{outcome['planned']} steps{loss}{cut}"
