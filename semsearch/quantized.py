"""The int8 encoder path: the model quantized to int8 by NNCF and run by OpenVINO.

Why this path (measured on a 2-core Xeon with AVX-512 VNNI and BF16, no AMX; see
``benchmarks/encode_speed.py``): int8 matrix work is what this kind of CPU does several times faster
than fp32, while bf16 (torch autocast, OpenVINO bf16) measured *slower* than fp32 here. ONNX Runtime's
dynamic int8 (per-channel, MatMul only, with its transformer fusions) sped up only the linear layers
and ran at about plain sentence-transformers' speed end to end; OpenVINO with an NNCF static int8 model
(SmoothQuant, int8 attention) ran about twice as fast as that, with vectors closer to fp32 (mean cosine
0.998 against 0.995).

The quantized model is made once per set of weights and cached (see :func:`cache_dir`): exported with
``torch.onnx.export``, quantized with NNCF on a fixed calibration text shipped with semsearch (so every
machine makes the same model from the same weights, and no user data is involved), written to a
temporary directory and renamed into place, so a crash never leaves a half-written model that a later
run would trust. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

import numpy as np

from semsearch.chunking import ChunkConfig, split
from semsearch.encoder import pad
from semsearch.errors import SemsearchError

log = logging.getLogger(__name__)

RECIPE = 1  # bump when the export or quantization settings change: old cache entries are then ignored
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
CALIBRATION_BATCH = 8
_CPU_INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def no_telemetry() -> None:
    """Keep OpenVINO and NNCF from sending usage telemetry, which they do by default.

    Importing ``openvino`` sends an "import" event to Intel from a forked process (forking after
    LanceDB has started its threads, which LanceDB warns may deadlock), and NNCF sends events as it
    quantizes. Both fall back to a silent stub when ``openvino_telemetry`` cannot be imported, so
    semsearch makes it unimportable in this process before importing them (unless it already was).
    """
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]


def cache_dir() -> Path:
    """Where quantized models live: ``$SEMSEARCH_CACHE`` or ``~/.cache/semsearch`` (XDG)."""
    if configured := os.environ.get("SEMSEARCH_CACHE"):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "semsearch"


def available() -> bool:
    """True when OpenVINO (to run the int8 model) and NNCF (to make it) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("openvino", "nncf"))


def cpu_has_fast_int8() -> bool:
    """True when the CPU has int8 dot-product instructions (VNNI or AMX), where int8 pays off.

    Without them (older x86, most ARM) int8 is still correct but may not be faster than fp32, so the
    default stays fp32 there. Only Linux reports the flags; elsewhere the answer is False.
    """
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(flag in flags for flag in _CPU_INT8_FLAGS)


class Int8Runtime:
    """An OpenVINO compiled int8 model: token ids and mask in, last hidden states out.

    With ``threads`` set (one, for queries) it runs one request at a time on that many threads. Without,
    it is compiled for throughput: one stream per core, each batch on one thread, several batches in
    flight. On the 2-core test machine that encoded a corpus 20-40% faster (wall clock) than two threads
    sharing each batch, because the threads never wait for each other.
    """

    def __init__(self, xml: Path, threads: int | None) -> None:
        no_telemetry()
        import openvino as ov

        # Non-quantized ops stay fp32 on every CPU (OpenVINO would pick bf16 on some), so the same
        # weights give the same vectors everywhere; bf16 was slower here anyway.
        config: dict[str, str] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config |= {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(threads)}
        else:
            config |= {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": str(os.cpu_count() or 1)}
        try:
            self._model = ov.Core().compile_model(str(xml), "CPU", config)
        except RuntimeError as exc:
            raise SemsearchError(f"cannot load the int8 model {xml} ({exc}); delete its folder to rebuild it") from exc
        self._request = self._model.create_infer_request()
        self._parallel = 1 if threads else int(self._model.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self._queue = ov.AsyncInferQueue(self._model, self._parallel) if self._parallel > 1 else None

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        outputs = self._request.infer(_inputs(ids, mask))
        return np.asarray(outputs[0], dtype=np.float32)

    def forward_all(self, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> Iterator[np.ndarray]:
        """Hidden states of each batch, in order, with up to one batch per stream in flight."""
        if self._queue is None:
            yield from (self.forward(ids, mask) for ids, mask in batches)
            return
        done: dict[int, np.ndarray] = {}
        self._queue.set_callback(
            lambda request, number: done.__setitem__(number, request.get_output_tensor(0).data.copy())
        )
        group: list[int] = []
        for number, (ids, mask) in enumerate(batches):
            self._queue.start_async(_inputs(ids, mask), number)
            group.append(number)
            if len(group) == self._parallel:
                self._queue.wait_all()
                yield from (done.pop(n) for n in group)
                group = []
        self._queue.wait_all()
        yield from (done.pop(n) for n in group)


def _inputs(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def load(model_dir: Path, sha256: str, tokenizer: object, max_length: int, threads: int | None = None) -> Int8Runtime:
    """The int8 runtime for the weights in ``model_dir``, quantizing them first if not cached yet."""
    if not available():
        raise SemsearchError("--precision int8 needs the 'openvino' and 'nncf' packages: pip install openvino nncf")
    no_telemetry()
    import openvino as ov

    nncf_version = importlib.metadata.version("nncf")  # not imported: only making the model needs it
    target = cache_dir() / "int8" / f"{sha256[:32]}-r{RECIPE}-ov{ov.__version__.split('-')[0]}-nncf{nncf_version}"
    xml = target / "model.xml"
    if not xml.is_file():
        _build(model_dir, tokenizer, max_length, target)
    return Int8Runtime(xml, threads)


def _build(model_dir: Path, tokenizer: object, max_length: int, target: Path) -> None:
    """Export, quantize and save into ``target`` atomically (a temporary sibling, then a rename)."""
    no_telemetry()
    import nncf
    import openvino as ov

    log.warning("quantizing the model to int8 once for this machine (cached in %s); this takes a minute", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
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

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor):
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
        ids, mask = pad(windows[begin : begin + CALIBRATION_BATCH])
        batches.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    return batches
