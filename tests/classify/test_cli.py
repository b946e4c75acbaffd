"""``semsearch classifier train|eval``, and an index labelled and searched by label from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from classify.samples import corpus, dataset, late_topic, predicted
from click.testing import CliRunner
from helpers import write_jsonl

import semsearch
from semsearch.classify import CONFIG_FILE
from semsearch.cli import main


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_train_eval_index_and_search(tmp_path: Path, tiny_model: Path) -> None:
    texts, labels = dataset(20, seed=10)
    data = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "topic": y} for t, y in zip(texts, labels, strict=True)])
    code, out, err = run(
        "classifier", "train", data, "--out", tmp_path / "clf", "--label-field", "topic", "--model", tiny_model,
        "--validation", "0.2", "--json",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["labels"] == ["hockey", "medicine", "space"] and report["validation"]["examples"] == 12
    test_texts, test_labels = dataset(8, seed=11)
    test = write_jsonl(
        tmp_path / "test.jsonl", [{"text": t, "topic": y} for t, y in zip(test_texts, test_labels, strict=True)]
    )
    png = tmp_path / "cm.png"
    code, out, err = run(
        "classifier", "eval", tmp_path / "clf", test, "--label-field", "topic", "--plot", png, "--json"
    )
    assert code == 0, err
    scores = json.loads(out)
    assert scores["accuracy"] >= 0.9 and scores["macro_f1"] >= 0.9 and scores["examples"] == 24
    assert set(scores["per_class"]["space"]) >= {"precision", "recall"} and len(scores["confusion_matrix"]) == 3
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    source = write_jsonl(tmp_path / "c.jsonl", corpus(6, seed=12))
    code, out, err = run(
        "index", source, "--index", tmp_path / "idx", "--model", tiny_model, "--classifier", tmp_path / "clf"
    )
    assert code == 0, err
    code, out, err = run("search", "goalie", "--index", tmp_path / "idx", "--label", "hockey", "-k", "4", "--json")
    assert code == 0, err
    hits = json.loads(out)["hits"]
    labels_by_id = predicted(semsearch.open(tmp_path / "idx"))
    assert len(hits) == 4 and all(labels_by_id[h["id"]][0] == "hockey" for h in hits)
    code, _, err = run("search", "x", "--index", tmp_path / "idx", "--label", "hockey", "--min-prob", "2")
    assert code == 2 and "--min-prob" in err and "0<=x<=1" in err  # refused by the command line itself
    code, _, err = run("classifier", "eval", tmp_path / "nothing", test)
    assert code == 1 and err.startswith("error: no classifier at") and err.count("\n") == 1


def test_cli_train_features_flag(tmp_path: Path, tiny_model: Path) -> None:
    texts, labels = late_topic(8, seed=6)
    data = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "topic": y} for t, y in zip(texts, labels, strict=True)])
    common = ["--label-field", "topic", "--model", tiny_model, "--validation", "0.25", "--json"]
    code, out, err = run("classifier", "train", data, "--out", tmp_path / "hybrid", "--features", "hybrid", *common)
    assert code == 0, err
    report = json.loads(out)
    assert report["mode"] == "frozen, first window, hybrid features" and report["lexical_columns"] > 0
    assert json.loads((tmp_path / "hybrid" / CONFIG_FILE).read_text())["lexical"]["ngram_max"] == 2
    code, out, err = run("classifier", "train", data, "--out", tmp_path / "dense", "--features", "dense", *common)
    assert code == 0, err
    assert "lexical" not in json.loads((tmp_path / "dense" / CONFIG_FILE).read_text())
    assert json.loads(out)["mode"] == "frozen, first window, dense features"
    code, _, err = run("classifier", "train", data, "--out", tmp_path / "x", "--features", "hybrid", "--finetune")
    # the check is TrainOptions' own; the CLI names the flag it came from
    assert code == 2 and "--features hybrid: is for a frozen head" in err and not (tmp_path / "x").exists()


def test_cli_train_default_features_and_window_pooling(tmp_path: Path, tiny_model: Path) -> None:
    texts, labels = dataset(6, seed=13)
    data = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)])
    code, out, err = run("classifier", "train", data, "--out", tmp_path / "mean", "--model", tiny_model,
                         "--window-pooling", "mean", "--validation", "0", "--json")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["mode"] == "frozen, mean window, hybrid features" and "validation" not in report
    assert json.loads((tmp_path / "mean" / CONFIG_FILE).read_text())["window"] == "mean"
    code, _, err = run("classifier", "train", data, "--out", tmp_path / "x", "--model", tiny_model,
                       "--window", "mean")  # fmt: skip
    assert code == 2 and "--window" in err  # the old flag's name is gone


def test_cli_names_the_flag_that_holds_no_example_out(tmp_path: Path, tiny_model: Path) -> None:
    rows = [{"text": t, "label": y} for t, y in zip(*dataset(3, seed=14), strict=True)] + [{"text": "x", "label": "z"}]
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    code, _, err = run("classifier", "train", data, "--out", tmp_path / "clf", "--model", tiny_model)
    assert code == 1 and "'z' have a single example" in err and "--validation 0" in err and "validation=0" not in err


def test_cli_finetune_mode(tmp_path: Path, tiny_model: Path) -> None:
    texts, labels = dataset(6, seed=15)
    data = write_jsonl(tmp_path / "train.jsonl", [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)])
    code, out, err = run("classifier", "train", data, "--out", tmp_path / "ft", "--model", tiny_model, "--finetune",
                         "--layers", "1", "--epochs", "1", "--validation", "0", "--json")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["mode"] == "finetune top 1 layers" and report["epochs"] == 1 and report["layers"] == 1
