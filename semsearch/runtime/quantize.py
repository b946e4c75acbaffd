"""The int8 model: made once per set of weights by NNCF, run by OpenVINO (:mod:`.openvino_runtime`).

Why int8 (benchmarks/RESULTS.md, speed): int8 matrix work is what CPUs with VNNI or AMX do several times
faster than fp32. ONNX Runtime's dynamic int8 sped up only the linear layers; OpenVINO with an NNCF
static int8 model (SmoothQuant, int8 attention) ran about twice as fast, with vectors closer to fp32.

The quantized model is made once per weights and cached (:mod:`.cache`): exported with
``torch.onnx.export`` (:mod:`.export`), quantized with NNCF on a fixed calibration text shipped with
semsearch (so every machine makes the same model from the same weights, and no user data is involved).
Nothing is downloaded.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np

from semsearch.chunking import ChunkConfig, split
from semsearch.errors import ModelError
from semsearch.runtime.base import bert_inputs, pad
from semsearch.runtime.cache import built, cache_dir, notice
from semsearch.runtime.export import export_onnx
from semsearch.runtime.openvino_runtime import OpenVinoRuntime, available, no_telemetry, output_to_stderr

log = logging.getLogger(__name__)

RECIPE = 1  # bump when the export or quantization settings change: old cache entries are then ignored
CALIBRATION_BATCH = 8


def load(
    model_dir: Path, sha256: str, tokenizer: Callable[[], object], max_length: int, threads: int | None = None
) -> OpenVinoRuntime:
    """The int8 runtime for the weights in ``model_dir``, quantizing them first if not cached yet
    (``tokenizer`` gives the model's tokenizer, to cut the calibration text: only then is it called)."""
    if not available():
        raise ModelError("precision int8 needs the 'openvino' and 'nncf' packages: pip install openvino nncf")
    no_telemetry()
    import openvino as ov

    nncf_version = importlib.metadata.version("nncf")  # not imported: only making the model needs it
    target = cache_dir() / "int8" / f"{sha256[:32]}-r{RECIPE}-ov{ov.__version__.split('-')[0]}-nncf{nncf_version}"
    if not (target / "model.xml").is_file():
        notice(f"quantizing the model to int8 once for this machine (cached in {target}); this takes a minute")

    def build(folder: Path) -> None:
        with output_to_stderr():
            _quantize(model_dir, tokenizer(), max_length, folder)

    return OpenVinoRuntime(built(target, build) / "model.xml", threads)


def _quantize(model_dir: Path, tokenizer: object, max_length: int, folder: Path) -> None:
    """Export to ONNX, quantize with NNCF on the calibration text, save into ``folder``."""
    import nncf
    import openvino as ov

    export_onnx(model_dir, folder / "model.onnx")
    model = ov.Core().read_model(str(folder / "model.onnx"))
    batches = calibration_batches(tokenizer, max_length)
    quantized = nncf.quantize(model, nncf.Dataset(batches), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(batches))  # fmt: skip
    ov.save_model(quantized, str(folder / "model.xml"))
    (folder / "model.onnx").unlink()
    (folder / "recipe.json").write_text(json.dumps({"recipe": RECIPE, "source": str(model_dir)}))


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
