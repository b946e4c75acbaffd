"""The int8 runtime: the quantized model is made once per weights, cached, never trusted half-written, and close to fp32; the default precision follows the CPU."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from semsearch.encoder import Encoder
from semsearch.types import Precision

TEXTS = ["The cat sat on the mat.", "Quantum chromodynamics describes the strong force.", "short"]


@pytest.fixture(scope="module")
def int8_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("int8-cache")


def test_int8_tiny_model_is_cached_by_weights_and_close_to_fp32(
    tiny_model: Path, int8_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEMSEARCH_CACHE", str(int8_cache))
    int8 = Encoder(str(tiny_model), precision=Precision.INT8)
    fp32 = Encoder(str(tiny_model), precision=Precision.FP32)
    got, want = int8.encode(TEXTS), fp32.encode(TEXTS)  # the first use makes the int8 model
    built = list((int8_cache / "int8").iterdir())
    assert len(built) == 1 and built[0].name.startswith(int8.identity.sha256[:32])
    assert (built[0] / "model.xml").is_file()
    assert not [p for p in (int8_cache / "int8").iterdir() if p.name.startswith(".")]  # no temporary left
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * want).sum(1).min() > 0.9
    stamp = (built[0] / "model.bin").stat().st_mtime_ns
    again = Encoder(str(tiny_model), precision=Precision.INT8)  # from the cache: not rebuilt
    np.testing.assert_allclose(again.encode(TEXTS), got, atol=1e-6)
    assert (built[0] / "model.bin").stat().st_mtime_ns == stamp
    assert sys.modules.get("openvino_telemetry", None) is None  # OpenVINO's usage telemetry stays off


def test_an_interrupted_quantization_is_not_trusted(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEMSEARCH_CACHE", str(tmp_path))
    sha = Encoder(str(tiny_model), precision=Precision.FP32).identity.sha256
    leftover = tmp_path / "int8" / f".{sha[:32]}-crashed"
    leftover.mkdir(parents=True)
    (leftover / "model.xml").write_text("<half written")
    encoder = Encoder(str(tiny_model), precision=Precision.INT8)
    assert encoder.encode(["hello"]).shape == (1, 32)
    finished = [p for p in (tmp_path / "int8").iterdir() if not p.name.startswith(".")]
    assert len(finished) == 1 and (finished[0] / "model.xml").read_text().startswith("<?xml")
    said = capfd.readouterr().err  # a step made once is said as such, not as a warning
    assert "quantizing the model to int8 once for this machine" in said and "WARNING" not in said


def test_default_precision_follows_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from semsearch import runtime
    from semsearch.runtime import cpu, openvino_runtime

    monkeypatch.setattr(cpu, "has_fast_int8", lambda: True)
    assert runtime.best_precision() is (Precision.INT8 if openvino_runtime.available() else Precision.FP32)
    monkeypatch.setattr(cpu, "has_fast_int8", lambda: False)
    assert runtime.best_precision() is Precision.FP32


def test_default_model_int8_vectors_match_fp32() -> None:
    got = Encoder(precision=Precision.INT8, threads=1).encode(TEXTS)
    want = Encoder(precision=Precision.FP32, threads=1).encode(TEXTS)
    assert (got * want).sum(1).min() > 0.98


def test_making_the_int8_model_prints_nothing_on_stdout(tmp_path: Path, tiny_model: Path) -> None:
    """NNCF draws progress bars on stdout while it quantizes; a command's stdout must hold its result alone."""
    import json
    import os
    import subprocess

    source = tmp_path / "c.jsonl"
    source.write_text(
        "".join(json.dumps({"_id": f"d{i}", "text": f"note {i} on topic {i % 2}"}) + "\n" for i in range(4))
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SEMSEARCH_CACHE": str(tmp_path / "cache-a")}
    command = [sys.executable, "-m", "semsearch"]
    index = subprocess.run([*command, "index", str(source), "--index", str(tmp_path / "idx"), "--model",
                            str(tiny_model), "--precision", "int8"], env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert index.returncode == 0, index.stderr[-2000:]
    assert [line.split()[1] for line in index.stdout.splitlines()] == ["documents", "chunks", "index:"]
    assert "quantizing" in index.stderr
    env["SEMSEARCH_CACHE"] = str(tmp_path / "cache-b")  # the search makes its own int8 model again
    found = subprocess.run([*command, "search", "note", "--index", str(tmp_path / "idx"), "--json"], env=env,
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert found.returncode == 0 and "quantizing" in found.stderr, found.stderr[-2000:]
    assert len(json.loads(found.stdout)["hits"]) == 4  # stdout is one JSON object and nothing else
