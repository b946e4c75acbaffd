"""The model as an OpenVINO graph: exported once from torch (through ONNX), then run without torch.

The fp32 graph computes what torch computes (the runtime parity suite holds it to the reference), so an
index made with torch fp32 can be queried with it: loading it needs neither torch nor transformers,
which is what makes a query from a cold start fast.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

from semsearch.runtime.cache import built, cache_dir, notice
from semsearch.runtime.openvino_runtime import no_telemetry, output_to_stderr

log = logging.getLogger(__name__)

RECIPE = 1  # bump when the export changes: old cache entries are then ignored
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def fp32_graph(model_dir: Path, sha256: str) -> Path:
    """The fp32 OpenVINO graph (``model.xml``) of the weights in ``model_dir``, exported first if not cached."""
    no_telemetry()
    import openvino as ov

    target = cache_dir() / "fp32" / f"{sha256[:32]}-r{RECIPE}-ov{ov.__version__.split('-')[0]}"
    if not (target / "model.xml").is_file():
        notice(f"exporting the model to OpenVINO once for this machine (cached in {target})")

    def build(folder: Path) -> None:
        with output_to_stderr():
            export_onnx(model_dir, folder / "model.onnx")
            graph = ov.Core().read_model(str(folder / "model.onnx"))
            ov.save_model(graph, str(folder / "model.xml"), compress_to_fp16=False)  # fp32 weights, as trained
            (folder / "model.onnx").unlink()
            (folder / "recipe.json").write_text(json.dumps({"recipe": RECIPE, "source": str(model_dir)}))

    return built(target, build) / "model.xml"


def int8_dynamic_graph(model_dir: Path, sha256: str) -> Path:
    """The ``int8-dynamic`` ONNX graph of the weights in ``model_dir``: the fp32 export with its matrix
    products' weights quantized to int8 per output channel (activations are quantized as it runs)."""
    import onnxruntime

    target = cache_dir() / "int8-dynamic" / f"{sha256[:32]}-r{RECIPE}-ort{onnxruntime.__version__}"
    if not (target / "model.onnx").is_file():
        notice(f"making the int8-dynamic model once for this machine (cached in {target})")

    def build(folder: Path) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        with output_to_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_onnx(model_dir, folder / "fp32.onnx")
            logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # its advice is for images
            quantize_dynamic(str(folder / "fp32.onnx"), str(folder / "model.onnx"), weight_type=QuantType.QInt8,
                             per_channel=True, op_types_to_quantize=["MatMul"])  # fmt: skip
            (folder / "fp32.onnx").unlink()
            (folder / "recipe.json").write_text(json.dumps({"recipe": RECIPE, "source": str(model_dir)}))

    return built(target, build, marker="model.onnx") / "model.onnx"


def export_onnx(model_dir: Path, path: Path) -> None:
    """The transformer of ``model_dir`` as an ONNX graph: token ids, mask and types in, last hidden state out."""
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
