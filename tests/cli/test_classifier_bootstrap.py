"""``semsearch classifier suggest|curve|agreement``: bootstrapping a classifier from an outside labeller."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from classify.samples import corpus, dataset
from click.testing import CliRunner
from helpers import tiny_bert, write_jsonl

from semsearch.cli import main


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def index(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 posts (three topics, 10 each) indexed with the tiny model."""
    folder = tmp_path_factory.mktemp("bootstrap")
    source = write_jsonl(folder / "posts.jsonl", corpus(10, seed=21))
    code, _, err = run("index", source, "--index", folder / "idx", "--model", tiny_model)
    assert code == 0, err
    return folder / "idx"


@pytest.fixture(scope="module")
def other_tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's shape with other random weights: another encoder."""
    return tiny_bert(tmp_path_factory.mktemp("other-tiny-bert"), seed=1)


def labelled_file(path: Path, count: int, seed: int, field: str = "topic") -> Path:
    texts, labels = dataset(count, seed=seed)
    return write_jsonl(path, [{"text": t, field: y} for t, y in zip(texts, labels, strict=True)])


def test_suggest_cold_start_then_with_a_classifier_skipping_what_is_labelled(
    index: Path, tiny_model: Path, tmp_path: Path
) -> None:
    code, out, err = run("classifier", "suggest", "--index", index, "-n", 6)
    assert code == 0, err and "cold-start" in err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 6 and len({r["id"] for r in rows}) == 6 and all(r["text"] for r in rows)
    labelled = write_jsonl(tmp_path / "done.jsonl", [{"id": r["id"], "topic": r["id"].split("/")[0]} for r in rows])

    data = labelled_file(tmp_path / "train.jsonl", 10, seed=22)
    code, _, err = run("classifier", "train", data, "--out", tmp_path / "clf", "--label-field", "topic",
                       "--model", tiny_model, "--validation", "0", "--cache", tmp_path / "cache")  # fmt: skip
    assert code == 0, err
    code, out, err = run("classifier", "suggest", "--index", index, "--classifier", tmp_path / "clf", "-n", 24,
                         "--labelled", labelled, "--json")  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["strategy"] == "margin" and result["excluded"] == 6 and len(result["documents"]) == 24
    chosen = {d["id"] for d in result["documents"]}
    assert not chosen & {r["id"] for r in rows}  # labelled already: never suggested again
    uncertainty = [d["uncertainty"] for d in result["documents"]]
    assert all(0 <= u <= 1 for u in uncertainty) and {d["predicted"] for d in result["documents"]} <= {
        "hockey", "medicine", "space"}  # fmt: skip

    code, _, err = run("classifier", "suggest", "--index", index, "--classifier", tmp_path / "clf", "-n", 25,
                       "--labelled", labelled)  # fmt: skip
    assert code == 1 and err.count("\n") == 1
    assert (
        err == "error: -n 25: the index holds 30 documents, 6 of them labelled already: at most 24 can be suggested\n"
    )
    as_corpus = write_jsonl(tmp_path / "done2.jsonl", [{"_id": r["id"], "topic": "x"} for r in rows])  # BEIR's _id
    code, out, _ = run("classifier", "suggest", "--index", index, "-n", 3, "--labelled", as_corpus, "--json")
    assert code == 0 and json.loads(out)["excluded"] == 6
    code, _, err = run("classifier", "suggest", "--index", index, "-n", 3, "--labelled", as_corpus, "--id-field", "key")
    assert code == 1 and "none of its 6 records has an id field ('key'); name it with --id-field FIELD" in err


def test_suggest_refuses_a_classifier_of_another_encoder(index: Path, tmp_path: Path, other_tiny_model: Path) -> None:
    data = labelled_file(tmp_path / "train.jsonl", 6, seed=23)
    code, _, err = run("classifier", "train", data, "--out", tmp_path / "clf", "--label-field", "topic",
                       "--model", other_tiny_model, "--validation", "0", "--no-cache")  # fmt: skip
    assert code == 0, err
    code, _, err = run("classifier", "suggest", "--index", index, "--classifier", tmp_path / "clf")
    assert code == 1 and err.count("\n") == 1
    assert "but the index at" in err and "train a classifier on that encoder" in err


def test_curve_and_agreement_from_the_command_line(tiny_model: Path, tmp_path: Path) -> None:
    data = labelled_file(tmp_path / "labelled.jsonl", 12, seed=24)
    png = tmp_path / "curve.png"
    code, out, err = run("classifier", "curve", data, "--label-field", "topic", "--model", tiny_model,
                         "--sizes", "6,12,18,24", "--folds", "3", "--target", "0.9", "--plot", png, "--json",
                         "--cache", tmp_path / "cache")  # fmt: skip
    assert code == 0, err
    curve = json.loads(out)
    assert [p["size"] for p in curve["points"]] == [6, 12, 18, 24] and curve["labelled"] == 36
    assert all(p["accuracy_interval"][0] <= p["accuracy"] <= p["accuracy_interval"][1] for p in curve["points"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and curve["target"] == 0.9
    code, out, err = run("classifier", "curve", data, "--label-field", "topic", "--model", tiny_model,
                         "--sizes", "6,12,24", "--cache", tmp_path / "cache")  # fmt: skip
    assert code == 0, err and "labels, 3-fold cross-validation" in out and "target 0.95" in out

    code, _, err = run("classifier", "train", data, "--out", tmp_path / "clf", "--label-field", "topic",
                       "--model", tiny_model, "--validation", "0", "--cache", tmp_path / "cache")  # fmt: skip
    assert code == 0, err
    held = labelled_file(tmp_path / "held.jsonl", 5, seed=25)
    code, out, err = run("classifier", "agreement", tmp_path / "clf", held, "--label-field", "topic", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["examples"] == 15 and 0 <= report["agreement"] <= 1 and len(report["per_class"]) == 3
    assert sum(d["count"] for d in report["disagreements"]) == round(15 * (1 - report["agreement"]))
    code, out, err = run("classifier", "agreement", tmp_path / "clf", held, "--label-field", "topic")
    assert code == 0, err and out.startswith("15 held-out labels: agreement")


def test_curve_bad_input_is_one_clear_line(tiny_model: Path, tmp_path: Path) -> None:
    texts, labels = dataset(4, seed=26)
    rows = [{"text": t, "topic": y} for t, y in zip(texts, labels, strict=True)]
    once = write_jsonl(tmp_path / "once.jsonl", [*rows, {"text": "a lone post", "topic": "curling"}])
    code, _, err = run("classifier", "curve", once, "--label-field", "topic", "--model", tiny_model, "--no-cache")
    assert code == 1 and err.count("\n") == 1
    assert "'curling' (1) of field 'topic' have fewer than 3 examples" in err and "--folds 2" in err
    holes = write_jsonl(tmp_path / "holes.jsonl", [*rows, {"text": "no label here"}])
    code, _, err = run("classifier", "curve", holes, "--label-field", "topic", "--model", tiny_model, "--no-cache")
    assert code == 1 and err.count("\n") == 1 and "holes.jsonl" in err and ":13" in err and "topic" in err
    code, _, err = run("classifier", "train", once, "--out", tmp_path / "c", "--label-field", "topic",
                       "--model", tiny_model, "--no-cache")  # fmt: skip
    assert code == 1 and err.count("\n") == 1 and "'curling' have a single example" in err


def test_output_paths_are_checked_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    code, _, err = run("classifier", "train", tmp_path / "none.jsonl", "--out", tmp_path / "a-file")
    assert code == 2 and "is a file" in err
    code, _, err = run("classifier", "curve", tmp_path / "none.jsonl", "--plot", tmp_path / "curve.txt")
    assert code == 2 and "write a .png, .pdf, .svg file" in err
    code, _, err = run("classifier", "curve", tmp_path / "none.jsonl", "--plot", tmp_path / "no" / "curve.png")
    assert code == 2 and "does not exist" in err
