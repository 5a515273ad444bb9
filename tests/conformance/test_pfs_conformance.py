"""fsspec's own abstract test suite (copy, get, put, pipe, open) on ``pfs://``.

Against the PFS gRPC server driven by the unmodified python-pachyderm. Each test gets a fresh repo; its
``fs_path`` is the root of that repo's ``master`` branch. PFS has no empty directories (a directory exists
through its files, as in pachd), so the suite's ``supports_empty_directories`` switch is off, as s3fs
sets it. No test is skipped or expected to fail.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator

import fsspec
import pytest

pytest.register_assert_rewrite("fsspec.tests.abstract")

from fsspec.tests import abstract  # noqa: E402

from fsspec_research.pfs import PFSFileSystem  # noqa: E402


@pytest.fixture(scope="module")
def pfs_fs(pfs) -> Iterator[PFSFileSystem]:
    fs = fsspec.filesystem("pfs", skip_instance_cache=True, timeout=20, **pfs.storage_options)
    yield fs
    fs.close()


class PFSFixtures(abstract.AbstractFixtures):
    @pytest.fixture
    def fs(self, pfs_fs: PFSFileSystem) -> PFSFileSystem:
        return pfs_fs

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self, pfs_fs: PFSFileSystem) -> Iterator[str]:
        repo = f"conf{uuid.uuid4().hex[:10]}"
        pfs_fs.mkdir(f"{repo}@master")
        yield f"{repo}@master"
        pfs_fs.rm(repo, recursive=True)
        assert not pfs_fs.exists(repo)

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestPFSCopy(abstract.AbstractCopyTests, PFSFixtures):
    pass


class TestPFSGet(abstract.AbstractGetTests, PFSFixtures):
    pass


class TestPFSPut(abstract.AbstractPutTests, PFSFixtures):
    pass


class TestPFSPipe(abstract.AbstractPipeTests, PFSFixtures):
    pass


class TestPFSOpen(abstract.AbstractOpenTests, PFSFixtures):
    pass
