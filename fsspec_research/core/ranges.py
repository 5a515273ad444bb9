"""Plan byte-range reads: normalise, sort, merge across small gaps, cap, split, and slice back.

Pure functions, no I/O. A *range* is ``(path, start, end)`` with ``end`` exclusive, as in fsspec.
A :class:`Plan` holds the requests to send and, for every input range, the pieces of those requests
that make it up, so results can be sliced back out in the caller's order. :func:`batch_plan` groups small
requests of one path into batches that a backend can serve with one multi-range request each.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Piece", "Plan", "Request", "batch_plan", "normalize", "plan_ranges", "split_evenly"]


@dataclass(frozen=True)
class Request:
    """One request to send: bytes ``[start, end)`` of ``path``."""

    path: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Piece:
    """Bytes ``[lo, hi)`` of the data returned for request number ``request``."""

    request: int
    lo: int
    hi: int


@dataclass(frozen=True)
class Plan:
    """Requests to send and, per input range, the pieces that rebuild it.

    ``batches`` groups requests of one path that are fetched together (see :func:`batch_plan`); a
    request in no batch is fetched alone.
    """

    requests: tuple[Request, ...]
    pieces: tuple[tuple[Piece, ...], ...]
    batches: tuple[tuple[int, ...], ...] = ()

    def users(self) -> list[list[int]]:
        """For each request, the input ranges that need it (in input order)."""
        out: list[list[int]] = [[] for _ in self.requests]
        for index, pieces in enumerate(self.pieces):
            for piece in pieces:
                if not out[piece.request] or out[piece.request][-1] != index:
                    out[piece.request].append(index)
        return out

    def issue_order(self) -> list[int]:
        """Request numbers ordered by the first input range that needs them."""
        first: dict[int, int] = {}
        for index, pieces in enumerate(self.pieces):
            for piece in pieces:
                first.setdefault(piece.request, index)
        return sorted(range(len(self.requests)), key=lambda r: (first.get(r, len(self.pieces)), r))

    def jobs(self) -> list[tuple[int, ...]]:
        """The units to fetch, in issue order: each batch, and every request outside batches alone."""
        batch_of = {r: batch for batch in self.batches for r in batch}
        out: dict[tuple[int, ...], None] = {}
        for r in self.issue_order():
            out.setdefault(batch_of.get(r, (r,)))
        return list(out)

    def assemble_one(self, index: int, results: Mapping[int, bytes] | Sequence[bytes]) -> bytes:
        """Bytes of input range ``index`` from the request results (any bytes-like objects: a backend
        may receive into a ``bytearray``; what comes out is always ``bytes``)."""
        pieces = self.pieces[index]
        if len(pieces) == 1:
            p = pieces[0]
            data = results[p.request]
            whole = p.lo == 0 and p.hi == len(data) and isinstance(data, bytes)
            return data if whole else bytes(memoryview(data)[p.lo : p.hi])
        return b"".join(memoryview(results[p.request])[p.lo : p.hi] for p in pieces)

    def assemble(self, results: Mapping[int, bytes] | Sequence[bytes]) -> list[bytes]:
        """Bytes of every input range, in the caller's order."""
        return [self.assemble_one(i, results) for i in range(len(self.pieces))]

    @property
    def bytes_requested(self) -> int:
        return sum(r.size for r in self.requests)


def normalize(start: int | None, end: int | None, size: int | None) -> tuple[int, int]:
    """Absolute ``[start, end)`` for fsspec-style limits, clamped to ``[0, size]``.

    ``None`` means the start/end of the object; negative values count from its end. ``end`` before
    ``start`` gives an empty range. ``size`` may be ``None`` only when both limits are absolute and
    non-negative.
    """
    if size is None:
        if start is None:
            start = 0
        if end is None or start < 0 or end < 0:
            raise ValueError(f"range ({start}, {end}) needs the object size")
        return start, max(start, end)
    start = 0 if start is None else (max(0, size + start) if start < 0 else min(start, size))
    end = size if end is None else (max(0, size + end) if end < 0 else min(end, size))
    return start, max(start, end)


def split_evenly(start: int, end: int, part_size: int) -> list[tuple[int, int]]:
    """Split ``[start, end)`` into the fewest near-equal parts of at most ``part_size`` bytes."""
    if part_size <= 0:
        raise ValueError(f"part_size must be positive, got {part_size}")
    size = end - start
    if size <= 0:
        return []
    return _cut(start, end, -(-size // part_size))


def _cut(start: int, end: int, count: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut into ``count`` near-equal parts."""
    return list(itertools.pairwise(start + (end - start) * i // count for i in range(count + 1)))


def plan_ranges(
    ranges: Iterable[tuple[str, int, int]],
    max_gap: int = 0,
    max_block: int | None = None,
    part_size: int | None = None,
    merge: bool = True,
) -> Plan:
    """Plan the requests that serve ``ranges`` (absolute, ``end`` exclusive).

    Ranges of the same path are sorted and merged when the gap between them is at most ``max_gap``
    and the merged request stays within ``max_block`` bytes. Overlaps and duplicates share bytes.
    A request (merged or not) larger than ``part_size`` (default: ``max_block``) is split into
    near-equal parts so they can be transferred in parallel. Empty ranges need no request.
    With ``merge=False`` every range is its own request (callers that already planned their ranges).
    """
    items = list(ranges)
    for path, start, end in items:
        if start < 0 or end < 0:
            raise ValueError(f"negative range ({start}, {end}) for {path!r}: normalize it first")
    if max_gap < 0:
        raise ValueError(f"max_gap must be >= 0, got {max_gap}")
    if max_block is not None and max_block <= 0:
        raise ValueError(f"max_block must be positive, got {max_block}")
    if part_size is not None and part_size <= 0:
        raise ValueError(f"part_size must be positive, got {part_size}")
    part_size = part_size or max_block

    groups: list[list] = []  # [path, start, end, [input indices]]
    order = sorted((i for i, r in enumerate(items) if r[2] > r[1]), key=lambda i: items[i])
    for i in order:
        path, start, end = items[i]
        group = groups[-1] if groups else None
        if (
            merge
            and group is not None
            and group[0] == path
            and start <= group[2] + max_gap
            and (max_block is None or max(end, group[2]) - group[1] <= max_block)
        ):
            group[2] = max(group[2], end)
            group[3].append(i)
        else:
            groups.append([path, start, end, [i]])

    requests: list[Request] = []
    pieces: list[tuple[Piece, ...]] = [()] * len(items)
    for path, g_start, g_end, members in groups:
        bounds = split_evenly(g_start, g_end, part_size) if part_size else [(g_start, g_end)]
        if len(bounds) > 1:  # a part lying wholly in a merged gap would fetch bytes nobody reads
            spans = [items[i][1:] for i in members]
            bounds = [(lo, hi) for lo, hi in bounds if any(s < hi and e > lo for s, e in spans)]
        first = len(requests)
        requests.extend(Request(path, lo, hi) for lo, hi in bounds)
        for i in members:
            _, start, end = items[i]
            pieces[i] = tuple(
                Piece(first + n, max(start, lo) - lo, min(end, hi) - lo)
                for n, (lo, hi) in enumerate(bounds)
                if lo < end and hi > start
            )
    return Plan(tuple(requests), tuple(pieces))


def batch_plan(plan: Plan, max_ranges: int, max_bytes: int, min_batches: int, below: int) -> Plan:
    """``plan`` with its small requests grouped into batches, each to be fetched by one call.

    Requests smaller than ``below`` bytes are batched, per path and only when a path has more than
    ``min_batches`` of them: sorted by offset, they are cut into at least ``min_batches`` near-equal runs
    (so that many calls still run in parallel) of at most ``max_ranges`` requests and ``max_bytes``
    bytes. A batch is ascending and never overlapping; a run that would overlap is cut there.
    """
    if max_ranges < 2:
        return plan
    small: dict[str, list[int]] = {}
    for i, r in enumerate(plan.requests):
        if r.size < below:
            small.setdefault(r.path, []).append(i)
    batches: list[tuple[int, ...]] = []
    for members in small.values():
        if len(members) <= min_batches:
            continue
        members.sort(key=lambda i: (plan.requests[i].start, plan.requests[i].end))
        count = max(min_batches, -(-len(members) // max_ranges))
        for lo, hi in _cut(0, len(members), count):
            batches.extend(b for b in _runs(plan.requests, members[lo:hi], max_bytes) if len(b) > 1)
    return dataclasses.replace(plan, batches=tuple(batches))


def _runs(requests: Sequence[Request], members: list[int], max_bytes: int) -> list[tuple[int, ...]]:
    """``members`` (ascending) cut where a request overlaps the one before it, or ``max_bytes`` would be
    exceeded."""
    runs: list[list[int]] = []
    total = 0
    for i in members:
        r = requests[i]
        if not runs or r.start < requests[runs[-1][-1]].end or total + r.size > max_bytes:
            runs.append([])
            total = 0
        runs[-1].append(i)
        total += r.size
    return [tuple(run) for run in runs]
