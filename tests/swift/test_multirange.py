"""Multi-range GETs: many small ranges of one object in a few ``206 multipart/byteranges`` answers, and
correct bytes from servers that answer otherwise (whole object, one part, 416)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable

import pytest
from fsspec.asyn import sync

from fsspec_research.core.errors import ObjectChangedError
from fsspec_research.swift import SwiftFileSystem
from fsspec_research.swift.client import BytePart, Reply, parse_byteranges, parse_content_range

SIZE = 3 * 2**20 + 4321
DATA = random.Random(11).randbytes(SIZE)


class Spy:
    """Records the Range header and answer of every GET of ``fs``; ``rewrite`` may change the header first
    and ``alter`` a multipart answer (to play servers that handle several ranges differently)."""

    def __init__(
        self,
        fs: SwiftFileSystem,
        rewrite: Callable[[str], str | None] | None = None,
        alter: Callable[[Reply], Reply] | None = None,
    ) -> None:
        self.sent: list[tuple[str, int, str]] = []  # (Range header, status, Content-Type)
        request = fs.client.request

        async def spy(method, path, *, headers=None, **kw):
            headers = dict(headers or {})
            asked = headers.get("Range", "")
            if method == "GET" and asked and rewrite is not None:
                header = rewrite(headers.pop("Range"))
                headers.update({"Range": header} if header else {})
            status, ctype = 0, ""
            try:
                reply = await request(method, path, headers=headers, **kw)
                status, ctype = reply.status, reply.headers.get("Content-Type", "")
                return alter(reply) if alter is not None and ctype.startswith("multipart/") else reply
            except Exception as exc:
                status = getattr(exc, "status", -1)
                raise
            finally:
                if method == "GET":
                    self.sent.append((asked, status, ctype))

        fs.client.request = spy  # type: ignore[method-assign]

    @property
    def multi(self) -> list[tuple[str, int, str]]:
        return [s for s in self.sent if "," in s[0]]


def scattered(n: int, seed: int, size: int = SIZE, longest: int = 5000) -> tuple[list[int], list[int]]:
    """``n`` ranges of up to ``longest`` bytes that never touch (so never merge), in random order."""
    rng = random.Random(seed)
    starts = rng.sample(range(0, size - longest, 2 * longest), n)
    return starts, [s + rng.randrange(1, longest) for s in starts]


@pytest.fixture
def blob(fs: SwiftFileSystem, root: str) -> str:
    path = f"{root}/blob.bin"
    fs.pipe(path, DATA)
    return path


def test_scattered_ranges_come_in_a_few_multipart_answers(fs: SwiftFileSystem, blob: str) -> None:
    spy = Spy(fs)
    starts, ends = scattered(200, seed=1)
    out = fs.cat_ranges([blob] * 200, starts, ends, max_gap=0)
    assert out == [DATA[s:e] for s, e in zip(starts, ends)]
    assert len(spy.sent) == fs.batches_per_path  # 200 requests in 8 GETs of at most 50 ranges
    assert all(status == 206 and ctype.startswith("multipart/byteranges") for _, status, ctype in spy.sent)
    assert fs.max_ranges_per_request == 50


def test_ranges_across_segment_boundaries_of_a_large_object(fs: SwiftFileSystem, root: str) -> None:
    big = SwiftFileSystem(**fs.storage_options, segment_size=2**20, skip_instance_cache=True)
    path = f"{root}/slo.bin"
    big.pipe(path, DATA)
    assert big.info(path)["static_large_object"]
    spy = Spy(big)
    starts = [k * 2**20 + d for k in (1, 2, 3) for d in range(-3000, 3000, 1000)]  # straddling boundaries
    ends = [s + 700 for s in starts]
    out = big.cat_ranges([path] * len(starts), starts, ends, max_gap=0)
    assert out == [DATA[s:e] for s, e in zip(starts, ends)]
    assert spy.multi and all(status == 206 for _, status, _ in spy.multi)  # Swift's SLO serves them
    assert big.max_ranges_per_request == 50


def test_a_replaced_object_raises_in_a_batch(fs: SwiftFileSystem, blob: str) -> None:
    pin = fs._pin_version

    async def pin_then_replace(path: str) -> str | None:
        version = await pin(path)
        await fs._pipe_file(path, random.randbytes(100))
        return version

    fs._pin_version = pin_then_replace  # type: ignore[method-assign]
    spy = Spy(fs)
    starts, ends = scattered(40, seed=2)
    with pytest.raises(ObjectChangedError):
        fs.cat_ranges([blob] * 40, starts, ends, max_gap=0, on_error="raise")
    assert any(status == 412 for _, status, _ in spy.multi)  # If-Match on the pinned ETag
    assert isinstance(fs.cat_ranges([blob] * 40, starts, ends, max_gap=0)[0], ObjectChangedError)


def test_a_missing_object_fails_alone(fs: SwiftFileSystem, blob: str) -> None:
    missing = blob + ".missing"
    starts, ends = scattered(40, seed=3)
    out = fs.cat_ranges([blob] * 20 + [missing] * 20, starts, ends, max_gap=0)
    assert out[:20] == [DATA[s:e] for s, e in zip(starts[:20], ends[:20])]
    assert all(isinstance(x, FileNotFoundError) and missing in str(x) for x in out[20:])


def test_spans_past_the_end_are_cut_short_and_keep_multi_range(fs: SwiftFileSystem, blob: str) -> None:
    spans = [(i * 10_000, i * 10_000 + 100) for i in range(10)] + [(SIZE - 50, SIZE + 50)]
    assert sync(fs.loop, fs._read_ranges, blob, spans, None) == [DATA[s:e] for s, e in spans]
    with pytest.raises(ValueError):  # 416, as a single range after the end
        sync(fs.loop, fs._read_ranges, blob, [(SIZE + 10, SIZE + 20), (SIZE + 30, SIZE + 40)], None)
    assert fs.max_ranges_per_request == 50


def test_unsorted_and_repeated_spans(fs: SwiftFileSystem, blob: str) -> None:
    spans = [(5000, 5100), (0, 10), (5000, 5100), (90_000, 90_001), (20, 20)] + [
        (i * 999, i * 999 + 9) for i in range(20, 5, -1)
    ]
    spy = Spy(fs)
    assert sync(fs.loop, fs._read_ranges, blob, spans, fs.info(blob)["ETag"]) == [DATA[s:e] for s, e in spans]
    assert len(spy.sent) == 1 and spy.sent[0][1] == 206
    assert fs.max_ranges_per_request == 50


def test_more_ranges_than_swift_allows_fall_back_to_single_ranges(fs: SwiftFileSystem, blob: str) -> None:
    fs.max_ranges_per_request, fs.batches_per_path = 60, 1  # one GET of 60 ranges: swob answers 416
    spy = Spy(fs)
    starts, ends = scattered(60, seed=4)
    assert fs.cat_ranges([blob] * 60, starts, ends, max_gap=0) == [DATA[s:e] for s, e in zip(starts, ends)]
    assert [status for _, status, _ in spy.multi] == [416]
    assert fs.max_ranges_per_request == 1
    spy.sent.clear()
    assert fs.cat_ranges([blob] * 60, starts, ends, max_gap=0) == [DATA[s:e] for s, e in zip(starts, ends)]
    assert len(spy.sent) == 60 and not spy.multi  # single ranges from now on


@pytest.mark.parametrize(
    ("server", "status"),
    [
        (lambda header: None if "," in header else header, 200),  # ignores several ranges: whole object
        (lambda header: header.split(",")[0], 206),  # serves only the first range
    ],
    ids=["whole-object", "first-range-only"],
)
def test_servers_without_multi_range_still_give_right_bytes(
    fs: SwiftFileSystem, blob: str, server: Callable[[str], str | None], status: int
) -> None:
    spy = Spy(fs, rewrite=server)
    starts, ends = scattered(30, seed=5)
    assert fs.cat_ranges([blob] * 30, starts, ends, max_gap=0) == [DATA[s:e] for s, e in zip(starts, ends)]
    assert spy.multi and {s for _, s, _ in spy.multi} == {status}
    assert fs.max_ranges_per_request == 1
    spy.sent.clear()
    starts, ends = scattered(30, seed=6)
    assert fs.cat_ranges([blob] * 30, starts, ends, max_gap=0) == [DATA[s:e] for s, e in zip(starts, ends)]
    assert len(spy.sent) == 30 and all(status == 206 for _, status, _ in spy.sent)


def test_an_unreadable_multipart_answer_falls_back_to_single_ranges(fs: SwiftFileSystem, blob: str) -> None:
    spy = Spy(fs, alter=lambda reply: dataclasses.replace(reply, body=reply.body[:-100]))
    starts, ends = scattered(20, seed=7)
    assert fs.cat_ranges([blob] * 20, starts, ends, max_gap=0) == [DATA[s:e] for s, e in zip(starts, ends)]
    assert spy.multi and fs.max_ranges_per_request == 1


# ------------------------------------------------------------------------------------------------ parser


def multipart(boundary: bytes, parts: list[tuple[bytes, bytes]], preamble: bytes = b"") -> bytes:
    body = preamble
    for content_range, data in parts:
        body += b"--" + boundary + b"\r\nContent-Type: application/octet-stream\r\n"
        body += b"Content-Range: " + content_range + b"\r\n\r\n" + data + b"\r\n"
    return body + b"--" + boundary + b"--\r\n"


def test_parse_byteranges_places_parts_by_their_content_range() -> None:
    tricky = b"xx\r\n--abc\r\nContent-Range: bytes 0-1/9\r\n\r\nyy"  # the boundary inside the data
    body = multipart(
        b"abc", [(b"bytes 100-142/1000", tricky), (b"bytes 0-2/1000", b"\r\n-")], b"preamble\r\n"
    )
    parts = parse_byteranges('multipart/byteranges; boundary="abc"', body)
    assert parts == [BytePart(100, 143, 1000, tricky), BytePart(0, 3, 1000, b"\r\n-")]
    assert parse_byteranges("Multipart/ByteRanges;boundary=abc", multipart(b"abc", [])) == []


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/octet-stream", multipart(b"abc", [])),
        ("multipart/byteranges", multipart(b"abc", [])),  # no boundary
        ("multipart/byteranges; boundary=abc", b"no delimiter at all"),
        ("multipart/byteranges; boundary=abc", multipart(b"abc", [(b"bytes 0-9/20", b"short")])),
        ("multipart/byteranges; boundary=abc", multipart(b"abc", [(b"bytes 0-1/20", b"xy")])[:-9]),
        ("multipart/byteranges; boundary=abc", b"--abc\r\nContent-Type: text/plain"),
        ("multipart/byteranges; boundary=abc", b"--abc\r\nContent-Type: text/plain\r\n\r\nxy\r\n--abc--"),
        ("multipart/byteranges; boundary=abc", multipart(b"abc", [(b"bytes */20", b"")])),
    ],
)
def test_parse_byteranges_rejects_malformed_bodies(content_type: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_byteranges(content_type, body)


def test_parse_content_range() -> None:
    assert parse_content_range("bytes 0-9/100") == (0, 10, 100)
    assert parse_content_range(" Bytes 5-5/* ") == (5, 6, None)
    for bad in (None, "", "bytes 9-0/100", "bytes */100", "items 0-9/100", "bytes 0-9"):
        with pytest.raises(ValueError):
            parse_content_range(bad)
