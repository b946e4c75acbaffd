"""The top-level functions of the public API: ``semsearch.open``, ``index``, ``evaluate``, ``adapt``, ``repair``.

Each is a thin wrapper over one capability, in the conventions of sentence-transformers and LanceDB:
options as keyword arguments (the fields of the capability's options dataclass), a result object back.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semsearch.facade.options import keyword_options
from semsearch.types import Backend, Execution, Fusion, Mode, choice

if TYPE_CHECKING:
    from semsearch.adaptation import AdaptResult
    from semsearch.corpus import Source
    from semsearch.evaluation import EvalReport
    from semsearch.facade.index import Index
    from semsearch.facade.maintenance import RepairSummary


def open(  # noqa: A001 - the public name
    directory: str | Path, backend: Backend | str | None = None, storage_options: Mapping[str, str] | None = None
) -> Index:
    """Open an index for search; raises a clear error if it is missing or damaged.

    ``directory`` is a folder or an object-store URI (``s3://bucket/indexes/papers``); ``storage_options``
    are Lance's object-store keys (``aws_endpoint``, ``aws_region``, ``allow_http``, credentials) for a URI.
    """
    from semsearch.location import resolve
    from semsearch.manifest import Manifest

    folder = resolve(directory, storage_options)
    manifest = Manifest.load(folder)  # a missing index is said before the store's libraries load
    from semsearch.facade.index import Index

    return Index.opened(folder, manifest, backend)


def index(
    source: Source,
    directory: str | Path,
    storage_options: Mapping[str, str] | None = None,
    engine: Execution | str = Execution.LOCAL,
    ray_address: str | None = None,
    **options: Any,
) -> Index:
    """Index ``source`` into ``directory`` and open it: a corpus path (any format ``semsearch index``
    reads) or an iterable of dicts (``{"id": ..., "text": ..., "title": ..., other fields: metadata}``).

    ``directory`` is created, or updated as ``semsearch index`` updates it: new and changed documents are
    encoded, unchanged ones skipped. ``options`` are :class:`~semsearch.ingest.IndexOptions` fields
    (``model=``, ``backend=``, ``skip_bad=True``, ``progress=False``...) and ``id_field=``, ``text_field=``,
    ``title_field=``. What the run did is the returned index's ``last_write``. ``directory`` may be an
    object-store URI, with ``storage_options`` as for :func:`open`. ``engine="ray"`` encodes on a Ray
    cluster (``ray_address``; None: a local one), see :mod:`semsearch.ingest.distributed`.
    """
    from semsearch.facade.index import Index
    from semsearch.ingest import IndexOptions, build_index
    from semsearch.location import resolve

    folder = resolve(directory, storage_options)
    settings = keyword_options(IndexOptions(), options)
    if choice(Execution, engine, "engine") is Execution.RAY:
        from semsearch.ingest.distributed import build_index_distributed

        summary = build_index_distributed(source, folder, settings, address=ray_address)
    else:
        summary = build_index(source, folder, settings)
    opened = Index.open(folder)
    opened.last_write = summary
    return opened


def evaluate(
    target: Index | str | Path,
    queries: str | Path | Mapping[str, str],
    qrels: str | Path | Mapping[str, Mapping[str, int]],
    mode: Mode | str = Mode.HYBRID,
    progress: bool = False,
    fusion: Fusion | str | None = None,
    feedback: bool | None = None,
) -> EvalReport:
    """nDCG@10, Recall@100 and MRR@10 of an index (or its path) on BEIR queries and qrels (paths or dicts);
    ``fusion`` overrides the index's own in hybrid mode, ``feedback`` as ``Index.search``."""
    from semsearch.evaluation import DEPTH, load_qrels, load_queries
    from semsearch.evaluation import evaluate as run
    from semsearch.facade.index import Index

    opened = target if isinstance(target, Index) else Index.open(target)
    mode = choice(Mode, mode, "mode")
    asked = load_queries(queries) if isinstance(queries, str | Path) else dict(queries)
    judged = load_qrels(qrels) if isinstance(qrels, str | Path) else {q: dict(r) for q, r in qrels.items()}
    fused = opened.searched_fusion(fusion, feedback, mode)
    return run(lambda text: opened.rank(text, DEPTH, mode, fusion=fused), asked, judged, progress=progress)


def adapt(corpus: str | Path, out: str | Path, **options: Any) -> AdaptResult:
    """Adapt the encoder to ``corpus`` and write a model directory to ``out`` (the base model's copy
    when the gate finds no gain); ``options`` are :class:`~semsearch.adaptation.AdaptOptions` fields, with
    the corpus's fields named as :func:`index` takes them (``text_field="abstract"``)."""
    from semsearch.adaptation import AdaptOptions
    from semsearch.adaptation import adapt as run

    return run(corpus, Path(out), keyword_options(AdaptOptions(), options))


def repair(directory: str | Path, lock_timeout: float = 0.0) -> RepairSummary:
    """Bring a damaged index back to its newest intact state (damaged files are set aside, not deleted)."""
    from semsearch.facade.maintenance import repair_index

    return repair_index(directory, lock_timeout)


__all__ = ["adapt", "evaluate", "index", "open", "repair"]
