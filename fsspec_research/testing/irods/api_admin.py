"""Users and groups (701/714), ACLs (707) and tickets (723)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from . import obfuscation as obf
from .catalog import Actor
from .dispatch import Reply, api, reply
from .errors import fail
from .model import OWN, Ticket, User, now
from .protocol import integer, kvp, text

if TYPE_CHECKING:
    from .agent import Agent

GENERAL_ADMIN_AN, USER_ADMIN_AN, MOD_ACCESS_CONTROL_AN, TICKET_ADMIN_AN = 701, 714, 707, 723
USER_TYPES = {"rodsadmin", "rodsuser", "groupadmin", "rodsgroup"}


def _args(root: ET.Element | None) -> list[str]:
    return [text(root, f"arg{i}") for i in range(10)]


def _need_user(agent: Agent, name: str, zone: str = "") -> User:
    u = agent.cat.user(name, zone)
    if u is None:
        raise fail("CAT_INVALID_USER", f"no user {name}")
    return u


def _password_in(agent: Agent, scrambled: str, v2: bool) -> str:
    """Recover a new password the caller obfuscated with its own password (and session signature for v2)."""
    own = agent.login_user.password if agent.login_user else ""
    if v2:
        return obf.unscramble_v2(scrambled, own, agent.signature)
    return obf.strip_padding(obf.unscramble(scrambled, own))


@api(GENERAL_ADMIN_AN)
def general_admin(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    cat, me = agent.cat, agent.me
    a = _args(root)
    op, what = a[0], a[1]
    if op == "rm" and what == "unusedAVUs":
        with cat.lock:
            cat.drop_unused_avus()
        return reply()
    if op in ("calculate-usage", "set-quota"):
        return reply()
    if not me.admin:
        raise fail("CAT_INSUFFICIENT_PRIVILEGE_LEVEL", "rodsadmin only")
    if what in ("resource", "childtoresc", "childfromresc", "specificQuery", "zone"):
        raise fail("SYS_NOT_SUPPORTED", f"{op} {what} is not supported by this server")
    if op == "add" and what in ("user", "group"):
        type_ = "rodsgroup" if what == "group" else (a[3] or "rodsuser")
        if type_ not in USER_TYPES:
            raise fail("CAT_INVALID_ARGUMENT", f"bad user type {type_}")
        name, zone = [*a[2].split("#", 1), ""][:2]
        cat.add_user(name, type_, zone or a[4])
        return reply()
    if op == "rm" and what in ("user", "group"):
        with cat.lock:
            cat.remove_user(_need_user(agent, a[2]))
        return reply()
    if op == "modify" and what == "user":
        u = _need_user(agent, a[2], a[5])
        with cat.lock:
            if a[3] == "password":
                u.password = _password_in(agent, a[4], v2=True)
            elif a[3] == "type":
                if a[4] not in USER_TYPES:
                    raise fail("CAT_INVALID_ARGUMENT", f"bad user type {a[4]}")
                u.type = a[4]
            elif a[3] in ("info", "comment"):
                setattr(u, a[3], a[4])
            else:
                raise fail("CAT_INVALID_ARGUMENT", f"cannot modify {a[3]}")
            u.mtime = now()
        return reply()
    if op == "modify" and what == "group":
        return _group_member(agent, a[2], a[3], a[4], a[5])
    raise fail("CAT_INVALID_ARGUMENT", f"unsupported admin operation {op} {what}")


def _group_member(agent: Agent, group: str, action: str, user: str, zone: str) -> Reply:
    g, u = _need_user(agent, group), _need_user(agent, user, zone)
    if not g.is_group:
        raise fail("CAT_INVALID_ARGUMENT", f"{group} is not a group")
    with agent.cat.lock:
        if action == "add":
            if u.id in g.members:
                raise fail("CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME", f"{user} is in {group}")
            g.members.add(u.id)
        elif action == "remove":
            g.members.discard(u.id)
        else:
            raise fail("CAT_INVALID_ARGUMENT", f"bad group action {action}")
    return reply()


@api(USER_ADMIN_AN)
def user_admin(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    cat, me = agent.cat, agent.me
    a = _args(root)
    if a[0] == "userpw":
        u = _need_user(agent, a[1])
        if u.id != me.user.id and not me.admin:
            raise fail("CAT_INSUFFICIENT_PRIVILEGE_LEVEL", "may only change one's own password")
        u.password = _password_in(agent, a[3], v2=True)
        return reply()
    if me.user.type not in ("rodsadmin", "groupadmin"):
        raise fail("CAT_INSUFFICIENT_PRIVILEGE_LEVEL", "groupadmin or rodsadmin only")
    if a[0] == "mkuser":
        name, zone = [*a[1].split("#", 1), ""][:2]
        cat.add_user(name, "rodsuser", zone, _password_in(agent, a[2], v2=False) if a[2] else "")
        return reply()
    if a[0] == "mkgroup":
        cat.add_user(a[1], "rodsgroup")
        return reply()
    if a[0] == "modify" and a[1] == "group":
        return _group_member(agent, a[2], a[3], a[4], a[5])
    raise fail("CAT_INVALID_ARGUMENT", f"unsupported user admin operation {a[0]}")


@api(MOD_ACCESS_CONTROL_AN)
def mod_access(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    agent.cat.set_access(
        agent.me,
        text(root, "accessLevel"),
        text(root, "userName"),
        text(root, "zone"),
        text(root, "path"),
        integer(root, "recursiveFlag") != 0,
    )
    return reply()


@api(TICKET_ADMIN_AN)
def ticket_admin(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    cat, me = agent.cat, agent.me
    a = [text(root, f"arg{i}") for i in range(1, 7)]
    cmd, string = a[0], a[1]
    admin_kw = "irodsAdmin" in kvp(root)
    with cat.lock:
        if cmd == "session":
            t = cat.tickets.get(string)
            if t is None:
                raise fail("CAT_TICKET_INVALID", string)
            _check_session(agent, me, t)
            agent.actor = Actor(me.user, t)
            return reply()
        if cmd == "create":
            if string in cat.tickets:
                raise fail("CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME", f"ticket {string}")
            if a[2] not in ("read", "write"):
                raise fail("CAT_INVALID_ARGUMENT", f"bad ticket type {a[2]}")
            ent = cat.entity(cat.check_path(a[3]))
            if ent is None:
                raise fail("CAT_UNKNOWN_FILE", a[3])
            if cat.level(me, ent) < OWN:
                raise fail("CAT_NO_ACCESS_PERMISSION", f"{me.user.name} does not own {a[3]}")
            kind = "collection" if ent.__class__.__name__ == "Coll" else "data"
            cat.tickets[string] = Ticket(cat.new_id(), string, a[2], me.user.id, ent.id, kind)
            return reply()
        t = cat.tickets.get(string) or next((x for x in cat.tickets.values() if str(x.id) == string), None)
        if t is None:
            raise fail("CAT_TICKET_INVALID", string)
        if t.owner != me.user.id and not (me.admin and admin_kw):
            raise fail("CAT_TICKET_INVALID", f"{string} is not yours")
        if cmd == "delete":
            del cat.tickets[t.string]
        elif cmd == "mod":
            _modify(t, a[2], a[3], a[4])
            t.mtime = now()
        else:
            raise fail("CAT_INVALID_ARGUMENT", f"unknown ticket command {cmd}")
    return reply()


def _check_session(agent: Agent, me: Actor, t: Ticket) -> None:
    agent.cat.check_ticket(t, session=True)
    if t.users and me.user.name not in t.users:
        raise fail("CAT_TICKET_INVALID", f"user {me.user.name} may not use ticket {t.string}")
    if t.groups:
        names = {agent.cat.users[i].name for i in agent.cat.groups_of(me.user) if i in agent.cat.users}
        if not names & set(t.groups):
            raise fail("CAT_TICKET_INVALID", f"no group of {me.user.name} may use ticket {t.string}")
    if t.hosts and not {"127.0.0.1", "localhost"} & set(t.hosts):
        raise fail("CAT_TICKET_INVALID", f"host not allowed for ticket {t.string}")


def _modify(t: Ticket, what: str, value: str, extra: str) -> None:
    def number(v: str) -> int:
        try:
            return int(v or 0)
        except ValueError:
            raise fail("CAT_INVALID_ARGUMENT", f"bad number {v!r}") from None

    if what == "uses":
        t.uses_limit = number(value)
    elif what.startswith("expir"):
        t.expiry = number(value) if value not in ("", "0") else 0
    elif what == "write-file":
        t.write_file_limit = number(value)
    elif what in ("write-byte", "write-bytes"):
        t.write_byte_limit = number(value)
    elif what in ("add", "remove"):
        lists = {"user": t.users, "group": t.groups, "host": t.hosts}
        target = lists.get(value)
        if target is None:
            raise fail("CAT_INVALID_ARGUMENT", f"bad ticket restriction {value}")
        if what == "add" and extra not in target:
            target.append(extra)
        elif what == "remove" and extra in target:
            target.remove(extra)
    else:
        raise fail("CAT_INVALID_ARGUMENT", f"cannot modify ticket {what}")
