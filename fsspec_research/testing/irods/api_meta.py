"""AVU metadata: ``MOD_AVU_METADATA_AN`` (add/adda/rm/rmw/rmi/set/mod/cp) and the atomic JSON API."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from .catalog import Actor, Catalog
from .conditions import like
from .dispatch import Reply, api, json_error, json_in, json_reply, reply
from .errors import IrodsError, fail
from .model import CREATE_METADATA, now
from .protocol import kvp, text

if TYPE_CHECKING:
    from .agent import Agent

MOD_AVU_METADATA_AN, ATOMIC_APPLY_METADATA_OPERATIONS_APN = 706, 20002
_KINDS = {"d": "data_object", "c": "collection", "r": "resource", "u": "user"}


def entity(cat: Catalog, actor: Actor, kind: str, name: str, admin_kw: bool = False) -> Any:
    """The record behind ``-d/-C/-R/-u name``, after checking the caller may change its metadata."""
    kind = kind.lstrip("-").lower()[:1]
    if kind == "d":
        ent = cat.obj(cat.check_path(name))
        if ent is None:
            raise fail("CAT_UNKNOWN_FILE", name)
    elif kind == "c":
        ent = cat.colls.get(cat.check_path(name))
        if ent is None:
            raise fail("CAT_UNKNOWN_COLLECTION", name)
    elif kind == "r":
        ent = cat.resources.get(name)
        if ent is None:
            raise fail("CAT_INVALID_RESOURCE", name)
    elif kind == "u":
        ent = cat.user(name)
        if ent is None:
            raise fail("CAT_INVALID_USER", name)
    else:
        raise fail("CAT_INVALID_ARGUMENT", f"bad entity type {kind!r}")
    if kind in "ru":
        if not actor.admin:
            raise fail("CAT_INSUFFICIENT_PRIVILEGE_LEVEL", "only rodsadmin may change this metadata")
    elif not (actor.admin and admin_kw):
        cat.require(actor, ent, CREATE_METADATA)
    return ent


def links(cat: Catalog, ent: Any) -> list[int]:
    return cat.meta.setdefault(ent.id, [])


def add(cat: Catalog, ent: Any, name: str, value: str, units: str) -> None:
    a = cat.avu(name, value, units)
    ids = links(cat, ent)
    if a.id in ids:
        raise fail("CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME", f"AVU ({name}, {value}, {units}) exists")
    ids.append(a.id)
    a.mtime = now()


def remove(cat: Catalog, ent: Any, name: str, value: str, units: str, wild: bool = False) -> int:
    ids, gone = links(cat, ent), 0
    for i in list(ids):
        a = cat.avus[i]
        if wild:
            hit = all(like(p).fullmatch(v) for p, v in ((name, a.name), (value, a.value)) if p)
            hit = hit and (not units or like(units).fullmatch(a.units) is not None)
        else:
            hit = (a.name, a.value, a.units) == (name, value, units)
        if hit:
            ids.remove(i)
            gone += 1
    return gone


def replace(cat: Catalog, ent: Any, old: int, name: str, value: str, units: str) -> None:
    """Change one attached AVU, in place when no other entity shares it (keeping its create time)."""
    ids, a = links(cat, ent), cat.avus[old]
    shared = any(old in v for k, v in cat.meta.items() if k != ent.id)
    target = cat.avu_index.get((name, value, units))
    if target is a:
        a.mtime = now()
        return
    if target is None and not shared:
        del cat.avu_index[(a.name, a.value, a.units)]
        a.name, a.value, a.units, a.mtime = name, value, units, now()
        cat.avu_index[(name, value, units)] = a
        return
    target = target or cat.avu(name, value, units)
    if target.id in ids:
        ids.remove(old)
    else:
        ids[ids.index(old)] = target.id


def set_avu(cat: Catalog, ent: Any, name: str, value: str, units: str) -> None:
    """``set``: the entity ends with exactly one AVU named ``name``."""
    ids = links(cat, ent)
    named = [i for i in ids if cat.avus[i].name == name]
    if not named:
        add(cat, ent, name, value, units)
        return
    for i in named[1:]:
        ids.remove(i)
    replace(cat, ent, named[0], name, value, units)


@api(MOD_AVU_METADATA_AN)
def mod_avu(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    cat, me = agent.cat, agent.me
    args = [text(root, f"arg{i}") for i in range(10)]
    op, admin_kw = args[0].lower(), "irodsAdmin" in kvp(root)
    with cat.lock:
        if op == "cp":
            src = entity(cat, me, args[1], args[3], admin_kw)
            dst = entity(cat, me, args[2], args[4], admin_kw)
            for i in list(links(cat, src)):
                if i not in links(cat, dst):
                    links(cat, dst).append(i)
            return reply()
        ent = entity(cat, me, args[1], args[2], admin_kw or op == "adda")
        name, value, units = args[3], args[4], args[5]
        if op in ("add", "adda"):
            if op == "adda" and not me.admin:
                raise fail("CAT_INSUFFICIENT_PRIVILEGE_LEVEL", "adda needs rodsadmin")
            add(cat, ent, name, value, units)
        elif op in ("rm", "rmw"):
            if not remove(cat, ent, name, value, units, wild=op == "rmw") and op == "rm":
                raise fail("CAT_SUCCESS_BUT_WITH_NO_INFO", f"no AVU ({name}, {value}, {units})")
        elif op == "rmi":
            ids = links(cat, ent)
            if not name.isdigit() or int(name) not in ids:
                raise fail("CAT_SUCCESS_BUT_WITH_NO_INFO", f"no AVU id {name}")
            ids.remove(int(name))
        elif op == "set":
            set_avu(cat, ent, name, value, units)
        elif op == "mod":
            _mod(cat, ent, args[3:])
        else:
            raise fail("CAT_INVALID_ARGUMENT", f"unknown metadata operation {op!r}")
    return reply()


def _mod(cat: Catalog, ent: Any, args: list[str]) -> None:
    name, value = args[0], args[1]
    rest = [a for a in args[2:] if a]
    units = ""
    if rest and not re.match(r"^[nvu]:", rest[0]):
        units = rest.pop(0)
    new = {"n": name, "v": value, "u": units}
    for a in rest:
        if re.match(r"^[nvu]:", a):
            new[a[0]] = a[2:]
    match = [
        i
        for i in links(cat, ent)
        if (cat.avus[i].name, cat.avus[i].value, cat.avus[i].units) == (name, value, units)
    ]
    if not match:
        raise fail("CAT_SUCCESS_BUT_WITH_NO_INFO", f"no AVU ({name}, {value}, {units})")
    replace(cat, ent, match[0], new["n"], new["v"], new["u"])


@api(ATOMIC_APPLY_METADATA_OPERATIONS_APN)
def atomic(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    req = json_in(root)
    cat, me = agent.cat, agent.me
    kinds = {"data_object": "d", "collection": "c", "resource": "r", "user": "u"}
    kind = kinds.get(str(req.get("entity_type")))
    name = str(req.get("entity_name", ""))
    if kind is None:
        raise json_error(
            agent, "SYS_INVALID_INPUT_PARAM", f"Invalid entity type [entity_type={req.get('entity_type')}]"
        )
    with cat.lock:
        try:
            ent = entity(cat, me, kind, name, bool(req.get("admin_mode")))
        except IrodsError as e:
            if e.name in (
                "CAT_UNKNOWN_FILE",
                "CAT_UNKNOWN_COLLECTION",
                "CAT_INVALID_RESOURCE",
                "CAT_INVALID_USER",
            ):
                raise json_error(agent, e.name, f"Entity does not exist [entity_name={name}]") from None
            raise json_error(agent, e.name, e.message) from None
        saved = list(links(cat, ent))
        for index, op in enumerate(req.get("operations") or []):
            try:
                attr, value, units = op["attribute"], op["value"], op.get("units", "")
                if op.get("operation") == "add":
                    if cat.avu(attr, value, units).id not in links(cat, ent):
                        add(cat, ent, attr, value, units)
                elif op.get("operation") == "remove":
                    remove(cat, ent, attr, value, units)
                else:
                    raise fail("SYS_INVALID_INPUT_PARAM", "bad operation")
            except (KeyError, TypeError, IrodsError) as e:
                links(cat, ent)[:] = saved
                name_ = e.name if isinstance(e, IrodsError) else "SYS_INVALID_INPUT_PARAM"
                raise json_error(
                    agent, name_, f"Invalid operation [operation_index={index}]", {"operation_index": index}
                ) from None
    return json_reply(agent, {})
