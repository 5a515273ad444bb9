"""``parallel::`` in front of other fsspec filesystems: same bytes as the target, merged parallel ranges."""

from __future__ import annotations

import io
import os
import pickle
import random

import fsspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsspec_research.core.cache import ParallelBlockCache
from fsspec_research.core.filesystem import RangeFileSystemMixin
from fsspec_research.parallel import ParallelFileSystem
from fsspec_research.testing import http_server

DATA = random.Random(7).randbytes(300_000)


@pytest.fixture(scope="module")
def http_root():
    with http_server() as srv:
        with open(os.path.join(srv.directory, "data.bin"), "wb") as f:
            f.write(DATA)
        yield srv.root


@pytest.fixture(params=["memory", "file", "http"])
def target(request, tmp_path, http_root):
    """A target filesystem holding DATA at ``path``."""
    if request.param == "memory":
        fs = fsspec.filesystem("memory")
        path = f"/parallel-tests/{tmp_path.name}/data.bin"
        fs.pipe_file(path, DATA)
    elif request.param == "file":
        fs = fsspec.filesystem("file")
        path = str(tmp_path / "data.bin")
        fs.pipe_file(path, DATA)
    else:
        fs = fsspec.filesystem("http", skip_instance_cache=True)
        path = f"{http_root}/data.bin"
    yield fs, path
    if request.param == "memory":
        fs.rm(f"/parallel-tests/{tmp_path.name}", recursive=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    block_size=st.integers(1, 70_000),
    ops=st.lists(st.tuples(st.integers(0, 310_000), st.integers(-1, 80_000)), max_size=12),
)
def test_reads_match_the_target(target, block_size, ops):
    fs, path = target
    pfs = ParallelFileSystem(fs=fs, part_size=50_000, skip_instance_cache=True)
    local = io.BytesIO(DATA)
    with pfs.open(path, block_size=block_size) as f:
        for pos, length in ops:
            f.seek(pos)
            local.seek(pos)
            assert f.read(length) == local.read(length)


def test_cat_ranges_merges_and_matches(target):
    fs, path = target
    pfs = ParallelFileSystem(fs=fs, max_gap=1000, skip_instance_cache=True)
    starts = [10, 500, 200_000, 0, 299_990]
    ends = [20, 1500, 200_100, 5, 300_100]
    assert pfs.cat_ranges([path] * 5, starts, ends) == [DATA[s:e] for s, e in zip(starts, ends)]


def test_whole_file_operations(target, tmp_path):
    fs, path = target
    pfs = ParallelFileSystem(fs=fs, part_size=64_000, skip_instance_cache=True)
    assert pfs.cat_file(path) == DATA
    assert pfs.cat_file(path, 100, 200) == DATA[100:200]
    pfs.get_file(path, str(tmp_path / "copy.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == DATA
    assert pfs.info(path)["size"] == len(DATA)
    assert pfs.exists(path) and pfs.isfile(path)


def test_writes_land_whole_or_not_at_all(target):
    fs, path = target
    pfs = ParallelFileSystem(fs=fs, skip_instance_cache=True)
    new = path + ".new"
    with pfs.open(new, "wb", block_size=10_000) as f:
        for i in range(0, len(DATA), 7_000):
            f.write(DATA[i : i + 7_000])
    assert fs.cat_file(new) == DATA
    broken = path + ".broken"
    with pytest.raises(RuntimeError), pfs.open(broken, "wb", block_size=10_000) as f:
        f.write(DATA)
        raise RuntimeError
    assert not fs.exists(broken)
    if fs.protocol[0] == "http":
        return  # plain HTTP has no exclusive create and no delete
    with pytest.raises(FileExistsError), pfs.open(new, "xb") as f:
        f.write(b"x")
    pfs.rm(new)
    assert not fs.exists(new)


def test_url_chaining_and_options():
    mem = fsspec.filesystem("memory")
    mem.pipe("/chain/x.bin", DATA[:5000])
    with fsspec.open("parallel::memory://chain/x.bin", parallel={"block_size": 1000}) as f:
        assert isinstance(f.cache, ParallelBlockCache) and f.blocksize == 1000
        f.seek(4000)
        assert f.read() == DATA[4000:5000]
    fs, path = fsspec.core.url_to_fs("parallel::memory://chain/x.bin")
    assert isinstance(fs, ParallelFileSystem) and fs.cat_file(path) == DATA[:5000]
    assert fs.unstrip_protocol(path).startswith("parallel::memory://")
    mem.rm("/chain", recursive=True)


def test_object_store_targets_read_in_at_most_16_parts_of_at_least_one_mib():
    import s3fs

    s3 = s3fs.S3FileSystem(anon=True, skip_instance_cache=True)
    plain = ParallelFileSystem(fs=s3, skip_instance_cache=True)
    assert (plain.min_part_size, plain.read_streams, plain.concurrency) == (2**20, 16, 64)
    assert plain._part_size_for(4 * 2**20) == 2**20 and plain._part_size_for(64 * 2**20) == 4 * 2**20
    tuned = ParallelFileSystem(fs=s3, min_part_size=4096, read_streams=64, skip_instance_cache=True)
    assert (tuned.min_part_size, tuned.read_streams) == (4096, 64)
    made = ParallelFileSystem(target_protocol="s3", target_options={"anon": True}, concurrency=8)
    assert made.fs.config_kwargs["max_pool_connections"] == 24  # room for concurrency parallel GETs
    mine = {"anon": True, "config_kwargs": {"max_pool_connections": 5}}
    assert ParallelFileSystem(target_protocol="s3", target_options=mine).fs.config_kwargs == {
        "max_pool_connections": 5
    }
    memory = ParallelFileSystem(target_protocol="memory", skip_instance_cache=True)
    assert memory.min_part_size == RangeFileSystemMixin.min_part_size == 512 * 1024
    assert memory.read_streams is None and memory._part_size_for(64 * 2**20) == 2**20  # concurrency parts


def test_picklable_and_needs_a_target():
    pfs = ParallelFileSystem(target_protocol="memory", concurrency=3, skip_instance_cache=True)
    clone = pickle.loads(pickle.dumps(pfs))
    assert clone.concurrency == 3 and clone.fs.protocol == pfs.fs.protocol
    with pytest.raises(ValueError, match="target"):
        ParallelFileSystem(skip_instance_cache=True)


def test_missing_path_is_file_not_found(target):
    fs, path = target
    pfs = ParallelFileSystem(fs=fs, skip_instance_cache=True)
    with pytest.raises(FileNotFoundError):
        pfs.open(path + ".missing")
    out = pfs.cat_ranges([path + ".missing", path], [0, 0], [1, 1])
    assert isinstance(out[0], FileNotFoundError) and out[1] == DATA[:1]
