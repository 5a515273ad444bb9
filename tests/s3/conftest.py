"""``s3r://`` filesystems on the session's moto server and on the real Swift's s3api, fresh paths per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import fsspec
import pytest

from fsspec_research.s3 import ResearchS3FileSystem
from fsspec_research.testing import S3ServerHandle


def make_fs(options: dict, **extra) -> ResearchS3FileSystem:
    return fsspec.filesystem("s3r", skip_instance_cache=True, **{**options, **extra})


@pytest.fixture
def login() -> Callable[..., ResearchS3FileSystem]:
    """``login(storage_options, **extra)``: a new filesystem (not from fsspec's instance cache)."""
    return make_fs


@pytest.fixture
def fs(s3: S3ServerHandle) -> ResearchS3FileSystem:
    return make_fs(s3.storage_options)


@pytest.fixture
def root(s3: S3ServerHandle, fs: ResearchS3FileSystem) -> Iterator[str]:
    """``bucket/<fresh prefix>`` on the moto server, removed afterwards."""
    path = f"{s3.bucket}/t-{uuid.uuid4().hex[:10]}"
    yield path
    fs.invalidate_cache()
    if fs.exists(path):
        fs.rm(path, recursive=True)


@pytest.fixture
def swift_fs(swift) -> Iterator[tuple[ResearchS3FileSystem, str]]:
    """An ``s3r://`` filesystem on the real Swift's s3api, and a fresh bucket, removed afterwards."""
    fs = make_fs(swift.s3)
    bucket = f"s3t-{uuid.uuid4().hex[:10]}"
    fs.mkdir(bucket)
    yield fs, bucket
    fs.invalidate_cache()
    fs.rm(bucket, recursive=True)
