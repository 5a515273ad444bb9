"""Reads on ``pfs://``: byte-exact, pinned to a commit, few and large streamed ranges."""

from __future__ import annotations

import io
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

MiB = 2**20


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def test_cat_file_limits_and_ranges(fs, root):
    data = payload(5 * MiB + 77)
    fs.pipe(f"{root}/a.bin", data)
    path = f"{root}/a.bin"
    assert fs.cat_file(path) == data
    assert fs.cat_file(path, 10, 20) == data[10:20]
    assert fs.cat_file(path, -5) == data[-5:]
    assert fs.cat_file(path, len(data) - 2, len(data) + 10) == data[-2:]
    rng = random.Random(1)
    starts = sorted(rng.randrange(len(data) - 5000) for _ in range(40))
    ends = [s + rng.randrange(1, 5000) for s in starts]
    assert fs.cat_ranges([path] * 40, starts, ends) == [data[s:e] for s, e in zip(starts, ends)]


def test_empty_files_and_reads_at_the_end(fs, root):
    fs.pipe(f"{root}/empty", b"")
    assert fs.cat_file(f"{root}/empty") == b""
    assert fs.info(f"{root}/empty")["size"] == 0
    fs.pipe(f"{root}/short", b"12345")
    assert fs.cat_file(f"{root}/short", 5, 10) == b""
    with fs.open(f"{root}/empty", "rb") as f:
        assert f.read() == b""


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.integers(0, 3 * MiB), st.integers(0, 400_000)), min_size=1, max_size=10))
def test_random_seek_and_read_match_a_local_copy(fs, root, ops):
    data = payload(3 * MiB + 11, seed=2)
    path = f"{root}/h.bin"
    if not fs.exists(path):
        fs.pipe(path, data)
    local = io.BytesIO(data)
    with fs.open(path, "rb", block_size=512 * 1024) as f:
        for offset, length in ops:
            f.seek(offset)
            local.seek(offset)
            assert f.read(length) == local.read(length)


def test_a_reader_stays_on_its_commit(fs, root):
    fs.pipe(f"{root}/v.bin", payload(2 * MiB, seed=3))
    with fs.open(f"{root}/v.bin", "rb", block_size=256 * 1024) as f:
        assert f.read(100) == payload(2 * MiB, seed=3)[:100]
        fs.pipe(f"{root}/v.bin", payload(2 * MiB, seed=4))
        f.seek(MiB)
        assert f.read(1000) == payload(2 * MiB, seed=3)[MiB : MiB + 1000]
    assert fs.cat_file(f"{root}/v.bin") == payload(2 * MiB, seed=4)


def test_scattered_ranges_are_merged_into_few_streams(pfs, fs, root):
    data = payload(8 * MiB, seed=5)
    fs.pipe(f"{root}/m.bin", data)
    rng = random.Random(6)
    starts = [rng.randrange(len(data) - 16384) for _ in range(64)]
    pfs.reset_counts()
    out = fs.cat_ranges([f"{root}/m.bin"] * 64, starts, [s + 16384 for s in starts])
    assert out == [data[s : s + 16384] for s in starts]
    assert pfs.rpc_counts["GetFile"] <= 2  # one server message holds more than the gaps between them


def test_sequential_reads_continue_one_stream(pfs, fs, root):
    data = payload(6 * MiB, seed=7)
    fs.pipe(f"{root}/s.bin", data)
    pfs.reset_counts()
    with fs.open(f"{root}/s.bin", "rb", block_size=MiB, cache_type="none") as f:
        chunks = [f.read(MiB) for _ in range(6)]
    assert b"".join(chunks) == data
    assert pfs.rpc_counts["GetFile"] == 1


def test_get_file_and_a_directory_read(fs, root, tmp_path):
    data = payload(3 * MiB, seed=8)
    fs.pipe(f"{root}/dir/g.bin", data)
    fs.get(f"{root}/dir/g.bin", str(tmp_path / "g.bin"))
    assert (tmp_path / "g.bin").read_bytes() == data
    with pytest.raises(IsADirectoryError):
        fs.cat_file(f"{root}/dir")


def test_reads_by_commit_id_and_ancestry(fs, root):
    fs.pipe(f"{root}/f.txt", b"one")
    first = fs.resolve(root)
    fs.pipe(f"{root}/f.txt", b"two")
    repo = root.split("@")[0]
    assert fs.cat_file(f"{repo}@{first}/f.txt") == b"one"
    assert fs.cat_file(f"{repo}@master^1/f.txt") == b"one"
    assert fs.cat_file(f"pfs://{repo}@master/f.txt") == b"two"
    assert fs.info(f"{repo}@{first}/f.txt")["commit"] == first
