"""Stage 1: continued masked-language-model pretraining of the encoder on the corpus (BERT's method).

15% of the WordPiece tokens of each window are chosen; of those 80% become ``[MASK]``, 10% a
random token and 10% stay as they are, and the model learns to restore them. This is
transformers' own ``DataCollatorForLanguageModeling`` and ``Trainer``; nothing is hand-written.

**The MLM head.** A sentence-transformers encoder such as all-MiniLM-L6-v2 ships only the BERT body:
its MLM head was dropped when it was trained for sentence vectors. ``BertForMaskedLM`` is built on
the encoder's weights, which adds a fresh head: a 384x384 dense layer with GELU and LayerNorm
(randomly initialised) and a per-token output bias (zeros). The decoder, which turns a hidden
vector into a score for each of the 30,522 WordPiece tokens, is *tied* to the input word
embeddings: it is the same matrix, not a copy. So the head adds few new weights and its token
predictions start from the encoder's own vocabulary geometry, but the MLM loss also reaches the
word embeddings through the decoder, and every step moves the vectors that retrieval relies on.

**Why this stage is short.** MLM trains token prediction, not sentence similarity, and it wrecks a
sentence encoder's vectors when run long (GPL paper, Table 10; one epoch alone wrecked SciFact
retrieval here, benchmarks/RESULTS.md, adaptation). Here it is a brief exposure to the corpus's vocabulary at
a low learning rate, and the follow-up stage (:mod:`semsearch.adaptation.train`) restores the vectors.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor
from torch.nn import functional
from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoTokenizer,
    BertForMaskedLM,
    DataCollatorForLanguageModeling,
    PreTrainedModel,
    Trainer,
    TrainingArguments,
)
from transformers.modeling_outputs import MaskedLMOutput
from transformers.trainer_callback import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from semsearch.adaptation.callbacks import Deadline, LossBar
from semsearch.adaptation.options import MLMSettings
from semsearch.adaptation.texts import Passage
from semsearch.errors import AdaptError

log = logging.getLogger(__name__)

MIN_WINDOW_TOKENS = 16  # shorter windows (tails of documents) carry little to predict


@dataclass(frozen=True)
class StageOutcome:
    """What a training stage did: steps run of those planned, whether the time budget cut it short."""

    steps: int
    planned: int
    stopped_early: bool
    final_loss: float | None


class MaskedPositionsBertForMaskedLM(BertForMaskedLM):
    """``BertForMaskedLM`` whose head scores only the chosen (masked) positions.

    The loss is the same (cross-entropy ignores every other position), but the 30,522-way
    decoder runs on 15% of the tokens instead of all of them: about 30% less CPU per step.
    """

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, labels: Tensor | None = None, **_: object
    ) -> MaskedLMOutput:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if labels is None:
            return MaskedLMOutput(logits=self.cls(hidden))
        chosen = labels != -100
        logits = self.cls(hidden[chosen])
        return MaskedLMOutput(loss=functional.cross_entropy(logits, labels[chosen]), logits=logits)


def masked_lm(transformer_dir: Path) -> PreTrainedModel:
    """``BertForMaskedLM`` (or the family's equivalent) on the encoder's weights, decoder tied.

    Raises when the decoder is not tied: an untied one would be a second, random 30522x384 matrix.
    """
    config = AutoConfig.from_pretrained(transformer_dir, local_files_only=True)
    family = MaskedPositionsBertForMaskedLM if config.model_type == "bert" else AutoModelForMaskedLM
    model = family.from_pretrained(transformer_dir, local_files_only=True)
    decoder = model.get_output_embeddings()
    if decoder is None or decoder.weight is not model.get_input_embeddings().weight:
        raise AdaptError(f"cannot build an MLM head with a tied decoder for the model in {transformer_dir}")
    return model


def windows(tokenizer: object, passages: Sequence[Passage], max_length: int) -> list[dict[str, list[int]]]:
    """Every passage cut into consecutive token windows (special tokens included)."""
    encoded = tokenizer(  # type: ignore[operator]
        [p.text for p in passages],
        max_length=max_length,
        truncation=True,
        return_overflowing_tokens=True,
        return_special_tokens_mask=True,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return [
        {"input_ids": ids, "special_tokens_mask": special}
        for ids, special in zip(encoded["input_ids"], encoded["special_tokens_mask"], strict=True)
        if len(ids) >= MIN_WINDOW_TOKENS
    ]


def continue_pretraining(
    base: SentenceTransformer,
    transformer_dir: Path,
    passages: Sequence[Passage],
    settings: MLMSettings,
    work: Path,
    seed: int,
    deadline: float | None = None,
    progress: bool = True,
) -> StageOutcome:
    """Train the MLM on ``passages``, then copy the trained body back into ``base`` (in place).

    Checkpoints go to ``work``; an interrupted run resumes from the last one.
    """
    tokenizer = AutoTokenizer.from_pretrained(transformer_dir, local_files_only=True)
    model = masked_lm(transformer_dir)
    dataset = windows(tokenizer, passages, settings.max_length)
    if not dataset:
        raise AdaptError("the corpus has no text long enough for masked-language-model training")
    planned = min(settings.steps, math.ceil(len(dataset) / settings.batch_size))  # at most one pass
    arguments = TrainingArguments(
        output_dir=str(work),
        max_steps=planned,
        per_device_train_batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup_steps=0.1,
        weight_decay=0.01,
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
    deadline_callback = Deadline(deadline)
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=dataset,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=True, mlm_probability=settings.probability),
        callbacks=[LossBar("stage 1: masked-LM", progress), deadline_callback],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log as a dict; LossBar shows the loss
    resume = get_last_checkpoint(str(work)) if work.is_dir() else None
    if resume:
        log.info("resuming masked-LM training from %s", resume)
    trainer.train(resume_from_checkpoint=resume)
    body = model.base_model.state_dict()
    missing, unexpected = base[0].auto_model.load_state_dict(body, strict=False)  # type: ignore[union-attr]
    if unexpected or any(not name.startswith("pooler.") for name in missing):
        raise AdaptError(f"masked-LM weights do not fit the encoder (missing {missing}, unexpected {unexpected})")
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return StageOutcome(
        steps=trainer.state.global_step,
        planned=planned,
        stopped_early=deadline_callback.stopped_early,
        final_loss=losses[-1] if losses else None,
    )
