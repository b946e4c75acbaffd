"""The int8 model: made once per set of weights by NNCF, run by OpenVINO (:mod:`.openvino_runtime`).

Why int8 (benchmarks/RESULTS.md, speed): int8 matrix work is what CPUs with VNNI or AMX do several times
faster than fp32. ONNX Runtime's dynamic int8 sped up only the linear layers; OpenVINO with an NNCF
static int8 model (SmoothQuant, int8 attention) ran about twice as fast, with vectors closer to fp32.

The quantized model is cached (see :func:`cache_dir`): exported with ``torch.onnx.export``, quantized
with NNCF on a fixed calibration text shipped with semsearch (so every machine makes the same model from
the same weights, and no user data is involved), written to a temporary directory and renamed into
place, so a crash never leaves a half-written model that a later run would trust. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from importlib import resources
from pathlib import Path

import numpy as np

from semsearch.chunking import ChunkConfig, split
from semsearch.errors import ModelError
from semsearch.runtime.base import bert_inputs, pad
from semsearch.runtime.openvino_runtime import OpenVinoRuntime, available, no_telemetry

log = logging.getLogger(__name__)

RECIPE = 1  # bump when the export or quantization settings change: old cache entries are then ignored
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
CALIBRATION_BATCH = 8


def cache_dir() -> Path:
    """Where quantized models live: ``$SEMSEARCH_CACHE`` or ``~/.cache/semsearch`` (XDG)."""
    if configured := os.environ.get("SEMSEARCH_CACHE"):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "semsearch"


def load(
    model_dir: Path, sha256: str, tokenizer: object, max_length: int, threads: int | None = None
) -> OpenVinoRuntime:
    """The int8 runtime for the weights in ``model_dir``, quantizing them first if not cached yet."""
    if not available():
        raise ModelError("precision int8 needs the 'openvino' and 'nncf' packages: pip install openvino nncf")
    no_telemetry()
    import openvino as ov

    nncf_version = importlib.metadata.version("nncf")  # not imported: only making the model needs it
    target = cache_dir() / "int8" / f"{sha256[:32]}-r{RECIPE}-ov{ov.__version__.split('-')[0]}-nncf{nncf_version}"
    xml = target / "model.xml"
    if not xml.is_file():
        _build(model_dir, tokenizer, max_length, target)
    return OpenVinoRuntime(xml, threads)


@contextmanager
def output_to_stderr() -> Iterator[None]:
    """What the libraries print while quantizing (NNCF's progress bars, OpenVINO's messages) goes to
    stderr, at the file-descriptor level too: stdout carries a command's results alone, so that
    ``semsearch search --json | jq`` works on a machine that has not made its int8 model yet."""
    for stream in (sys.stdout, sys.__stdout__):
        if stream is not None:
            stream.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with redirect_stdout(sys.stderr):
            yield
    finally:
        for stream in (sys.stdout, sys.__stdout__):
            if stream is not None:
                stream.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _build(model_dir: Path, tokenizer: object, max_length: int, target: Path) -> None:
    """Export, quantize and save into ``target`` atomically (a temporary sibling, then a rename)."""
    no_telemetry()
    log.warning("quantizing the model to int8 once for this machine (cached in %s); this takes a minute", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    with output_to_stderr():
        _quantize(model_dir, tokenizer, max_length, target, scratch)


def _quantize(model_dir: Path, tokenizer: object, max_length: int, target: Path, scratch: Path) -> None:
    """Export to ONNX, quantize with NNCF on the calibration text, save and rename into ``target``."""
    import nncf
    import openvino as ov

    try:
        onnx_path = scratch / "model.onnx"
        _export_onnx(model_dir, onnx_path)
        model = ov.Core().read_model(str(onnx_path))
        batches = calibration_batches(tokenizer, max_length)
        quantized = nncf.quantize(
            model, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER, subset_size=len(batches)
        )
        built = scratch / "built"
        built.mkdir()
        ov.save_model(quantized, str(built / "model.xml"))
        (built / "recipe.json").write_text(json.dumps({"recipe": RECIPE, "source": str(model_dir)}))
        try:
            os.rename(built, target)
        except OSError:
            if not (target / "model.xml").is_file():  # not another process winning the race: a real failure
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _export_onnx(model_dir: Path, path: Path) -> None:
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_dir, local_files_only=True, attn_implementation="eager").eval()

    class KeywordForward(torch.nn.Module):
        """``torch.onnx.export`` passes inputs by position; BERT models want them by keyword."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    example = torch.ones((2, 16), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            KeywordForward(), (example, example, torch.zeros_like(example)), str(path), input_names=list(INPUTS),
            output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )  # fmt: skip


def calibration_batches(tokenizer: object, max_length: int) -> list[dict[str, np.ndarray]]:
    """Model inputs from the shipped calibration text: full windows of the whole text, and each line alone."""
    text = resources.files("semsearch").joinpath("data/calibration.txt").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    overlap = (max_length - 2) // 2
    windows = [c.input_ids for c in split(tokenizer, [text], ChunkConfig(max_length, overlap))]  # type: ignore[arg-type]
    windows += [c.input_ids for c in split(tokenizer, lines, ChunkConfig(max_length, 0)) if c.number == 0]  # type: ignore[arg-type]
    windows.sort(key=len, reverse=True)
    batches = []
    for begin in range(0, len(windows), CALIBRATION_BATCH):
        batches.append(bert_inputs(*pad(windows[begin : begin + CALIBRATION_BATCH])))
    return batches
