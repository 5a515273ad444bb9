"""The GenQuery join graph: how catalog tables relate, where a query starts, the tree joining its tables."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from .catalog import Catalog
from .errors import fail

Rel = Callable[[Catalog, Any, dict[int, str]], Iterable[Any]]


def _meta_rows(cat: Catalog, ent: Any) -> list[tuple[Any, Any]]:
    return [(ent, cat.avus[i]) for i in cat.meta.get(ent.id, ()) if i in cat.avus]


def _acl_rows(ent: Any) -> list[tuple[Any, int, int]]:
    return [(ent, uid, lvl) for uid, lvl in ent.acl.items()]


def _coll_objects(cat: Catalog, c: Any, eq: dict[int, str]) -> Iterable[Any]:
    if 403 in eq:
        o = c.objects.get(eq[403])
        return [o] if o else []
    return list(c.objects.values())


def _groups_of_user(cat: Catalog, u: Any, eq: dict[int, str]) -> list[Any]:
    if u.is_group:
        return [u]
    return [g for g in cat.users.values() if g.is_group and (u.id in g.members or g.name == "public")] + [u]


def _members(cat: Catalog, g: Any, eq: dict[int, str]) -> list[Any]:
    if not g.is_group:
        return [g]
    return [g] + [
        u for u in cat.users.values() if not u.is_group and (u.id in g.members or g.name == "public")
    ]


def _ticket_target(cat: Catalog, t: Any, kind: str) -> list[Any]:
    if t.obj_type != kind:
        return []
    ent = cat.objs.get(t.obj_id) if kind == "data" else cat.coll_ids.get(t.obj_id)
    return [ent] if ent is not None else []


EDGES: dict[tuple[str, str], Rel] = {
    ("coll", "data"): _coll_objects,
    ("data", "coll"): lambda c, o, eq: [o.coll],
    ("coll", "cmeta"): lambda c, x, eq: _meta_rows(c, x),
    ("cmeta", "coll"): lambda c, r, eq: [r[0]],
    ("data", "dmeta"): lambda c, o, eq: _meta_rows(c, o),
    ("dmeta", "data"): lambda c, r, eq: [r[0]],
    ("resc", "rmeta"): lambda c, x, eq: _meta_rows(c, x),
    ("rmeta", "resc"): lambda c, r, eq: [r[0]],
    ("user", "umeta"): lambda c, u, eq: _meta_rows(c, u),
    ("umeta", "user"): lambda c, r, eq: [r[0]],
    ("data", "daccess"): lambda c, o, eq: _acl_rows(o),
    ("daccess", "data"): lambda c, r, eq: [r[0]],
    ("coll", "caccess"): lambda c, x, eq: _acl_rows(x),
    ("caccess", "coll"): lambda c, r, eq: [r[0]],
    ("daccess", "user"): lambda c, r, eq: [c.users[r[1]]] if r[1] in c.users else [],
    ("user", "daccess"): lambda c, u, eq: [r for o in c.objs.values() for r in _acl_rows(o) if r[1] == u.id],
    ("caccess", "cuser"): lambda c, r, eq: [c.users[r[1]]] if r[1] in c.users else [],
    ("cuser", "caccess"): lambda c, u, eq: [
        r for x in c.colls.values() for r in _acl_rows(x) if r[1] == u.id
    ],
    ("user", "group"): _groups_of_user,
    ("group", "user"): _members,
    ("data", "resc"): lambda c, o, eq: [r for r in c.resources.values() if r.id == o.resc_id],
    ("resc", "data"): lambda c, r, eq: [o for o in c.objs.values() if o.resc_id == r.id],
    ("ticket", "tdata"): lambda c, t, eq: _ticket_target(c, t, "data"),
    ("tdata", "ticket"): lambda c, o, eq: [t for t in c.tickets.values() if t.obj_id == o.id],
    ("ticket", "tcoll"): lambda c, t, eq: _ticket_target(c, t, "collection"),
    ("tcoll", "ticket"): lambda c, x, eq: [t for t in c.tickets.values() if t.obj_id == x.id],
    ("ticket", "towner"): lambda c, t, eq: [c.users[t.owner]] if t.owner in c.users else [],
    ("towner", "ticket"): lambda c, u, eq: [t for t in c.tickets.values() if t.owner == u.id],
    ("ticket", "thost"): lambda c, t, eq: [(t, h) for h in t.hosts],
    ("thost", "ticket"): lambda c, r, eq: [r[0]],
    ("ticket", "tuser"): lambda c, t, eq: [(t, h) for h in t.users],
    ("tuser", "ticket"): lambda c, r, eq: [r[0]],
    ("ticket", "tgroup"): lambda c, t, eq: [(t, h) for h in t.groups],
    ("tgroup", "ticket"): lambda c, r, eq: [r[0]],
}
_NEIGHBOURS: dict[str, list[str]] = {}
for _a, _b in EDGES:
    _NEIGHBOURS.setdefault(_a, []).append(_b)
META_OWNER = {"dmeta": "data", "cmeta": "coll", "rmeta": "resc", "umeta": "user"}


def scan(cat: Catalog, table: str, eq: dict[int, str]) -> Iterable[Any]:
    """All rows of a root table, narrowed by an equality condition where an index exists."""
    if table == "coll":
        if 501 in eq:
            c = cat.colls.get(eq[501])
            return [c] if c else []
        if 500 in eq and eq[500].isdigit():
            c = cat.coll_ids.get(int(eq[500]))
            return [c] if c else []
        if 502 in eq:
            p = cat.colls.get(eq[502])
            return [x for x in p.subcolls.values()] + ([p] if p and p.name == "/" else []) if p else []
        return list(cat.colls.values())
    if table == "data":
        if 401 in eq and eq[401].isdigit():
            o = cat.objs.get(int(eq[401]))
            return [o] if o else []
        if 402 in eq and eq[402].isdigit():
            c = cat.coll_ids.get(int(eq[402]))
            return _coll_objects(cat, c, eq) if c else []
        return list(cat.objs.values())
    if table in ("user", "cuser", "towner", "group"):
        users = list(cat.users.values())
        return [u for u in users if u.is_group] if table == "group" else users
    if table == "resc":
        return list(cat.resources.values())
    if table == "zone":
        return [(1, cat.zone)]
    if table == "ticket":
        if 2201 in eq:
            t = cat.tickets.get(eq[2201])
            return [t] if t else []
        return list(cat.tickets.values())
    if table in META_OWNER:
        return [r for ent in scan(cat, META_OWNER[table], {}) for r in _meta_rows(cat, ent)]
    if table == "daccess":
        return [r for o in cat.objs.values() for r in _acl_rows(o)]
    if table == "caccess":
        return [r for c in cat.colls.values() for r in _acl_rows(c)]
    if table == "tdata":
        return list(cat.objs.values())
    if table == "tcoll":
        return list(cat.colls.values())
    if table in ("thost", "tuser", "tgroup"):
        return [r for t in cat.tickets.values() for r in EDGES[("ticket", table)](cat, t, {})]
    return []


_ROOT_PRIORITY = ("coll", "data", "ticket", "user", "resc", "zone", "group", "cuser")
_INDEXED = {"coll": (501, 500), "data": (401, 402), "ticket": (2201,)}


def tree(tables: set[str], eqs: dict[str, dict[int, str]]) -> tuple[str, dict[str, str]]:
    """Root and parent links of the shortest join tree connecting ``tables``."""
    indexed = [
        t for t in _ROOT_PRIORITY if t in tables and any(k in eqs.get(t, {}) for k in _INDEXED.get(t, ()))
    ]
    ordered = indexed + [t for t in _ROOT_PRIORITY if t in tables] + sorted(tables)
    root = ordered[0]
    parent: dict[str, str] = {root: root}
    queue = deque([root])
    while queue:
        t = queue.popleft()
        for n in _NEIGHBOURS.get(t, ()):
            if n not in parent:
                parent[n] = t
                queue.append(n)
    links: dict[str, str] = {}
    for t in tables:
        if t not in parent:
            raise fail("CAT_SQL_ERR", f"cannot join table {t}")
        while t != root and t not in links:
            links[t] = parent[t]
            t = parent[t]
    return root, links
