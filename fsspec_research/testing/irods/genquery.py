"""GenQuery (``GEN_QUERY_AN``) over the catalog.

The tables a query touches are joined along a fixed foreign-key graph (:mod:`.joins`: the shortest tree
connecting them), rows are enumerated by nested loops with each condition (:mod:`.conditions`) applied as soon
as its table is bound, then projected, aggregated, made distinct and ordered. Repeated conditions on an AVU
column address separate joins of the AVU table, as the iRODS catalog does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .catalog import Actor, Catalog
from .columns import COLUMNS, META_TABLES
from .conditions import Clause, parse_condition, sort_key, test
from .errors import fail
from .joins import EDGES, META_OWNER, scan, tree

__all__ = [
    "NO_DISTINCT",
    "ORDER_ASC",
    "ORDER_DESC",
    "TOTAL_ROW_COUNT",
    "Request",
    "execute",
    "parse_condition",
]

NO_DISTINCT, UPPER_CASE, TOTAL_ROW_COUNT = 0x40, 0x200, 0x20
ORDER_ASC, ORDER_DESC = 0x400, 0x800
AGGREGATES = {2: "min", 3: "max", 4: "sum", 5: "avg", 6: "count"}

Inst = tuple[str, int]  # (table, join instance number)


@dataclass
class Request:
    """A parsed ``GenQueryInp_PI``."""

    select: list[tuple[int, int]]
    where: list[tuple[int, str]]
    max_rows: int = 500
    continue_inx: int = 0
    offset: int = 0
    options: int = 0
    keywords: dict[str, str] = field(default_factory=dict)


def _column(num: int) -> tuple[str, Callable[[Catalog, Any], str], bool]:
    try:
        return COLUMNS[num]
    except KeyError:
        raise fail("CAT_SQL_ERR", f"unknown column {num}") from None


def execute(cat: Catalog, actor: Actor, req: Request) -> list[tuple[str, ...]]:
    """All result rows of ``req`` (distinct, aggregated, ordered); the caller pages them."""
    upper = bool(req.options & UPPER_CASE)
    counts: dict[int, int] = {}
    conds: dict[Inst, list[tuple[Callable[[Catalog, Any], str], bool, list[list[Clause]]]]] = {}
    eqs: dict[str, dict[int, str]] = {}
    for num, text in req.where:
        table, get, numeric = _column(num)
        counts[num] = counts.get(num, 0) + 1
        k = counts[num] if table in META_TABLES else 1
        alts = parse_condition(text)
        conds.setdefault((table, k), []).append((get, numeric, alts))
        if k == 1 and len(alts) == 1 and len(alts[0]) == 1 and alts[0][0][0] == "=" and not upper:
            eqs.setdefault(table, {})[num] = alts[0][0][1][0]
    select = [(num, flag, *_column(num)) for num, flag in req.select]
    insts: set[Inst] = {(t, 1) for _, _, t, _, _ in select} | set(conds)
    tables = {t for t, _ in insts}
    for t, k in insts:
        if k > 1 and t in META_OWNER:
            tables.add(META_OWNER[t])
    if not select:
        raise fail("CAT_SQL_ERR", "no columns selected")
    root, links = tree(tables, eqs)
    joined = [(t, 1) for t in links] + [i for i in insts if i[1] > 1]
    order = [(root, 1), *sorted(joined, key=lambda i: _depth(i[0], root, links))]
    restrict = _ticket_filter(cat, actor, tables)

    def rows_of(inst: Inst, bound: dict[Inst, Any]) -> Iterable[Any]:
        table, _ = inst
        eq = eqs.get(table, {}) if inst[1] == 1 else {}
        if table == root and inst[1] == 1:
            return scan(cat, table, eq)
        par = links.get(table) or META_OWNER[table]
        return EDGES[(par, table)](cat, bound[(par, 1)], eq)

    def ok(inst: Inst, row: Any) -> bool:
        if inst[0] in restrict and not restrict[inst[0]](row):
            return False
        for get, numeric, alts in conds.get(inst, ()):
            value = get(cat, row)
            if upper:
                value = value.upper()
            if not any(all(test(value, c, numeric) for c in alt) for alt in alts):
                return False
        return True

    def walk(i: int, bound: dict[Inst, Any]) -> Iterator[dict[Inst, Any]]:
        if i == len(order):
            yield bound
            return
        inst = order[i]
        for row in rows_of(inst, bound):
            if ok(inst, row):
                bound[inst] = row
                yield from walk(i + 1, bound)
        bound.pop(inst, None)

    raw = [tuple(get(cat, b[(t, 1)]) for _, _, t, get, _ in select) for b in walk(0, {})]
    return _finish(raw, select, req.options)


def _depth(table: str, root: str, links: dict[str, str]) -> int:
    d = 0
    while table != root and table in links:
        table, d = links[table], d + 1
    return d if table == root else d + 1


def _ticket_filter(cat: Catalog, actor: Actor, tables: set[str]) -> dict[str, Callable[[Any], bool]]:
    """A ticket session of a non-admin sees only what its ticket covers (a data ticket: with the object)."""
    t = actor.ticket
    if t is None or actor.admin:
        return {}
    out: dict[str, Callable[[Any], bool]] = {"data": lambda o: cat.ticket_grant(actor, o) is not None}
    if t.obj_type == "collection":
        out["coll"] = lambda c: cat.ticket_grant(actor, c) is not None
    elif "data" not in tables:
        out["coll"] = lambda c: False
    return out


def _finish(raw: list[tuple[str, ...]], select: list[tuple[Any, ...]], options: int) -> list[tuple[str, ...]]:
    aggs = [AGGREGATES.get(flag & 0xFF) for _, flag, *_ in select]
    numeric = [s[4] for s in select]
    if any(aggs):
        groups: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for r in raw:
            groups.setdefault(tuple(v for v, a in zip(r, aggs) if not a), []).append(r)
        if not groups and all(aggs):
            groups[()] = []
        raw = []
        for group, members in groups.items():
            it, out = iter(group), []
            for i, a in enumerate(aggs):
                out.append(_aggregate(a, [m[i] for m in members], numeric[i]) if a else next(it))
            raw.append(tuple(out))
    elif not options & NO_DISTINCT:
        raw = list(dict.fromkeys(raw))
    ordered = [
        (i, flag & ORDER_DESC) for i, (_, flag, *_) in enumerate(select) if flag & (ORDER_ASC | ORDER_DESC)
    ]
    if not ordered:
        ordered = [(i, 0) for i, a in enumerate(aggs) if not a]
    for i, desc in reversed(ordered if len(raw) > 1 else []):
        raw.sort(key=lambda r, i=i: sort_key(r[i], numeric[i]), reverse=bool(desc))
    return raw


def _aggregate(fn: str, values: list[str], numeric: bool) -> str:
    if fn == "count":
        return str(len(values))
    if not values:
        return ""
    if fn in ("min", "max"):
        pick = min if fn == "min" else max
        return pick(values, key=lambda v: sort_key(v, numeric))
    nums = [float(v) for v in values if v not in ("", None)]
    total = sum(nums)
    if fn == "sum":
        return str(int(total)) if total == int(total) else str(total)
    return str(total / len(nums)) if nums else ""
