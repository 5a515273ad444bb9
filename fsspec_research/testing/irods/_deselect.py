"""pytest plugin for the upstream runner: drop exactly the node IDs in ``$FSSPEC_RESEARCH_PRC_DESELECT``.

(pytest's own ``--deselect`` matches node ID prefixes, which would also drop longer-named tests.)
"""

from __future__ import annotations

import os

import pytest

ENV = "FSSPEC_RESEARCH_PRC_DESELECT"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    names = set(filter(None, os.environ.get(ENV, "").split("\n")))
    dropped = [i for i in items if i.nodeid in names]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i.nodeid not in names]
