"""fsspec's own abstract test suite (copy, get, put, pipe, open) on ``irods://``.

Every test runs against the iRODS protocol server announcing 4.3.4 (native auth through the 4.3
framework, parallel transfers with replica tokens) and 4.2.8 (legacy auth, single-stream writes),
each driven by the unmodified python-irodsclient. Collections are real directories, so empty
directories are supported. No test is skipped or expected to fail.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator

import fsspec
import pytest

pytest.register_assert_rewrite("fsspec.tests.abstract")

from fsspec.tests import abstract  # noqa: E402

from fsspec_research.irods import IRODSFileSystem  # noqa: E402

SERVERS = {"4.3.4": "irods", "4.2.8": "irods_legacy"}  # announced version -> session fixture


@pytest.fixture(scope="module", params=sorted(SERVERS))
def irods_fs(request: pytest.FixtureRequest) -> Iterator[tuple[IRODSFileSystem, str]]:
    server = request.getfixturevalue(SERVERS[request.param])
    fs = fsspec.filesystem("irods", skip_instance_cache=True, timeout=20, **server.storage_options)
    assert fs.client.server_version == tuple(int(p) for p in request.param.split("."))
    yield fs, fs._strip_protocol(server.root)
    fs.close()


class IRODSFixtures(abstract.AbstractFixtures):
    @pytest.fixture
    def fs(self, irods_fs: tuple[IRODSFileSystem, str]) -> IRODSFileSystem:
        return irods_fs[0]

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self, irods_fs: tuple[IRODSFileSystem, str]) -> Iterator[str]:
        fs, home = irods_fs
        path = f"{home}/conf-{uuid.uuid4().hex[:12]}"
        fs.mkdir(path)
        yield path
        fs.invalidate_cache()
        fs.rm(path, recursive=True)
        assert not fs.exists(path)

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return True


class TestIRODSCopy(abstract.AbstractCopyTests, IRODSFixtures):
    pass


class TestIRODSGet(abstract.AbstractGetTests, IRODSFixtures):
    pass


class TestIRODSPut(abstract.AbstractPutTests, IRODSFixtures):
    pass


class TestIRODSPipe(abstract.AbstractPipeTests, IRODSFixtures):
    pass


class TestIRODSOpen(abstract.AbstractOpenTests, IRODSFixtures):
    pass
