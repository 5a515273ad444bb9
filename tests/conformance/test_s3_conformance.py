"""fsspec's own abstract test suite (copy, get, put, pipe, open) on ``s3r://`` against two S3 servers.

Every test runs twice: against moto (``s3_server``) and against the S3 API (``s3api`` middleware) of the
session's real Swift, a second, independent S3 implementation. Each test gets a fresh bucket as its
``fs_path``, removed afterwards.

S3 has no empty directories, so the suite's ``supports_empty_directories`` switch is off (as s3fs sets
it), which makes the scenarios put a dummy file where they would otherwise check an empty directory.
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

from fsspec_research.s3 import ResearchS3FileSystem  # noqa: E402


@pytest.fixture(scope="module", params=["moto", "swift-s3api"])
def s3r_fs(request: pytest.FixtureRequest) -> ResearchS3FileSystem:
    """An ``s3r://`` filesystem on the server of this parameter."""
    if request.param == "moto":
        options = request.getfixturevalue("s3").storage_options
    else:
        options = request.getfixturevalue("swift").s3
    fs = fsspec.filesystem("s3r", skip_instance_cache=True, **options)
    assert isinstance(fs, ResearchS3FileSystem) and fs.settings.endpoint_url == options["endpoint_url"]
    return fs


class S3Fixtures(abstract.AbstractFixtures):
    @pytest.fixture
    def fs(self, s3r_fs: ResearchS3FileSystem) -> ResearchS3FileSystem:
        return s3r_fs

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def fs_path(self, s3r_fs: ResearchS3FileSystem) -> Iterator[str]:
        fs = s3r_fs
        bucket = f"conf-{uuid.uuid4().hex[:12]}"
        fs.mkdir(bucket)
        yield bucket
        fs.invalidate_cache()
        fs.rm(bucket, recursive=True)
        fs.invalidate_cache()
        assert not fs.exists(bucket)

    @pytest.fixture
    def supports_empty_directories(self) -> bool:
        return False


class TestS3Copy(abstract.AbstractCopyTests, S3Fixtures):
    pass


class TestS3Get(abstract.AbstractGetTests, S3Fixtures):
    pass


class TestS3Put(abstract.AbstractPutTests, S3Fixtures):
    pass


class TestS3Pipe(abstract.AbstractPipeTests, S3Fixtures):
    pass


class TestS3Open(abstract.AbstractOpenTests, S3Fixtures):
    pass
