"""GenQuery tables: which column numbers belong to which catalog table, and how to read them from a record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .model import ts

Getter = Callable[[Any, Any], str]  # (catalog, row) -> text

# Column number -> (table, getter, numeric?)
COLUMNS: dict[int, tuple[str, Getter, bool]] = {}


def _cols(table: str, numeric: set[int], **getters: Getter) -> None:
    for key, fn in getters.items():
        num = int(key[1:])
        COLUMNS[num] = (table, fn, num in numeric)


_TIMES = {208, 209, 311, 312, 419, 420, 424, 508, 509, 604, 605, 614, 615, 634, 635, 644, 645, 2209, 2210}

_cols(
    "zone",
    {101},
    c101=lambda c, z: str(z[0]),
    c102=lambda c, z: z[1],
    c103=lambda c, z: "local",
    c104=lambda c, z: "",
    c105=lambda c, z: "",
    c106=lambda c, z: ts(0),
    c107=lambda c, z: ts(0),
)

_user = {
    "c201": lambda c, u: str(u.id),
    "c202": lambda c, u: u.name,
    "c203": lambda c, u: u.type,
    "c204": lambda c, u: u.zone,
    "c206": lambda c, u: u.info,
    "c207": lambda c, u: u.comment,
    "c208": lambda c, u: ts(u.ctime),
    "c209": lambda c, u: ts(u.mtime),
}
_cols("user", {201} | _TIMES, **_user)
_cols("group", {900}, c900=lambda c, g: str(g.id), c901=lambda c, g: g.name)
_cols("cuser", set(), c1300=lambda c, u: u.name, c1301=lambda c, u: u.zone)

_cols(
    "resc",
    {301} | _TIMES,
    c301=lambda c, r: str(r.id),
    c302=lambda c, r: r.name,
    c303=lambda c, r: r.zone,
    c304=lambda c, r: r.type,
    c305=lambda c, r: "cache",
    c306=lambda c, r: r.host,
    c307=lambda c, r: r.vault,
    c308=lambda c, r: "",
    c310=lambda c, r: "",
    c311=lambda c, r: ts(r.ctime),
    c312=lambda c, r: ts(r.mtime),
    c313=lambda c, r: "",
    c314=lambda c, r: "",
    c315=lambda c, r: "",
    c316=lambda c, r: "",
    c317=lambda c, r: "",
    c318=lambda c, r: "",
)

_cols(
    "data",
    {401, 402, 404, 407, 417, 423} | _TIMES,
    c401=lambda c, o: str(o.id),
    c402=lambda c, o: str(o.coll.id),
    c403=lambda c, o: o.name,
    c404=lambda c, o: "0",
    c405=lambda c, o: "",
    c406=lambda c, o: o.type,
    c407=lambda c, o: str(o.size),
    c409=lambda c, o: "demoResc",
    c410=lambda c, o: o.phys,
    c411=lambda c, o: o.owner,
    c412=lambda c, o: o.zone,
    c413=lambda c, o: str(o.repl_status),
    c414=lambda c, o: "",
    c415=lambda c, o: o.checksum,
    c416=lambda c, o: o.expiry,
    c417=lambda c, o: "0",
    c418=lambda c, o: o.comments,
    c419=lambda c, o: ts(o.ctime),
    c420=lambda c, o: ts(o.mtime),
    c421=lambda c, o: o.data_mode,
    c422=lambda c, o: "demoResc",
    c423=lambda c, o: str(o.resc_id),
    c424=lambda c, o: ts(o.mtime),
)

_cols(
    "coll",
    {500} | _TIMES,
    c500=lambda c, x: str(x.id),
    c501=lambda c, x: x.name,
    c502=lambda c, x: x.parent,
    c503=lambda c, x: x.owner,
    c504=lambda c, x: x.zone,
    c505=lambda c, x: "0",
    c506=lambda c, x: "1" if x.inherit else "",
    c507=lambda c, x: x.comments,
    c508=lambda c, x: ts(x.ctime),
    c509=lambda c, x: ts(x.mtime),
)

# AVU rows are (entity, Avu); the four entity kinds use the same layout at different offsets.
META_TABLES = {"dmeta": 600, "cmeta": 610, "rmeta": 630, "umeta": 640}
for _table, _base in META_TABLES.items():
    _cols(
        _table,
        _TIMES,
        **{
            f"c{_base}": lambda c, r: r[1].name,
            f"c{_base + 1}": lambda c, r: r[1].value,
            f"c{_base + 2}": lambda c, r: r[1].units,
            f"c{_base + 3}": lambda c, r: str(r[1].id),
            f"c{_base + 4}": lambda c, r: ts(r[1].ctime),
            f"c{_base + 5}": lambda c, r: ts(r[1].mtime),
        },
    )

# Access rows are (entity, user id, level).
for _table, _base in {"daccess": 700, "caccess": 710}.items():
    _cols(
        _table,
        {_base, _base + 3, _base + 4},
        **{
            f"c{_base}": lambda c, r: str(r[2]),
            f"c{_base + 1}": lambda c, r: c.level_name(r[2]),
            f"c{_base + 2}": lambda c, r: "access_type",
            f"c{_base + 3}": lambda c, r: str(r[1]),
            f"c{_base + 4}": lambda c, r: str(r[0].id),
        },
    )


def _owner(c: Any, t: Any) -> Any:
    return c.users.get(t.owner)


_cols(
    "ticket",
    {2200, 2203, 2204, 2206, 2207, 2211, 2212, 2213, 2214} | _TIMES,
    c2200=lambda c, t: str(t.id),
    c2201=lambda c, t: t.string,
    c2202=lambda c, t: t.type,
    c2203=lambda c, t: str(t.owner),
    c2204=lambda c, t: str(t.obj_id),
    c2205=lambda c, t: t.obj_type,
    c2206=lambda c, t: str(t.uses_limit),
    c2207=lambda c, t: str(t.uses_count),
    c2208=lambda c, t: str(t.expiry) if t.expiry else "",
    c2209=lambda c, t: ts(t.ctime),
    c2210=lambda c, t: ts(t.mtime),
    c2211=lambda c, t: str(t.write_file_count),
    c2212=lambda c, t: str(t.write_file_limit),
    c2213=lambda c, t: str(t.write_byte_count),
    c2214=lambda c, t: str(t.write_byte_limit),
)
_cols("tdata", set(), c2226=lambda c, o: o.name, c2227=lambda c, o: o.coll.name)
_cols("tcoll", set(), c2228=lambda c, x: x.name)
_cols("towner", set(), c2229=lambda c, u: u.name, c2230=lambda c, u: u.zone)
_cols("thost", set(), c2220=lambda c, r: str(r[0].id), c2221=lambda c, r: r[1])
_cols("tuser", set(), c2222=lambda c, r: str(r[0].id), c2223=lambda c, r: r[1])
_cols("tgroup", set(), c2224=lambda c, r: str(r[0].id), c2225=lambda c, r: r[1])

# Tables that exist but are always empty here (rules, quotas).
EMPTY_TABLES = {"rule": range(1000, 1020), "quota": range(2000, 2010)}
for _table, _range in EMPTY_TABLES.items():
    for _n in _range:
        COLUMNS.setdefault(_n, (_table, lambda c, r: "", False))
