"""``parallel::`` reads the same bytes as its target: property tests over memory, local, HTTP and S3
targets, and over a target without byte ranges, which it reads whole with a warning."""

from __future__ import annotations

import functools
import http.server
import io
import random
import threading
import warnings
from collections.abc import Iterator

import fsspec
import pytest
import s3fs
from fsspec.implementations.memory import MemoryFileSystem
from hypothesis import given, settings
from hypothesis import strategies as st

from fsspec_research.parallel import ParallelFileSystem, RangesUnsupportedWarning
from fsspec_research.testing import http_server

SIZE = 400_000
DATA = random.Random(17).randbytes(SIZE)
TARGETS = ["memory", "local", "http", "s3", "http-no-ranges"]


class _NoRangeHandler(http.server.SimpleHTTPRequestHandler):
    """Python's own file server: it ignores Range headers and always answers 200 with everything."""

    counter: list[int]

    def do_GET(self) -> None:
        self.counter.append(1)
        super().do_GET()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def no_range_server(tmp_path_factory) -> Iterator[tuple[str, list[int]]]:
    directory = tmp_path_factory.mktemp("no-ranges")
    (directory / "data.bin").write_bytes(DATA)
    gets: list[int] = []
    handler = type("Handler", (_NoRangeHandler,), {"counter": gets})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", gets
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def targets(
    tmp_path_factory, s3, no_range_server
) -> Iterator[dict[str, tuple[fsspec.AbstractFileSystem, str]]]:
    """Every target filesystem holding DATA, and the path of it there."""
    out = {}
    mem = fsspec.filesystem("memory")
    mem.pipe_file("/equivalence/data.bin", DATA)
    out["memory"] = (mem, "/equivalence/data.bin")
    local = tmp_path_factory.mktemp("equivalence") / "data.bin"
    local.write_bytes(DATA)
    out["local"] = (fsspec.filesystem("file"), str(local))
    plain_s3 = s3fs.S3FileSystem(skip_instance_cache=True, **s3.s3fs_options)
    plain_s3.pipe_file(f"{s3.bucket}/equivalence/data.bin", DATA)
    out["s3"] = (plain_s3, f"{s3.bucket}/equivalence/data.bin")
    out["http-no-ranges"] = (
        fsspec.filesystem("http", skip_instance_cache=True),
        f"{no_range_server[0]}/data.bin",
    )
    with http_server() as srv:
        (srv_dir := __import__("pathlib").Path(srv.directory)).joinpath("data.bin").write_bytes(DATA)
        assert (srv_dir / "data.bin").stat().st_size == SIZE
        out["http"] = (fsspec.filesystem("http", skip_instance_cache=True), f"{srv.root}/data.bin")
        yield out
    mem.rm("/equivalence", recursive=True)
    plain_s3.rm(f"{s3.bucket}/equivalence", recursive=True)


def parallel(fs: fsspec.AbstractFileSystem, **options) -> ParallelFileSystem:
    return ParallelFileSystem(fs=fs, skip_instance_cache=True, **options)


limits = st.one_of(st.none(), st.integers(-SIZE - 10, SIZE + 10))
tuning = st.fixed_dictionaries(
    {
        "max_gap": st.integers(0, 100_000),
        "part_size": st.integers(40_000, 300_000),
        "concurrency": st.integers(1, 16),
    }
)


@pytest.mark.parametrize("name", TARGETS)
@settings(max_examples=25, deadline=None)
@given(options=tuning, ranges=st.lists(st.tuples(limits, limits), min_size=1, max_size=8))
def test_cat_ranges_and_cat_file_match_the_target(targets, name, options, ranges) -> None:
    fs, path = targets[name]
    pfs = parallel(fs, **options)
    starts, ends = [s for s, _ in ranges], [e for _, e in ranges]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RangesUnsupportedWarning)
        got = pfs.cat_ranges([path] * len(ranges), starts, ends)
        assert got == [DATA[s:e] for s, e in ranges]
        start, end = ranges[0]
        assert pfs.cat_file(path, start, end) == DATA[start:end]


@pytest.mark.parametrize("name", TARGETS)
@settings(max_examples=25, deadline=None)
@given(
    block_size=st.integers(1, 120_000),
    cache_type=st.sampled_from(["parallel", "blockcache", "readahead", "bytes", "none"]),
    ops=st.lists(st.tuples(st.integers(0, SIZE + 1000), st.integers(-1, 150_000)), min_size=1, max_size=10),
)
def test_seek_and_read_match_the_target(targets, name, block_size, cache_type, ops) -> None:
    fs, path = targets[name]
    pfs = parallel(fs, part_size=60_000)
    local = io.BytesIO(DATA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RangesUnsupportedWarning)
        with pfs.open(path, block_size=block_size, cache_type=cache_type) as f:
            for pos, length in ops:
                f.seek(pos)
                local.seek(pos)
                assert f.read(length) == local.read(length)


def test_a_target_ignoring_ranges_is_read_whole_with_one_warning(targets, no_range_server, tmp_path) -> None:
    fs, path = targets["http-no-ranges"]
    gets = no_range_server[1]
    assert len(fs.cat_file(path, 100, 200)) == SIZE  # the plain target hands back everything: wrong bytes
    pfs = parallel(fs, part_size=50_000)
    assert pfs.ranges_supported is None
    with pytest.warns(RangesUnsupportedWarning, match="does not support byte ranges") as record:
        assert pfs.cat_ranges([path] * 3, [10, 200_000, -50], [20, 260_000, None]) == [
            DATA[10:20], DATA[200_000:260_000], DATA[-50:],
        ]  # fmt: skip
        assert pfs.ranges_supported is False  # found by the first request, which ran alone
        gets.clear()
        assert pfs.cat_ranges([path] * 3, [10, 200_000, -50], [20, 260_000, None]) == [
            DATA[10:20], DATA[200_000:260_000], DATA[-50:],
        ]  # fmt: skip
        assert pfs.cat_file(path, 5, 300_000) == DATA[5:300_000]
        assert len(gets) == 2  # from now on one whole read per object and call
        pfs.get_file(path, str(tmp_path / "copy.bin"))
        gets.clear()
        with pfs.open(path, block_size=1000) as f:
            assert type(f.cache).__name__ == "AllBytes"  # the whole object once, not once per block
            f.seek(123_456)
            assert f.read(5000) == DATA[123_456:128_456]
            f.seek(10)
            assert f.read(10) == DATA[10:20]
        assert len(gets) == 1
    assert len(record) == 1 and path in str(record[0].message)
    assert (tmp_path / "copy.bin").read_bytes() == DATA


class _NoRangeMemory(MemoryFileSystem):
    """A filesystem whose ranged reads are not implemented (as for some stream-only stores)."""

    protocol = "norangememory"

    def cat_file(self, path, start=None, end=None, **kwargs):
        if start is not None or end is not None:
            raise NotImplementedError("no ranged reads")
        return super().cat_file(path)


def test_a_target_without_ranged_reads_falls_back_too() -> None:
    fs = _NoRangeMemory(skip_instance_cache=True)
    fs.pipe_file("/norange/x.bin", DATA)
    pfs = parallel(fs)
    with pytest.warns(RangesUnsupportedWarning, match="NotImplementedError"):
        assert pfs.cat_ranges(["/norange/x.bin"] * 2, [0, 1000], [10, 2000]) == [DATA[:10], DATA[1000:2000]]
    assert pfs.cat_file("/norange/x.bin", -10) == DATA[-10:]
    fs.rm("/norange", recursive=True)


def test_range_support_is_found_once_and_kept(targets) -> None:
    fs, path = targets["http"]
    pfs = parallel(fs)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RangesUnsupportedWarning)  # a range-capable target never warns
        assert pfs.cat_file(path, SIZE - 10, SIZE + 10) == DATA[-10:]  # short at the end is not "no ranges"
    assert pfs.ranges_supported is True
