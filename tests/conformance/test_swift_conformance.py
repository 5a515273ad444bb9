"""fsspec's own abstract test suite (copy, get, put, pipe, open) on ``swift://`` against a real Swift.

Every test runs twice: logged in with tempauth (v1 auth) and through a real Keystone v3. Each test gets a
fresh container as its ``fs_path``, removed (with its ``_segments`` container) afterwards.

Swift has no empty directories: a pseudo-directory exists only through the objects below it, and ``mkdir``
below container level is a no-op. The suite's own ``supports_empty_directories`` switch is therefore off (as
s3fs sets it), which makes the scenarios put a dummy file where they would otherwise check an empty directory.
No test is skipped or expected to fail.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Iterator

import fsspec
import pytest

pytest.register_assert_rewrite("fsspec.tests.abstract")  # the suite's failures show their values

from fsspec.tests import abstract  # noqa: E402

from fsspec_research.swift import SwiftFileSystem  # noqa: E402

BACKENDS = {"tempauth": "swift", "keystone": "swift_keystone"}  # id -> session fixture of the server


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def swift_fs(request: pytest.FixtureRequest) -> tuple[SwiftFileSystem, str]:
    """A filesystem logged in to the server of this backend, and its home ``host/account``."""
    server = request.getfixturevalue(BACKENDS[request.param])
    fs = fsspec.filesystem("swift", skip_instance_cache=True, **server.storage_options)
    home = fs._strip_protocol(server.root)
    if request.param == "keystone":  # really through Keystone: a v3 token for the project's account
        assert type(fs.client.auth).__name__ == "Keystone"
        assert home.endswith("/AUTH_" + server.keystone["project_id"])
    else:
        assert type(fs.client.auth).__name__ == "TempAuth"
    return fs, home


class SwiftFixtures(abstract.AbstractFixtures):
    @pytest.fixture
    def fs(self, swift_fs: tuple[SwiftFileSystem, str]) -> SwiftFileSystem:
        return swift_fs[0]

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self, swift_fs: tuple[SwiftFileSystem, str]) -> Iterator[str]:
        fs, home = swift_fs
        path = f"{home}/conf-{uuid.uuid4().hex[:12]}"
        fs.mkdir(path)
        yield path
        fs.invalidate_cache()
        for container in (path, path + "_segments"):
            if fs.exists(container):
                fs.rm(container, recursive=True)
        assert not fs.exists(path)

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestSwiftCopy(abstract.AbstractCopyTests, SwiftFixtures):
    pass


class TestSwiftGet(abstract.AbstractGetTests, SwiftFixtures):
    pass


class TestSwiftPut(abstract.AbstractPutTests, SwiftFixtures):
    pass


class TestSwiftPipe(abstract.AbstractPipeTests, SwiftFixtures):
    pass


class TestSwiftOpen(abstract.AbstractOpenTests, SwiftFixtures):
    pass
