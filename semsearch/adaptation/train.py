"""Stage 2: turn the (MLM-shaken) encoder back into a good sentence encoder, tuned to the corpus.

sentence-transformers' ``SentenceTransformerTrainer`` trains the student on the mined triplets
(:mod:`semsearch.adaptation.pairs`) with :class:`~semsearch.adaptation.losses.GuidedDistillationLoss`: the
frozen base encoder both filters false negatives and anchors the student through distillation; on
request BM25's scores enter the logits, so that training goes to what BM25 gets wrong (the lexical residual).
Texts are cut at 128 tokens, the index's default window (the cost of a step grows with the length);
the student's own ``max_seq_length`` is restored before it is saved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from semsearch.adaptation.callbacks import Deadline, LossBar
from semsearch.adaptation.losses import GuidedDistillationLoss, LexicalBias
from semsearch.adaptation.mlm import StageOutcome
from semsearch.adaptation.options import ContrastiveSettings
from semsearch.adaptation.pairs import LexicalScorer, Triplet
from semsearch.errors import AdaptError

log = logging.getLogger(__name__)


def blend_into_base(student: SentenceTransformer, base: SentenceTransformer, share: float) -> None:
    """Set every weight of ``student`` to ``base + share * (student - base)``, in place.

    Weight-space ensembling (WiSE-FT, Wortsman et al. 2022): the average of a fine-tuned model and
    the model it started from keeps most of the fine-tuning's gain on the new data while losing less
    of what the base did well. Here the trained student fits the pseudo-queries it was trained on
    (titles and document sentences), which are not what users type: on real queries the trained model
    lost to the base, and the halfway blend lost much less (benchmarks/RESULTS.md, adaptation).
    """
    weights = base.state_dict()
    with torch.no_grad():
        for name, tensor in student.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.lerp(weights[name].to(tensor.device), tensor, share))


def triplet_dataset(triplets: Sequence[Triplet], hard_negatives: bool, row_labels: bool = False) -> Dataset:
    """Columns in the order the loss reads them: query, its document, then the hard negative.

    ``row_labels``: each row's number as its label, by which the loss finds the batch's BM25 scores.
    """
    columns: dict[str, list] = {"anchor": [t.query for t in triplets], "positive": [t.positive for t in triplets]}
    if hard_negatives:
        columns["negative"] = [t.negative for t in triplets]
    if row_labels:
        columns["label"] = list(range(len(triplets)))
    return Dataset.from_dict(columns)


def fine_tune(
    student: SentenceTransformer,
    teacher: SentenceTransformer,
    triplets: Sequence[Triplet],
    settings: ContrastiveSettings,
    work: Path,
    seed: int,
    deadline: float | None = None,
    progress: bool = True,
    scorer: LexicalScorer | None = None,
) -> StageOutcome:
    """Train ``student`` in place; checkpoints go to ``work`` and an interrupted run resumes there.

    ``scorer`` holds the corpus's BM25 statistics, needed when ``settings.lexical_weight`` is not 0.
    """
    if not triplets:
        raise AdaptError("no training pairs could be mined from the corpus (documents too short?)")
    if settings.lexical_weight and scorer is None:
        raise AdaptError("lexical_weight needs the corpus's BM25 statistics: pass a LexicalScorer")
    planned = settings.planned_steps(len(triplets))
    used = list(triplets[: planned * settings.batch_size])
    window = student.max_seq_length
    student.max_seq_length = settings.max_length
    teacher.max_seq_length = settings.max_length
    arguments = SentenceTransformerTrainingArguments(
        output_dir=str(work),
        max_steps=planned,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup_steps=0.1,
        weight_decay=0.01,
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        logging_steps=max(1, min(10, planned // 10)),
        save_strategy="steps",
        save_steps=max(1, planned // 4),
        save_total_limit=1,
        seed=seed,
        data_seed=seed,
        report_to="none",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
    )
    lexical = (
        LexicalBias(used, scorer, settings.lexical_weight) if settings.lexical_weight and scorer is not None else None
    )
    loss = GuidedDistillationLoss(
        student,
        teacher,
        scale=settings.scale,
        distillation=settings.distillation,
        weight=settings.distillation_weight,
        margin=settings.guide_margin,
        lexical=lexical,
    )
    deadline_callback = Deadline(deadline)
    trainer = SentenceTransformerTrainer(
        model=student,
        args=arguments,
        train_dataset=triplet_dataset(used, settings.hard_negatives, row_labels=lexical is not None),
        loss=loss,
        callbacks=[LossBar("stage 2: contrastive + distillation", progress), deadline_callback],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log as a dict; LossBar shows the loss
    resume = get_last_checkpoint(str(work)) if work.is_dir() else None
    if resume:
        log.info("resuming contrastive training from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    student.max_seq_length = window
    teacher.max_seq_length = window
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return StageOutcome(
        steps=trainer.state.global_step,
        planned=planned,
        stopped_early=deadline_callback.stopped_early,
        final_loss=losses[-1] if losses else None,
    )
