"""The public Python API (docs/python-api.md): build from a list, search, add, delete, get, info; the
README's example runs as written; an index written before the redesign opens and answers as it did;
misuse is a semsearch error that says what is valid."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import semsearch
from semsearch.errors import BadRecordError, OptionError
from semsearch.types import Document, SearchResult

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

DOCS = [
    {"id": "a1", "text": "Vitamin D deficiency raises the risk of respiratory infection.", "year": 2019},
    {"id": "a2", "text": "Gene expression profiling of breast cancer cells.", "year": 2015},
    {"id": "a3", "text": "Aspirin lowers the risk of a second heart attack.", "year": 2008},
]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"## Python quick start\s+```python\n(.*?)```", text, re.DOTALL)
    assert match, "the README has a Python quick start"
    return match.group(1)


def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", readme_example()], cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    first, second = result.stdout.strip().splitlines()[-2:]
    found = ast.literal_eval(first)  # the example prints a list of (id, score)
    assert found[0][0] == "a1" and len(found) == 2
    assert second == "3 ['a4']"
    assert "indexing" not in result.stdout  # progress goes to stderr
    assert (tmp_path / "indexes" / "quickstart" / "manifest.json").is_file()


def test_index_a_list_then_add_update_get_and_delete(tmp_path: Path, tiny_model: Path) -> None:
    idx = semsearch.index(DOCS, tmp_path / "idx", model=str(tiny_model), progress=False)
    assert len(idx) == 3 and idx.last_write is not None and idx.last_write.added == 3
    assert repr(idx).startswith(f"Index({str(tmp_path / 'idx')!r}, documents=3")
    summary = idx.add([{"id": "a2", "text": "Gene expression in cancer.", "year": 2016}, {"id": "a4", "text": "new"}])
    assert (summary.added, summary.updated, len(idx)) == (1, 1, 4)
    assert idx.get("a2") == Document(id="a2", text="Gene expression in cancer.", metadata={"year": 2016})
    assert idx.get("missing") is None
    assert idx.delete(["a3", "not-there"]) == 1 and len(idx) == 3 and idx.get("a3") is None
    hits = idx.search("gene expression", k=2, mode="bm25")
    assert isinstance(hits, SearchResult) and hits[0].id == "a2" and [h.id for h in hits] == [h.id for h in hits.hits]
    info = idx.info()
    assert info.documents == 3 and info.model.path == str(tiny_model) and {f.name for f in info.fields} == {"year"}
    with semsearch.open(tmp_path / "idx") as again:
        assert len(again) == 3
    renamed = idx.add([{"key": "n1", "body": "named fields", "heading": "Notes"}], id_field="key", text_field="body",
                      title_field="heading")  # fmt: skip
    assert renamed.added == 1 and idx.get("n1") == Document("n1", "Notes named fields", {"heading": "Notes"})


def test_searches_fetch_their_hits_from_memory_after_a_write_as_before(tmp_path: Path, tiny_model: Path) -> None:
    """The second search of a version holds the documents (semsearch.store.held); a write is seen by the next
    search all the same, and closing the handle lets them go."""
    idx = semsearch.index(DOCS, tmp_path / "idx", model=str(tiny_model), progress=False)
    first = idx.search("risk", k=3, mode="bm25")
    assert idx.search("risk", k=3, mode="bm25") == first and idx.store._holder.held is not None
    idx.add([{"id": "a3", "text": "Aspirin lowers the risk of a stroke.", "year": 2009}])
    for _ in range(2):
        hit = next(h for h in idx.search("aspirin risk", k=3, mode="bm25") if h.id == "a3")
        assert hit.text == "Aspirin lowers the risk of a stroke." and hit.metadata == {"year": 2009}
    idx.close()
    assert idx.store._holder.held is None


def test_a_bad_record_in_a_list_is_named_by_its_position(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(BadRecordError) as error:
        semsearch.index([DOCS[0], {"id": "x"}], tmp_path / "idx", model=str(tiny_model), progress=False)
    assert str(error.value).startswith("documents[1]: field 'text': missing text") and "skip_bad=True" in str(
        error.value
    )
    mixed = [{"id": "a", "text": "one", "tags": ["t"]}, {"id": "b", "text": "two", "tags": "t"}]
    with pytest.raises(BadRecordError, match=r"^documents\[1\]: field 'tags': expected a list of strings"):
        semsearch.index(mixed, tmp_path / "mixed", model=str(tiny_model), progress=False)  # found while indexing
    idx = semsearch.index([DOCS[0], {"id": "x"}, "not a dict"], tmp_path / "ok", model=str(tiny_model),
                          skip_bad=True, progress=False)  # fmt: skip
    assert len(idx) == 1 and idx.last_write is not None and idx.last_write.skipped_bad == 2


def test_misuse_is_a_semsearch_error_that_lists_what_is_valid(tmp_path: Path, tiny_model: Path) -> None:
    idx = semsearch.index(DOCS, tmp_path / "idx", model=str(tiny_model), progress=False)
    with pytest.raises(OptionError, match="mode='semantic': expected one of 'dense', 'bm25', 'hybrid'"):
        idx.search("x", mode="semantic")
    with pytest.raises(OptionError, match="k='5': expected a whole number"):
        idx.search("x", k="5")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="query=None"):
        idx.search(None)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="is empty"):
        idx.search("   ")
    with pytest.raises(OptionError, match="not an option") as error:
        semsearch.index(DOCS, tmp_path / "idx", modle="x")
    assert "did you mean model?" in str(error.value)
    with pytest.raises(OptionError, match="text_feild='text': not an option here; did you mean text_field") as error:
        semsearch.index(DOCS, tmp_path / "idx", text_feild="text")
    listed = str(error.value).split("the options are ")[1].split(", ")
    assert {"id_field", "text_field", "title_field", "types", "model"} <= set(listed) and "fields" not in listed
    with pytest.raises(OptionError, match="batch=0: expected a whole number"):
        next(idx.export(batch=0))
    with pytest.raises(OptionError, match="keep_minutes=-1: expected minutes, 0 or more"):
        idx.compact(keep_minutes=-1)
    with pytest.raises(OptionError, match="backend='faiss2'"):
        semsearch.open(tmp_path / "idx", backend="faiss2")


def test_public_functions_are_not_shadowed_by_modules_of_the_same_package() -> None:
    import semsearch.adaptation
    import semsearch.evaluation

    for name in ("open", "index", "evaluate", "adapt", "repair"):
        assert callable(getattr(semsearch, name)) and not isinstance(getattr(semsearch, name), type(semsearch))


def test_an_index_written_before_the_redesign_opens_and_answers_as_it_did(tmp_path: Path) -> None:
    copy = tmp_path / "old"
    shutil.copytree(FIXTURES / "index-v0.1", copy)
    expected = FIXTURES / "index-v0.1-expected"
    idx = semsearch.open(copy)
    for name, kwargs in (
        ("expected", {"k": 5}),
        ("expected_label_even", {"k": 3, "label": "even"}),
        ("expected_dense_where", {"k": 5, "mode": "dense", "where": "year >= 2015"}),
    ):
        want = json.loads((expected / f"{name}.json").read_text())
        got = idx.search(want["query"], **kwargs).to_json()
        assert [h["id"] for h in got["hits"]] == [h["id"] for h in want["hits"]], name
        for g, w in zip(got["hits"], want["hits"], strict=True):
            assert g["score"] == pytest.approx(w["score"], abs=1e-5) and g["metadata"] == w["metadata"]
    assert idx.labels() == ("even", "odd") and len(idx) == 12
    summary = idx.add([{"_id": "new", "title": "Blood", "text": "Red blood cells carry oxygen.", "year": 2020}])
    assert (summary.added, summary.relabelled, len(idx)) == (1, 0, 13)  # the installed classifier is still its own
    assert idx.search("red blood cells oxygen", k=1).hits[0].id == "new"
    labelled = {label: [h.id for h in idx.search("red blood cells", k=13, label=label)] for label in idx.labels()}
    assert sum("new" in ids for ids in labelled.values()) == 1  # the new document got one label


def test_adapt_takes_the_corpus_fields_as_index_does() -> None:
    from semsearch.adaptation import AdaptOptions
    from semsearch.corpus import FieldMap
    from semsearch.facade.options import keyword_options

    settings = keyword_options(AdaptOptions(), {"text_field": "abstract", "id_field": "key"})
    assert settings.fields == FieldMap.from_options(id_field="key", text_field="abstract")
    assert keyword_options(AdaptOptions(), {"fields": settings.fields}).fields == settings.fields  # whole, as before
    with pytest.raises(OptionError, match="did you mean text_field"):
        keyword_options(AdaptOptions(), {"txt_field": "abstract"})


def test_the_package_offers_its_errors_and_lists_only_public_names(tmp_path: Path) -> None:
    import semsearch.errors

    assert semsearch.IndexNotFoundError is semsearch.errors.IndexNotFoundError
    with pytest.raises(semsearch.IndexNotFoundError):
        semsearch.open(tmp_path / "nothing here")
    names = dir(semsearch)
    assert {"open", "index", "Index", "OptionError", "BadRecordError", "__version__"} <= set(names)
    assert not {"Any", "TYPE_CHECKING", "annotations", "import_module"} & set(names)
    assert all(hasattr(semsearch, name) for name in semsearch.__all__)
