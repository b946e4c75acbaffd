"""``semsearch serve``: the library over HTTP (a JSON API, OpenAI-compatible embeddings, a search page).

A thin adapter over :class:`semsearch.Index`, not a second engine: :func:`create_app` builds a FastAPI
app from a :class:`Registry` of opened indexes, :func:`open_registry` opens them, and
:mod:`semsearch.serve.server` runs the app with uvicorn. See docs/serve.md.
"""

from semsearch.serve.app import ServeOptions, create_app
from semsearch.serve.limits import DEFAULT_LIMITS, Limits
from semsearch.serve.registry import Registry, ServedIndex, open_registry

__all__ = ["DEFAULT_LIMITS", "Limits", "Registry", "ServeOptions", "ServedIndex", "create_app", "open_registry"]
