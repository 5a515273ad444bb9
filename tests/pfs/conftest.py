"""Filesystems on the session's PFS server, and a fresh repo per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import fsspec
import pytest

from fsspec_research.pfs import PFSFileSystem
from fsspec_research.testing import PFSServerHandle


def make_fs(options: dict, **extra) -> PFSFileSystem:
    return fsspec.filesystem("pfs", skip_instance_cache=True, **{**options, **extra})


@pytest.fixture
def login() -> Callable[..., PFSFileSystem]:
    return make_fs


@pytest.fixture
def fs(pfs: PFSServerHandle) -> Iterator[PFSFileSystem]:
    fs = make_fs(pfs.storage_options, timeout=20)
    yield fs
    fs.close()


@pytest.fixture
def repo(fs: PFSFileSystem) -> Iterator[str]:
    """A fresh repo with a ``master`` branch; deleted afterwards."""
    name = f"t{uuid.uuid4().hex[:10]}"
    fs.mkdir(f"{name}@master")
    yield name
    fs.rm(name, recursive=True)


@pytest.fixture
def root(repo: str) -> str:
    """``<fresh repo>@master``: where a test may write."""
    return f"{repo}@master"
