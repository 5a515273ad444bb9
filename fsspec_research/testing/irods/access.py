"""Access checks: ACLs (with groups), inheritance, session tickets and their limits, ``modAccessControl``."""

from __future__ import annotations

import threading

from .errors import fail
from .model import (
    ALIASES,
    LEVELS_42,
    LEVELS_43,
    NULL,
    OWN,
    READ,
    WRITE,
    Actor,
    Coll,
    DataObj,
    Ticket,
    User,
    now,
)

Version = tuple[int, ...]


class AccessMixin:
    """The access half of :class:`~.catalog.Catalog`."""

    version: Version
    lock: threading.RLock
    colls: dict[str, Coll]
    coll_ids: dict[int, Coll]
    users: dict[int, User]

    @property
    def acl_names(self) -> dict[str, int]:
        return LEVELS_43 if self.version >= (4, 3) else LEVELS_42

    def level_name(self, level: int) -> str:
        names = {v: k for k, v in self.acl_names.items()}
        return names.get(level) or {v: k for k, v in LEVELS_43.items()}.get(level, str(level))

    def groups_of(self, user: User) -> set[int]:
        """Ids a user's access is checked for: itself and every group it belongs to (``public`` always)."""
        ids = {user.id}
        with self.lock:
            for g in self.users.values():
                if g.is_group and (user.id in g.members or g.name == "public"):
                    ids.add(g.id)
        return ids

    def ticket_grant(self, actor: Actor, ent: Coll | DataObj) -> Ticket | None:
        """The session ticket if it covers ``ent`` (its object, or anything under its collection)."""
        t = actor.ticket
        if t is None:
            return None
        if t.obj_type == "data":
            return t if isinstance(ent, DataObj) and ent.id == t.obj_id else None
        root = self.coll_ids.get(t.obj_id)
        if root is None:
            return None
        path = ent.name if isinstance(ent, Coll) else ent.coll.name
        return t if path == root.name or path.startswith(root.name.rstrip("/") + "/") else None

    def level(self, actor: Actor, ent: Coll | DataObj) -> int:
        if actor.admin:
            return OWN
        ids = self.groups_of(actor.user)
        return max([ent.acl.get(i, NULL) for i in ids] + [NULL])

    def require(self, actor: Actor, ent: Coll | DataObj, need: int) -> None:
        """Raise unless the actor's ACLs (or the session ticket) give at least ``need`` on ``ent``."""
        if self.level(actor, ent) >= need:
            return
        t = self.ticket_grant(actor, ent)
        if t is not None:
            self.check_ticket(t, write=need > READ)
            return
        name = ent.name if isinstance(ent, Coll) else ent.path
        raise fail("CAT_NO_ACCESS_PERMISSION", f"{actor.user.name} lacks access to {name}")

    def check_ticket(self, t: Ticket, write: bool = False, session: bool = False) -> None:
        """Expiry, use counts and the write limits of a ticket.

        Servers before 4.2.9 accept an expired ticket for the session and fail the open with a bad descriptor.
        """
        if t.expiry and now() > t.expiry:
            if self.version >= (4, 2, 9):
                raise fail("CAT_TICKET_EXPIRED", t.string)
            if not session:
                raise fail("SYS_FILE_DESC_OUT_OF_RANGE", f"ticket {t.string} expired")
        if t.uses_limit and t.uses_count >= t.uses_limit:
            raise fail("CAT_TICKET_USES_EXCEEDED", f"{t.string}: uses limit reached")
        if write:
            if t.type != "write":
                raise fail("CAT_NO_ACCESS_PERMISSION", f"ticket {t.string} is read-only")
            if t.write_file_limit and t.write_file_count >= t.write_file_limit:
                raise fail("CAT_TICKET_USES_EXCEEDED", f"{t.string}: write-file limit reached")
            if t.write_byte_limit and t.write_byte_count >= t.write_byte_limit:
                raise fail("CAT_TICKET_USES_EXCEEDED", f"{t.string}: write-byte limit reached")

    def use_ticket(self, actor: Actor, ent: Coll | DataObj, write: bool) -> Ticket | None:
        """Count one use of the session ticket when it (not an ACL) grants an open."""
        if self.level(actor, ent) >= (WRITE if write else READ):
            return None
        t = self.ticket_grant(actor, ent)
        if t is not None:
            t.uses_count += 1
            if write:
                t.write_file_count += 1
        return t

    def set_access(
        self, actor: Actor, level_name: str, user: str, zone: str, path: str, recursive: bool
    ) -> None:
        path = self.check_path(path)
        admin_mode = level_name.startswith("admin:")
        name = level_name.removeprefix("admin:")
        if admin_mode and not actor.admin:
            raise fail("CAT_INSUFFICIENT_PRIVILEGE_LEVEL", "admin mode needs rodsadmin")
        with self.lock:
            ent = self.entity(path)
            if ent is None:
                raise fail("CAT_UNKNOWN_FILE" if self.version < (4, 3) else "OBJ_PATH_DOES_NOT_EXIST", path)
            targets = [ent]
            if recursive and isinstance(ent, Coll):
                targets = []
                for c in self._subtree(ent):
                    targets.append(c)
                    targets.extend(c.objects.values())
            if name in ("inherit", "noinherit"):
                for t in targets:
                    if isinstance(t, Coll):
                        self._require_own(actor, t, admin_mode)
                        t.inherit = name == "inherit"
                return
            level = self.acl_names.get(name) or ALIASES.get(name) or LEVELS_43.get(name)
            if level is None:
                raise fail("CAT_INVALID_ARGUMENT", f"unknown access level {name!r}")
            who = self.user(user, zone)
            if who is None:
                raise fail("CAT_INVALID_USER", user)
            for t in targets:
                self._require_own(actor, t, admin_mode)
                if level == NULL:
                    t.acl.pop(who.id, None)
                else:
                    t.acl[who.id] = level

    def _require_own(self, actor: Actor, ent: Coll | DataObj, admin_mode: bool) -> None:
        if admin_mode:
            return
        if max([ent.acl.get(i, NULL) for i in self.groups_of(actor.user)] + [NULL]) < OWN:
            raise fail("CAT_NO_ACCESS_PERMISSION", f"{actor.user.name} does not own the target")
