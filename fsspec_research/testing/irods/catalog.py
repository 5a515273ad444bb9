"""The catalog: users, collections, data objects (one replica each, in a vault directory), AVUs, tickets.

One ``RLock`` guards every record; file contents live in ``vault/d<data id>`` and are read and written with
``os.pread``/``os.pwrite`` outside the lock. Methods take an :class:`Actor` and raise
:class:`~.errors.IrodsError` for anything a real server refuses. Namespace operations live in
:mod:`.namespace`, access checks in :mod:`.access`.
"""

from __future__ import annotations

import itertools
import threading

from .access import AccessMixin, Version
from .errors import fail
from .model import OWN, Actor, Avu, Coll, DataObj, Resource, Ticket, User
from .namespace import NamespaceMixin

__all__ = ["Actor", "Catalog"]


class Catalog(NamespaceMixin, AccessMixin):
    """Everything the server knows, for one zone."""

    def __init__(self, zone: str, vault: str, version: Version, host: str = "localhost") -> None:
        self.zone, self.vault, self.version = zone, vault, version
        self.lock = threading.RLock()
        self._ids = itertools.count(10001)
        self.users: dict[int, User] = {}
        self.colls: dict[str, Coll] = {}
        self.coll_ids: dict[int, Coll] = {}
        self.objs: dict[int, DataObj] = {}
        self.avus: dict[int, Avu] = {}
        self.avu_index: dict[tuple[str, str, str], Avu] = {}
        self.meta: dict[int, list[int]] = {}  # entity id -> AVU ids, in order of attachment
        self.tickets: dict[str, Ticket] = {}
        self.resources = {"demoResc": Resource(self.new_id(), "demoResc", zone, host, vault)}
        root = self._add_coll("/", "rods")
        root.acl.clear()
        for path in (f"/{zone}", f"/{zone}/home", f"/{zone}/trash", f"/{zone}/trash/home"):
            self._add_coll(path, "rods")
        rods = self.add_user("rods", "rodsadmin")
        for c in list(self.colls.values()):
            c.acl.setdefault(rods.id, OWN)
        self.add_user("public", "rodsgroup")

    # ---- ids, lookup ------------------------------------------------------------------------------------

    def new_id(self) -> int:
        return next(self._ids)

    def need_user(self, name: str) -> User:
        u = self.user(name)
        if u is None:
            raise KeyError(name)
        return u

    def user(self, name: str, zone: str = "") -> User | None:
        if "#" in name:
            name, zone = name.split("#", 1)
        with self.lock:
            for u in self.users.values():
                if u.name == name and (not zone or u.zone == zone):
                    return u
        return None

    def check_path(self, path: str) -> str:
        """Reject relative paths with the code of the announced version; strip a trailing slash."""
        if not path.startswith("/"):
            if self.version <= (4, 2, 8):
                raise fail("SYS_INVALID_INPUT_PARAM", f"relative path [{path}]")
            if self.version < (4, 3):
                raise fail("CAT_UNKNOWN_COLLECTION", f"relative path [{path}]")
            raise fail("SYS_INVALID_FILE_PATH", f"relative path [{path}]")
        while len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        while "//" in path:
            path = path.replace("//", "/")
        return path

    @staticmethod
    def split(path: str) -> tuple[str, str]:
        head, _, name = path.rpartition("/")
        return head or "/", name

    def coll(self, path: str) -> Coll | None:
        return self.colls.get(path)

    def obj(self, path: str) -> DataObj | None:
        head, name = self.split(path)
        c = self.colls.get(head)
        return c.objects.get(name) if c else None

    def need_coll(self, path: str) -> Coll:
        c = self.colls.get(path)
        if c is None:
            raise fail("CAT_UNKNOWN_COLLECTION", path)
        return c

    def need_obj(self, path: str) -> DataObj:
        o = self.obj(path)
        if o is None:
            raise fail("OBJ_PATH_DOES_NOT_EXIST", path)
        return o

    def entity(self, path: str) -> Coll | DataObj | None:
        return self.colls.get(path) or self.obj(path)

    # ---- metadata ---------------------------------------------------------------------------------------

    def avu(self, name: str, value: str, units: str) -> Avu:
        key = (name, value, units)
        a = self.avu_index.get(key)
        if a is None:
            a = Avu(self.new_id(), name, value, units)
            self.avus[a.id] = a
            self.avu_index[key] = a
        return a

    def drop_unused_avus(self) -> None:
        used = {i for ids in self.meta.values() for i in ids}
        for i in [i for i in self.avus if i not in used]:
            a = self.avus.pop(i)
            self.avu_index.pop((a.name, a.value, a.units), None)

    # ---- users ------------------------------------------------------------------------------------------

    def add_user(self, name: str, type_: str, zone: str = "", password: str = "") -> User:
        with self.lock:
            if self.user(name, zone or self.zone) is not None:
                raise fail("CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME", name)
            u = User(self.new_id(), name, type_, zone or self.zone, password)
            self.users[u.id] = u
            if not u.is_group and u.zone == self.zone:
                for base in (f"/{self.zone}/home", f"/{self.zone}/trash/home"):
                    path = f"{base}/{name}"
                    if path not in self.colls:
                        self._add_coll(path, name)
            elif u.is_group and name == "public":
                self._add_coll(f"/{self.zone}/home/public", "rods")
            return u

    def remove_user(self, u: User) -> None:
        with self.lock:
            for base in (f"/{self.zone}/home", f"/{self.zone}/trash/home"):
                c = self.colls.get(f"{base}/{u.name}")
                if c is not None and not u.is_group:
                    self._drop_coll(c)
            for ent in list(self.colls.values()) + list(self.objs.values()):
                ent.acl.pop(u.id, None)
            for g in self.users.values():
                g.members.discard(u.id)
            for s in [s for s, t in self.tickets.items() if t.owner == u.id]:
                del self.tickets[s]
            self.meta.pop(u.id, None)
            del self.users[u.id]
