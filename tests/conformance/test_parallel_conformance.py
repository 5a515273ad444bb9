"""fsspec's own abstract test suite (copy, get, put, pipe, open) on ``parallel::`` over a local target.

The local target supports empty directories and exclusive creation, so every scenario applies.
"""

from __future__ import annotations

import pytest
from fsspec.implementations.local import LocalFileSystem
from fsspec.tests import abstract

from fsspec_research.parallel import ParallelFileSystem


class ParallelLocalFixtures(abstract.AbstractFixtures):
    @pytest.fixture
    def fs(self):
        return ParallelFileSystem(fs=LocalFileSystem(auto_mkdir=True), skip_instance_cache=True)

    @pytest.fixture
    def fs_path(self, tmpdir):
        return str(tmpdir / "remote")


class TestParallelCopy(abstract.AbstractCopyTests, ParallelLocalFixtures):
    pass


class TestParallelGet(abstract.AbstractGetTests, ParallelLocalFixtures):
    pass


class TestParallelPut(abstract.AbstractPutTests, ParallelLocalFixtures):
    pass


class TestParallelPipe(abstract.AbstractPipeTests, ParallelLocalFixtures):
    pass


class TestParallelOpen(abstract.AbstractOpenTests, ParallelLocalFixtures):
    pass
