"""The fine-tuned head: the encoder's top N transformer layers and a linear head, trained with cross-entropy.

It reads the first window of each text. The layers below stay frozen, so their output is computed
once and cached (:func:`semsearch.classify.layers.encode_with_states`), and each epoch only runs the
top layers: on a CPU this is what makes fine-tuning affordable. Only the tuned layers are saved; the
rest is the base encoder, which the classifier finds again by path and checks by its weights hash.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from semsearch.classify.encoding import Encoded
from semsearch.classify.heads.base import Head
from semsearch.classify.layers import bert_layers, run_layers
from semsearch.classify.options import HeadKind, TrainOptions
from semsearch.classify.persistence import LAYER_PREFIX, ClassifierConfig
from semsearch.encoder import Encoder, length_batches
from semsearch.errors import ClassifierError
from semsearch.pooling import pool
from semsearch.types import Pooling


class TopLayers(torch.nn.Module):
    """The tuned top layers of the encoder, its pooling and a linear head: cached states in, logits out."""

    def __init__(self, layers: Sequence[torch.nn.Module], pooling: Pooling, dim: int, classes: int) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)
        self.pooling = pooling
        self.dropout = torch.nn.Dropout(0.1)
        self.head = torch.nn.Linear(dim, classes)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(pool(run_layers(self.layers, hidden, mask), mask, self.pooling)))


class FineTunedHead(Head):
    """Top layers copied from the base encoder (``base()``, loaded when first needed) and tuned with a head."""

    kind = HeadKind.FINETUNED

    def __init__(self, base: Callable[[], Encoder], layers: int, where: Path | None = None) -> None:
        self.base = base
        self.layers = layers  # how many top layers it tunes
        self.where = where  # the directory it was loaded from, for messages
        self.top: TopLayers | None = None
        self.weight: np.ndarray | None = None  # the linear head, (classes, dim) ...
        self.bias: np.ndarray | None = None  # ... and (classes,)
        self.saved_layers: dict[str, np.ndarray] | None = None  # loaded, not yet rebuilt into ``top``

    def fit(self, encoded: Encoded, y: np.ndarray, options: TrainOptions, report: dict[str, Any]) -> None:
        assert encoded.states is not None
        states = encoded.states
        torch.manual_seed(options.seed)
        rng = np.random.default_rng(options.seed)
        top = self._copy_top(int(y.max()) + 1)
        top.train()
        optimizer = torch.optim.AdamW(
            [
                {"params": top.layers.parameters(), "lr": options.layer_lr},
                {"params": top.head.parameters(), "lr": options.head_lr},
            ],
            weight_decay=options.weight_decay,
        )
        lengths = [s.shape[0] for s in states]
        steps = options.epochs * math.ceil(len(lengths) / options.batch_size)
        warmup = max(1, steps // 20)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))
        )
        targets = torch.as_tensor(y)
        losses = []
        with tqdm(total=steps, unit="batch", desc="fine-tuning", disable=not options.progress) as bar:
            for epoch in range(options.epochs):
                total, seen = 0.0, 0
                for batch in shuffled_batches(lengths, options.batch_size, rng):
                    hidden, mask = stack([states[i] for i in batch])
                    loss = torch.nn.functional.cross_entropy(top(hidden, mask), targets[batch])
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
                    optimizer.step()
                    scheduler.step()
                    total, seen = total + float(loss.detach()) * len(batch), seen + len(batch)
                    bar.update(1)
                    bar.set_postfix(epoch=epoch + 1, loss=f"{total / seen:.3f}", refresh=False)
                losses.append(round(total / seen, 4))
        top.eval()
        self.top, self.saved_layers = top, None
        self.weight = top.head.weight.detach().numpy().copy()
        self.bias = top.head.bias.detach().numpy().copy()
        report.update(epochs=options.epochs, layers=self.layers, train_loss=losses)

    def proba(self, encoded: Encoded) -> np.ndarray:
        assert encoded.states is not None
        states, top = encoded.states, self._top()
        out = np.zeros((encoded.count, top.head.out_features), dtype=np.float64)
        lengths = [s.shape[0] for s in states]
        with torch.inference_mode():
            for batch in length_batches(lengths, 64 * max([1, *lengths]), 64):
                hidden, mask = stack([states[i] for i in batch])
                out[batch] = torch.softmax(top(hidden, mask).double(), dim=-1).numpy()
        return out

    def tensors(self) -> dict[str, np.ndarray]:
        """The linear head and the tuned layers (not the frozen body: that is the base encoder's)."""
        assert self.weight is not None and self.bias is not None, "fit or restore the head first"
        tensors = {
            "weight": np.ascontiguousarray(self.weight, dtype=np.float32),
            "bias": np.ascontiguousarray(self.bias, dtype=np.float32),
        }
        if self.top is not None:
            for name, tensor in self.top.layers.state_dict().items():
                tensors[LAYER_PREFIX + name] = np.ascontiguousarray(tensor.detach().float().numpy())
        elif self.saved_layers is not None:
            tensors.update(self.saved_layers)
        return tensors

    @classmethod
    def restore(
        cls, tensors: dict[str, np.ndarray], config: ClassifierConfig, where: Path, base: Callable[[], Encoder]
    ) -> FineTunedHead:
        """The saved head; its layers are rebuilt on first use, on the encoder then in use (perhaps an index's)."""
        head = cls(base, config.finetune_layers, where)
        head.weight, head.bias = tensors["weight"], tensors["bias"]
        head.saved_layers = {k: v for k, v in tensors.items() if k.startswith(LAYER_PREFIX)}
        return head

    def _copy_top(self, classes: int) -> TopLayers:
        """Copies of the base encoder's top layers (to tune, or to load tuned weights into) and a new head."""
        encoder = self.base()
        body = bert_layers(encoder.torch_model)
        tuned = [copy.deepcopy(layer) for layer in body[len(body) - self.layers :]]
        return TopLayers(tuned, encoder.pooling, encoder.dim, classes)

    def _top(self) -> TopLayers:
        if self.top is not None:
            return self.top
        assert self.weight is not None and self.bias is not None
        top = self._copy_top(self.weight.shape[0])
        state = {k[len(LAYER_PREFIX) :]: torch.from_numpy(v.copy()) for k, v in (self.saved_layers or {}).items()}
        try:
            top.layers.load_state_dict(state)
        except RuntimeError as exc:
            raise ClassifierError(f"{self.where}: tuned layers do not fit the base encoder ({exc})") from exc
        top.head.weight.data = torch.from_numpy(self.weight.copy())
        top.head.bias.data = torch.from_numpy(self.bias.copy())
        top.eval()
        self.top = top
        return top


def stack(states: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Cached states of different lengths as one zero-padded float32 batch and its mask."""
    width = max(s.shape[0] for s in states)
    hidden = torch.zeros((len(states), width, states[0].shape[1]), dtype=torch.float32)
    mask = torch.zeros((len(states), width), dtype=torch.long)
    for row, state in enumerate(states):
        hidden[row, : state.shape[0]] = state.float()
        mask[row, : state.shape[0]] = 1
    return hidden, mask


def shuffled_batches(lengths: Sequence[int], size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Training batches of similar length (little padding), in shuffled order: within each pool of 50
    batches' worth of shuffled texts, sorted by length and cut into batches."""
    order = rng.permutation(len(lengths))
    pool_size = size * 50
    batches = []
    for begin in range(0, len(order), pool_size):
        part = order[begin : begin + pool_size]
        part = part[np.argsort([lengths[i] for i in part], kind="stable")]
        batches += [part[b : b + size] for b in range(0, len(part), size)]
    return [batches[i] for i in rng.permutation(len(batches))]
