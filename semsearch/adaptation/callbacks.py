"""Trainer callbacks shared by both training stages: a progress bar with the loss, and a time budget."""

from __future__ import annotations

import time
from typing import Any

from tqdm.auto import tqdm
from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class LossBar(TrainerCallback):
    """One tqdm bar per stage, counting optimisation steps, with the last logged loss beside it.

    The Trainer's own bar is turned off (``disable_tqdm``): it prints every log as a dict line.
    """

    def __init__(self, description: str, enabled: bool = True) -> None:
        self.description = description
        self.enabled = enabled
        self.bar: tqdm | None = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any) -> None:
        hidden = not self.enabled
        self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.description, disable=hidden)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any) -> None:
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, logs: dict | None = None, **_: Any
    ) -> None:
        if self.bar is not None and logs and "loss" in logs:
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}", refresh=False)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Deadline(TrainerCallback):
    """Stop training (after saving a checkpoint) once the wall clock passes ``deadline`` (``time.monotonic``)."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.stopped_early = False

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline and state.global_step < state.max_steps:
            self.stopped_early = True
            control.should_training_stop = True
            control.should_save = True
