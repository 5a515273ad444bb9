"""Filesystems on the session's iRODS protocol server, and a fresh collection per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import fsspec
import pytest

from fsspec_research.irods import IRODSFileSystem
from fsspec_research.testing import IRODSServerHandle


def make_fs(options: dict, **extra) -> IRODSFileSystem:
    return fsspec.filesystem("irods", skip_instance_cache=True, **{**options, **extra})


@pytest.fixture
def login() -> Callable[..., IRODSFileSystem]:
    """``login(storage_options, **extra)``: a new filesystem (not from fsspec's instance cache)."""
    return make_fs


@pytest.fixture
def fs(irods: IRODSServerHandle) -> Iterator[IRODSFileSystem]:
    fs = make_fs(irods.storage_options, timeout=20)
    yield fs
    fs.close()


@pytest.fixture
def root(irods: IRODSServerHandle, fs: IRODSFileSystem) -> Iterator[str]:
    """A fresh collection in alice's home, removed afterwards."""
    path = f"{fs._strip_protocol(irods.root)}/t-{uuid.uuid4().hex[:10]}"
    fs.mkdir(path)
    yield path
    fs.invalidate_cache()
    if fs.exists(path):
        fs.rm(path, recursive=True)
