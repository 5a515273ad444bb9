"""Range planning: fsspec-style normalisation, even splitting, merging and slicing results back."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fsspec_research.core.ranges import (
    Piece,
    Plan,
    Request,
    batch_plan,
    normalize,
    plan_ranges,
    split_evenly,
)


def serve(plan: Plan, data: dict[str, bytes]) -> list[bytes]:
    """Answer every request of ``plan`` from ``data`` and assemble the input ranges."""
    return plan.assemble([data[r.path][r.start : r.end] for r in plan.requests])


# --------------------------------------------------------------------------------------------- normalize


@pytest.mark.parametrize(
    ("start", "end", "size", "expected"),
    [
        (None, None, 10, (0, 10)),
        (None, 4, 10, (0, 4)),
        (3, None, 10, (3, 10)),
        (2, 7, 10, (2, 7)),
        (-3, None, 10, (7, 10)),
        (None, -3, 10, (0, 7)),
        (-4, -1, 10, (6, 9)),
        (-100, None, 10, (0, 10)),  # before the start clamps to 0
        (None, -100, 10, (0, 0)),
        (5, 100, 10, (5, 10)),  # past EOF clamps to the size
        (100, 200, 10, (10, 10)),
        (100, None, 10, (10, 10)),
        (7, 3, 10, (7, 7)),  # end before start: empty at start
        (-2, -5, 10, (8, 8)),
        (5, 5, 10, (5, 5)),
        (0, 0, 10, (0, 0)),
        (None, None, 0, (0, 0)),
        (-1, None, 0, (0, 0)),
        (3, 9, 0, (0, 0)),
        (None, None, 1, (0, 1)),
        (-1, None, 1, (0, 1)),
        (None, -1, 1, (0, 0)),
        (1, None, 1, (1, 1)),
        (0, 1, 1, (0, 1)),
    ],
)
def test_normalize(start, end, size, expected):
    assert normalize(start, end, size) == expected


@given(
    size=st.integers(0, 50),
    start=st.one_of(st.none(), st.integers(-80, 80)),
    end=st.one_of(st.none(), st.integers(-80, 80)),
)
def test_normalize_matches_python_slicing(size, start, end):
    data = bytes(range(size))
    s, e = normalize(start, end, size)
    assert 0 <= s <= e <= size
    assert data[s:e] == data[start:end]


def test_normalize_without_size_absolute_limits():
    assert normalize(0, 10, None) == (0, 10)
    assert normalize(None, 10, None) == (0, 10)
    assert normalize(4, 10, None) == (4, 10)
    assert normalize(8, 3, None) == (8, 8)


@pytest.mark.parametrize(("start", "end"), [(None, None), (0, None), (5, None), (-1, 10), (0, -1), (-5, -1)])
def test_normalize_without_size_needs_size(start, end):
    with pytest.raises(ValueError, match="size"):
        normalize(start, end, None)


# --------------------------------------------------------------------------------------------- split_evenly


@pytest.mark.parametrize(
    ("start", "end", "part", "expected"),
    [
        (0, 10, 5, [(0, 5), (5, 10)]),
        (0, 10, 10, [(0, 10)]),
        (0, 10, 100, [(0, 10)]),
        (0, 10, 3, [(0, 2), (2, 5), (5, 7), (7, 10)]),
        (0, 1, 1, [(0, 1)]),
        (0, 3, 1, [(0, 1), (1, 2), (2, 3)]),
        (100, 111, 4, [(100, 103), (103, 107), (107, 111)]),
    ],
)
def test_split_evenly_examples(start, end, part, expected):
    assert split_evenly(start, end, part) == expected


@given(start=st.integers(0, 10_000), size=st.integers(1, 5_000), part=st.integers(1, 6_000))
def test_split_evenly_properties(start, size, part):
    end = start + size
    parts = split_evenly(start, end, part)
    # exact, contiguous cover
    assert parts[0][0] == start
    assert parts[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(parts))
    sizes = [hi - lo for lo, hi in parts]
    assert all(0 < s <= part for s in sizes)
    # fewest parts and near-equal
    assert len(parts) == -(-size // part)
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(("start", "end"), [(5, 5), (0, 0), (10, 3)])
def test_split_evenly_empty(start, end):
    assert split_evenly(start, end, 4) == []


@pytest.mark.parametrize("part", [0, -1, -100])
def test_split_evenly_invalid_part_size(part):
    with pytest.raises(ValueError, match="part_size"):
        split_evenly(0, 10, part)
    with pytest.raises(ValueError):
        split_evenly(0, 0, part)  # rejected even when there is nothing to split


# --------------------------------------------------------------------------------------------- plan_ranges

DATA = {"a": bytes(range(256)) * 4, "b": bytes(reversed(range(256))) * 4, "c": b""}


def test_plan_sorts_out_of_order_input_and_keeps_caller_order():
    ranges = [("a", 500, 520), ("a", 10, 20), ("a", 200, 210)]
    plan = plan_ranges(ranges)
    assert [(r.start, r.end) for r in plan.requests] == [(10, 20), (200, 210), (500, 520)]
    assert serve(plan, DATA) == [DATA[p][s:e] for p, s, e in ranges]
    assert plan.issue_order() == [2, 0, 1]


def test_plan_merges_within_max_gap_and_not_beyond():
    plan = plan_ranges([("a", 0, 10), ("a", 15, 20)], max_gap=5)
    assert plan.requests == (Request("a", 0, 20),)
    assert plan.bytes_requested == 20
    plan = plan_ranges([("a", 0, 10), ("a", 16, 20)], max_gap=5)
    assert plan.requests == (Request("a", 0, 10), Request("a", 16, 20))
    assert plan.bytes_requested == 14


def test_plan_adjacent_ranges_merge_with_zero_gap():
    plan = plan_ranges([("a", 0, 10), ("a", 10, 20)])
    assert plan.requests == (Request("a", 0, 20),)
    plan = plan_ranges([("a", 0, 10), ("a", 11, 20)])
    assert len(plan.requests) == 2


def test_plan_merged_pieces_slice_correctly():
    ranges = [("a", 100, 110), ("a", 0, 10), ("a", 50, 60)]
    plan = plan_ranges(ranges, max_gap=100)
    assert plan.requests == (Request("a", 0, 110),)
    assert plan.pieces == (
        (Piece(0, 100, 110),),
        (Piece(0, 0, 10),),
        (Piece(0, 50, 60),),
    )
    assert serve(plan, DATA) == [DATA["a"][100:110], DATA["a"][0:10], DATA["a"][50:60]]


def test_plan_max_block_caps_merging():
    ranges = [("a", 0, 10), ("a", 12, 20), ("a", 22, 30)]
    plan = plan_ranges(ranges, max_gap=5, max_block=20)
    assert plan.requests == (Request("a", 0, 20), Request("a", 22, 30))
    assert all(r.size <= 20 for r in plan.requests)
    assert serve(plan, DATA) == [DATA[p][s:e] for p, s, e in ranges]


def test_plan_max_block_splits_large_range_by_default():
    plan = plan_ranges([("a", 0, 100)], max_block=30)
    assert [(r.start, r.end) for r in plan.requests] == [(0, 25), (25, 50), (50, 75), (75, 100)]
    assert serve(plan, DATA) == [DATA["a"][0:100]]


def test_plan_part_size_splits_requests():
    plan = plan_ranges([("a", 0, 100)], part_size=40)
    assert [(r.start, r.end) for r in plan.requests] == [(0, 33), (33, 66), (66, 100)]
    assert plan.pieces == ((Piece(0, 0, 33), Piece(1, 0, 33), Piece(2, 0, 34)),)
    assert serve(plan, DATA) == [DATA["a"][0:100]]
    assert plan.users() == [[0], [0], [0]]


def test_plan_part_size_splits_merged_group_and_pieces_span_parts():
    ranges = [("a", 0, 30), ("a", 25, 60), ("a", 70, 100)]
    plan = plan_ranges(ranges, max_gap=10, part_size=50)
    assert [(r.start, r.end) for r in plan.requests] == [(0, 50), (50, 100)]
    assert plan.users() == [[0, 1], [1, 2]]
    assert serve(plan, DATA) == [DATA[p][s:e] for p, s, e in ranges]


def test_plan_part_size_smaller_than_max_block():
    plan = plan_ranges([("a", 0, 40), ("a", 40, 80)], max_block=100, part_size=20)
    assert [(r.start, r.end) for r in plan.requests] == [(0, 20), (20, 40), (40, 60), (60, 80)]
    assert serve(plan, DATA) == [DATA["a"][0:40], DATA["a"][40:80]]


def test_plan_duplicates_and_overlaps_share_one_request():
    ranges = [("a", 10, 50), ("a", 10, 50), ("a", 30, 70), ("a", 20, 40)]
    plan = plan_ranges(ranges)
    assert plan.requests == (Request("a", 10, 70),)
    assert plan.bytes_requested == 60
    assert plan.users() == [[0, 1, 2, 3]]
    assert serve(plan, DATA) == [DATA[p][s:e] for p, s, e in ranges]


def test_plan_contained_range_does_not_shrink_group():
    ranges = [("a", 0, 100), ("a", 10, 20), ("a", 105, 110)]
    plan = plan_ranges(ranges, max_gap=5)
    assert plan.requests == (Request("a", 0, 110),)
    assert serve(plan, DATA) == [DATA[p][s:e] for p, s, e in ranges]


def test_plan_empty_ranges_need_no_request():
    ranges = [("a", 5, 5), ("b", 7, 3), ("a", 0, 0), ("c", 0, 0)]
    plan = plan_ranges(ranges)
    assert plan.requests == ()
    assert plan.pieces == ((), (), (), ())
    assert plan.assemble([]) == [b"", b"", b"", b""]
    assert plan.bytes_requested == 0
    assert plan.users() == []
    assert plan.issue_order() == []


def test_plan_empty_range_among_real_ones():
    ranges = [("a", 5, 5), ("a", 0, 10), ("b", 3, 3)]
    plan = plan_ranges(ranges, max_gap=1000)
    assert plan.requests == (Request("a", 0, 10),)
    assert plan.pieces[0] == () and plan.pieces[2] == ()
    assert serve(plan, DATA) == [b"", DATA["a"][0:10], b""]
    assert plan.users() == [[1]]


def test_plan_no_ranges():
    plan = plan_ranges([])
    assert plan.requests == () and plan.pieces == ()
    assert plan.assemble([]) == []


def test_plan_different_paths_never_merge():
    ranges = [("b", 0, 10), ("a", 0, 10), ("a", 10, 20), ("b", 10, 20)]
    plan = plan_ranges(ranges, max_gap=10**9)
    assert plan.requests == (Request("a", 0, 20), Request("b", 0, 20))
    assert serve(plan, DATA) == [DATA[p][s:e] for p, s, e in ranges]
    assert plan.issue_order() == [1, 0]
    assert plan.users() == [[1, 2], [0, 3]]


def test_plan_similar_paths_do_not_merge():
    data = {"x/a": b"0123456789", "x/a2": b"abcdefghij"}
    ranges = [("x/a", 0, 5), ("x/a2", 5, 10)]
    plan = plan_ranges(ranges, max_gap=100)
    assert {r.path for r in plan.requests} == {"x/a", "x/a2"}
    assert serve(plan, data) == [b"01234", b"fghij"]


@pytest.mark.parametrize("bad", [("a", -1, 10), ("a", 0, -1), ("a", -10, -1)])
def test_plan_negative_range_raises(bad):
    with pytest.raises(ValueError, match="negative"):
        plan_ranges([("a", 0, 10), bad])


@pytest.mark.parametrize(("kw", "match"), [({"max_gap": -1}, "max_gap"), ({"max_block": 0}, "max_block")])
def test_plan_invalid_options(kw, match):
    with pytest.raises(ValueError, match=match):
        plan_ranges([("a", 0, 10)], **kw)


def test_plan_merge_false_keeps_one_request_per_range():
    ranges = [("a", 20, 30), ("a", 0, 10), ("a", 0, 10), ("a", 5, 25), ("a", 40, 40)]
    plan = plan_ranges(ranges, max_gap=1000, merge=False)
    assert len(plan.requests) == 4  # the empty one needs none
    assert sorted((r.start, r.end) for r in plan.requests) == [(0, 10), (0, 10), (5, 25), (20, 30)]
    assert all(len(u) == 1 for u in plan.users())
    assert serve(plan, DATA) == [DATA[p][s:e] for p, s, e in ranges]
    assert plan.bytes_requested == 10 + 10 + 20 + 10


def test_plan_merge_false_still_splits_by_part_size():
    plan = plan_ranges([("a", 0, 100), ("a", 100, 110)], merge=False, part_size=50)
    assert [(r.start, r.end) for r in plan.requests] == [(0, 50), (50, 100), (100, 110)]
    assert serve(plan, DATA) == [DATA["a"][0:100], DATA["a"][100:110]]


def test_issue_order_follows_caller_order():
    ranges = [("a", 900, 910), ("b", 0, 10), ("a", 0, 10), ("a", 500, 510)]
    plan = plan_ranges(ranges)
    # requests are sorted: a0, a500, a900, b0
    assert [(r.path, r.start) for r in plan.requests] == [("a", 0), ("a", 500), ("a", 900), ("b", 0)]
    order = plan.issue_order()
    assert [plan.requests[i] for i in order] == [
        Request("a", 900, 910),
        Request("b", 0, 10),
        Request("a", 0, 10),
        Request("a", 500, 510),
    ]


def test_issue_order_with_shared_request():
    ranges = [("a", 50, 60), ("a", 0, 10), ("a", 5, 55)]
    plan = plan_ranges(ranges, max_gap=0, part_size=30)
    assert [(r.start, r.end) for r in plan.requests] == [(0, 30), (30, 60)]
    assert plan.issue_order() == [1, 0]
    assert plan.users() == [[1, 2], [0, 2]]
    assert serve(plan, DATA) == [DATA[p][s:e] for p, s, e in ranges]


def test_assemble_accepts_mapping_and_returns_same_object_for_whole_request():
    plan = plan_ranges([("a", 0, 10), ("a", 2, 4)])
    chunk = DATA["a"][0:10]
    out = plan.assemble({0: chunk})
    assert out == [chunk, chunk[2:4]]
    assert out[0] is chunk
    assert isinstance(out[1], bytes)


def test_bytes_requested_counts_gap_bytes():
    plan = plan_ranges([("a", 0, 10), ("a", 20, 30), ("b", 0, 5)], max_gap=10)
    assert plan.bytes_requested == 30 + 5


# --------------------------------------------------------------------------------------------- property


@st.composite
def scenarios(draw):
    names = draw(st.lists(st.sampled_from("pqrstu"), min_size=1, max_size=4, unique=True))
    data = {}
    for name in names:
        size = draw(st.one_of(st.sampled_from([0, 1, 2]), st.integers(0, 400)))
        data[name] = draw(st.binary(min_size=size, max_size=size))
    limits = st.one_of(st.none(), st.integers(-450, 450))
    raw = draw(st.lists(st.tuples(st.sampled_from(names), limits, limits), max_size=30))
    ranges = [(p, *normalize(s, e, len(data[p]))) for p, s, e in raw]
    max_gap = draw(st.integers(0, 100))
    max_block = draw(st.one_of(st.none(), st.integers(1, 300)))
    part_size = draw(st.one_of(st.none(), st.integers(1, 200)))
    merge = draw(st.booleans())
    batching = draw(st.tuples(st.integers(1, 6), st.integers(1, 300), st.integers(1, 4), st.integers(1, 300)))
    return data, ranges, max_gap, max_block, part_size, merge, batching


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_plan_property(scenario):
    data, ranges, max_gap, max_block, part_size, merge, batching = scenario
    plan = plan_ranges(ranges, max_gap=max_gap, max_block=max_block, part_size=part_size, merge=merge)
    assert plan.batches == () and plan.jobs() == [(r,) for r in plan.issue_order()]
    check_batches(batch_plan(plan, *batching), plan, data, *batching)

    results = [data[r.path][r.start : r.end] for r in plan.requests]
    assert plan.assemble(results) == [data[p][s:e] for p, s, e in ranges]
    assert plan.assemble(dict(enumerate(results))) == [data[p][s:e] for p, s, e in ranges]
    assert len(plan.pieces) == len(ranges)

    limit = part_size or max_block
    for r in plan.requests:
        assert 0 <= r.start < r.end <= len(data[r.path])
        if limit:
            assert r.size <= limit
    assert plan.bytes_requested == sum(r.size for r in plan.requests)

    # every request is needed by someone, and users/issue_order are consistent with the pieces
    users = plan.users()
    assert all(users)
    for req, idx in enumerate(users):
        assert idx == sorted(set(idx))
        assert all(any(p.request == req for p in plan.pieces[i]) for i in idx)
    assert sorted(plan.issue_order()) == list(range(len(plan.requests)))
    firsts = [min(users[r]) for r in plan.issue_order()]
    assert firsts == sorted(firsts)

    # pieces stay inside their request and add up to the range
    for (_, s, e), pieces in zip(ranges, plan.pieces):
        for p in pieces:
            assert 0 <= p.lo < p.hi <= plan.requests[p.request].size
        assert sum(p.hi - p.lo for p in pieces) == e - s

    if not merge:
        non_empty = [r for r in ranges if r[2] > r[1]]
        expected = sum(-(-(e - s) // limit) if limit else 1 for _, s, e in non_empty)
        assert len(plan.requests) == expected
    elif max_block is None and part_size is None:
        by_path: dict[str, list[Request]] = {}
        for r in plan.requests:
            by_path.setdefault(r.path, []).append(r)
        for reqs in by_path.values():
            reqs.sort(key=lambda r: r.start)
            for a, b in itertools.pairwise(reqs):
                assert b.start - a.end > max_gap
        # merged requests never fetch bytes no one asked for beyond the allowed gaps
        assert len(plan.requests) <= len({r for r in ranges if r[2] > r[1]})


def test_parts_wholly_inside_a_merged_gap_are_not_requested():
    plan = plan_ranges([("a", 0, 10), ("a", 20, 30)], max_gap=10, part_size=10)
    assert [(r.start, r.end) for r in plan.requests] == [(0, 10), (20, 30)]
    assert plan.users() == [[0], [1]]
    assert serve(plan, DATA) == [DATA["a"][0:10], DATA["a"][20:30]]


RAW_RANGE = st.tuples(st.integers(0, 2), st.integers(0, 2000), st.integers(0, 40))  # (path, start, length)


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(100, 2000), min_size=1, max_size=3),
    raw=st.lists(RAW_RANGE, min_size=10, max_size=80),
    max_block=st.one_of(st.none(), st.integers(1, 80)),
    merge=st.booleans(),
    batching=st.tuples(st.integers(2, 8), st.integers(1, 200), st.integers(1, 4), st.integers(1, 80)),
)
def test_batch_plan_property(sizes, raw, max_block, merge, batching):
    """Many small ranges per path, so that batches form: the invariants of :func:`check_batches`."""
    data = {f"p{i}": (bytes(range(256)) * 8)[:size] for i, size in enumerate(sizes)}
    ranges = [(f"p{i % len(sizes)}", *normalize(s, s + n, sizes[i % len(sizes)])) for i, s, n in raw]
    plan = plan_ranges(ranges, max_block=max_block, merge=merge)
    check_batches(batch_plan(plan, *batching), plan, data, *batching)


def check_batches(batched: Plan, plan: Plan, data, max_ranges, max_bytes, min_batches, below) -> None:
    """The invariants of :func:`batch_plan` (and of ``Plan.jobs``) for one plan."""
    assert (batched.requests, batched.pieces) == (plan.requests, plan.pieces)
    jobs = batched.jobs()
    assert sorted(r for job in jobs for r in job) == list(range(len(plan.requests)))  # each request once
    position = {r: k for k, r in enumerate(plan.issue_order())}
    firsts = [min(position[r] for r in job) for job in jobs]
    assert firsts == sorted(firsts)  # jobs go out in issue order
    if max_ranges < 2:
        assert batched.batches == ()
    for batch in batched.batches:
        reqs = [plan.requests[r] for r in batch]
        assert 2 <= len(batch) <= max_ranges
        assert len({r.path for r in reqs}) == 1
        assert all(r.size < below for r in reqs)
        assert sum(r.size for r in reqs) <= max_bytes
        assert all(a.end <= b.start for a, b in itertools.pairwise(reqs))  # ascending, no overlap
    small: dict[str, set[int]] = {}
    for i, r in enumerate(plan.requests):
        if r.size < below:
            small.setdefault(r.path, set()).add(i)
    for members in small.values():
        holding = [job for job in jobs if members & set(job)]
        if len(members) <= min_batches or max_ranges < 2:
            assert all(len(job) == 1 for job in holding)  # few small requests: none batched
        else:
            assert len(holding) >= min_batches  # batching keeps parallel calls
    # a batch is served by one call returning its requests' bytes, assembled as before
    results: dict[int, bytes] = {}
    for job in jobs:
        results.update(
            (r, data[plan.requests[r].path][plan.requests[r].start : plan.requests[r].end]) for r in job
        )
    assert batched.assemble(results) == plan.assemble(results)


def test_batch_plan_spreads_small_requests_of_a_path_over_batches():
    ranges = [("a", i * 20, i * 20 + 5) for i in range(40)] + [("a", 900, 1000), ("b", 0, 5), ("b", 10, 15)]
    plan = batch_plan(plan_ranges(ranges), max_ranges=6, max_bytes=1000, min_batches=4, below=50)
    # 40 small requests of a: more than 4 batches of at most 6; the large one and b's two go alone
    assert [len(b) for b in plan.batches] == [5, 6, 6, 5, 6, 6, 6]
    assert plan.jobs()[-3:] == [(40,), (41,), (42,)]
    assert serve(plan, DATA) == [DATA[p][s:e] for p, s, e in ranges]


def test_batch_plan_cuts_at_max_bytes_and_overlaps():
    # requests that overlap (merging capped by max_block) never share a batch, nor do too many bytes
    plan = plan_ranges([("a", 0, 30), ("a", 10, 40), ("a", 50, 60), ("a", 70, 80)], max_block=30)
    assert [(r.start, r.end) for r in plan.requests] == [(0, 30), (10, 40), (50, 60), (70, 80)]
    assert batch_plan(plan, 10, 1000, 1, 100).batches == ((1, 2, 3),)
    assert batch_plan(plan, 10, 20, 1, 100).batches == ((2, 3),)
    assert batch_plan(plan, 1, 1000, 1, 100).batches == ()


def test_results_received_into_bytearrays_come_out_as_bytes():
    plan = plan_ranges([("a", 0, 10), ("a", 2, 4), ("a", 0, 30)], part_size=20)
    out = plan.assemble([bytearray(DATA["a"][r.start : r.end]) for r in plan.requests])
    assert out == [DATA["a"][0:10], DATA["a"][2:4], DATA["a"][0:30]]
    assert all(type(x) is bytes for x in out)
