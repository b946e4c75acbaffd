"""The registry's handles are warmed before requests come: the first request finds everything made."""

from __future__ import annotations

from pathlib import Path

from semsearch.serve import open_registry
from semsearch.types import Engine


def test_a_warmed_handle_holds_its_documents_and_its_codes(tiny_index: Path) -> None:
    """What is made only at a handle's second search (the documents held in memory, an exact index's int8
    codes) is made by the warming, not by the first request."""
    handle = open_registry([("tiny", tiny_index)]).get("tiny").handle
    assert handle.store.holds_documents
    assert handle.vectors._codes is not None
    assert handle.encoder.engine is not Engine.OPENVINO or len(handle.encoder.runtime._requests) == 2
    cold = open_registry([("tiny", tiny_index)], warm_up=False).get("tiny").handle
    assert not cold.store.holds_documents
