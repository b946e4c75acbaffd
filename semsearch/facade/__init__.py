"""The facade: the :class:`~semsearch.facade.index.Index` handle and the top-level functions that the
``semsearch`` package exports. It wires the capabilities together and holds no logic of its own."""
