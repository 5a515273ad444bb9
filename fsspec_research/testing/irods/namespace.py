"""Namespace operations: collections, data objects, trash, rename/copy/register/truncate/touch, vault."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
import threading

from .errors import fail
from .model import NULL, OWN, READ, WRITE, Actor, Coll, DataObj, Resource, now


class NamespaceMixin:
    """The namespace half of :class:`~.catalog.Catalog`."""

    zone: str
    vault: str
    lock: threading.RLock
    colls: dict[str, Coll]
    coll_ids: dict[int, Coll]
    objs: dict[int, DataObj]
    meta: dict[int, list[int]]
    resources: dict[str, Resource]

    # ---- collections ----------------------------------------------------------------------------------

    def _add_coll(self, path: str, owner: str, inherit_from: Coll | None = None) -> Coll:
        c = Coll(self.new_id(), path, owner, self.zone)
        u = self.user(owner)
        if u is not None:
            c.acl[u.id] = OWN
        if inherit_from is not None and inherit_from.inherit:
            c.acl.update(inherit_from.acl)
            c.inherit = True
        self.colls[path] = c
        self.coll_ids[c.id] = c
        if path != "/":
            parent = self.colls[self.split(path)[0]]
            parent.subcolls[c.basename] = c
        return c

    def mkdir(self, actor: Actor, path: str, recursive: bool) -> Coll:
        path = self.check_path(path)
        with self.lock:
            if path in self.colls:
                if recursive:
                    return self.colls[path]
                raise fail("CAT_NAME_EXISTS_AS_COLLECTION", path)
            if self.obj(path) is not None:
                raise fail("CAT_NAME_EXISTS_AS_DATAOBJ", path)
            head = self.split(path)[0]
            if head not in self.colls:
                if not recursive:
                    raise fail("CAT_UNKNOWN_COLLECTION", head)
                self.mkdir(actor, head, True)
            parent = self.colls[head]
            self.require(actor, parent, WRITE)
            parent.mtime = now()
            return self._add_coll(path, actor.user.name, parent)

    def _subtree(self, c: Coll) -> list[Coll]:
        out, stack = [], [c]
        while stack:
            x = stack.pop()
            out.append(x)
            stack.extend(x.subcolls.values())
        return out

    def _drop_coll(self, c: Coll) -> None:
        for x in self._subtree(c):
            for o in list(x.objects.values()):
                self._drop_obj(o)
            self.colls.pop(x.name, None)
            self.coll_ids.pop(x.id, None)
            self.meta.pop(x.id, None)
        if c.name != "/":
            self.colls[c.parent].subcolls.pop(c.basename, None) if c.parent in self.colls else None

    def _drop_obj(self, o: DataObj, keep_file: bool = False) -> None:
        o.coll.objects.pop(o.name, None)
        self.objs.pop(o.id, None)
        self.meta.pop(o.id, None)
        if o.writers == 0 and not keep_file:
            with contextlib.suppress(OSError):
                os.unlink(o.phys)

    def trash_path(self, path: str) -> str:
        """Where an unforced removal goes: ``/zone/trash/...`` mirroring ``/zone/...`` (suffixed if taken)."""
        rest = path[len(self.zone) + 2 :] if path.startswith(f"/{self.zone}/") else path.lstrip("/")
        base = target = f"/{self.zone}/trash/{rest}"
        while self.entity(target) is not None:
            target = f"{base}.{secrets.randbelow(10**10)}"
        return target

    def in_trash(self, path: str) -> bool:
        return path == f"/{self.zone}/trash" or path.startswith(f"/{self.zone}/trash/")

    def rmcoll(self, actor: Actor, path: str, recursive: bool, force: bool) -> None:
        path = self.check_path(path)
        with self.lock:
            c = self.colls.get(path)
            if c is None:
                raise fail("CAT_UNKNOWN_COLLECTION", path)
            if path.count("/") <= 2 or path == f"/{self.zone}/trash/home":
                raise fail("CAT_INSUFFICIENT_PRIVILEGE_LEVEL", f"cannot remove {path}")
            self.require(actor, c, WRITE)
            if (c.subcolls or c.objects) and not recursive:
                raise fail("CAT_COLLECTION_NOT_EMPTY", path)
            if not actor.admin:
                for x in self._subtree(c):
                    for o in x.objects.values():
                        self.require(actor, o, WRITE)
            if force or self.in_trash(path):
                self._drop_coll(c)
                self.colls[c.parent].mtime = now()
                return
            self._ensure_trash_parent(actor, self.trash_path(path))
            self._move_coll(c, self.trash_path(path))

    def _ensure_trash_parent(self, actor: Actor, target: str) -> None:
        head = self.split(target)[0]
        if head not in self.colls:
            missing = []
            while head not in self.colls:
                missing.append(head)
                head = self.split(head)[0]
            for p in reversed(missing):
                self._add_coll(p, actor.user.name)

    def _move_coll(self, c: Coll, dest: str) -> None:
        old = c.name
        self.colls[c.parent].subcolls.pop(c.basename, None)
        for x in self._subtree(c):
            del self.colls[x.name]
            x.name = dest + x.name[len(old) :]
            self.colls[x.name] = x
        parent = self.colls[self.split(dest)[0]]
        parent.subcolls[c.basename] = c
        c.mtime = parent.mtime = now()

    # ---- data objects ---------------------------------------------------------------------------------

    def create_obj(self, actor: Actor, path: str) -> DataObj:
        """A new empty data object (caller holds the lock and checked the name is free)."""
        head, name = self.split(path)
        parent = self.colls.get(head)
        if parent is None:
            raise fail("CAT_UNKNOWN_COLLECTION", head)
        self.require(actor, parent, WRITE)
        oid = self.new_id()
        resc = self.resources["demoResc"]
        o = DataObj(
            oid, parent, name, actor.user.name, self.zone, os.path.join(self.vault, f"d{oid}"), resc.id
        )
        o.acl[actor.user.id] = OWN
        if parent.inherit:
            for k, v in parent.acl.items():
                o.acl[k] = max(v, o.acl.get(k, NULL))
        parent.objects[name] = o
        parent.mtime = o.ctime
        self.objs[oid] = o
        return o

    def unlink(self, actor: Actor, path: str, force: bool, unregister: bool = False) -> None:
        path = self.check_path(path)
        with self.lock:
            o = self.obj(path)
            if o is None:
                if path in self.colls:
                    raise fail("USER_INPUT_PATH_ERR", f"{path} is a collection")
                raise fail("CAT_UNKNOWN_FILE", path)
            self.require(actor, o, WRITE)
            if o.writers:
                raise fail("LOCKED_DATA_OBJECT_ACCESS", path)
            o.coll.mtime = now()
            if force or unregister or self.in_trash(path):
                self._drop_obj(o, keep_file=unregister)
                return
            target = self.trash_path(path)
            self._ensure_trash_parent(actor, target)
            self._move_obj(o, target)

    def _move_obj(self, o: DataObj, dest: str) -> None:
        head, name = self.split(dest)
        o.coll.objects.pop(o.name, None)
        o.coll, o.name = self.colls[head], name
        o.coll.objects[name] = o
        o.coll.mtime = now()

    def rename(self, actor: Actor, src: str, dst: str, coll: bool) -> None:
        src, dst = self.check_path(src), self.check_path(dst)
        with self.lock:
            head = self.split(dst)[0]
            if head not in self.colls:
                raise fail("CAT_UNKNOWN_COLLECTION", head)
            if self.entity(dst) is not None:
                kind = "CAT_NAME_EXISTS_AS_COLLECTION" if dst in self.colls else "CAT_NAME_EXISTS_AS_DATAOBJ"
                raise fail(kind, dst)
            self.require(actor, self.colls[head], WRITE)
            if coll:
                c = self.colls.get(src)
                if c is None:
                    raise fail("CAT_UNKNOWN_COLLECTION", src)
                if dst.startswith(src + "/"):
                    raise fail("CAT_RECURSIVE_MOVE", f"{src} -> {dst}")
                self.require(actor, c, WRITE)
                self._move_coll(c, dst)
            else:
                o = self.obj(src)
                if o is None:
                    raise fail("CAT_UNKNOWN_FILE" if src not in self.colls else "SYS_INVALID_OPR_TYPE", src)
                self.require(actor, o, WRITE)
                self._move_obj(o, dst)

    def copy(self, actor: Actor, src: str, dst: str, options: dict[str, str]) -> None:
        for p in (src, dst):
            if not p.startswith("/"):
                raise fail("USER_INPUT_PATH_ERR", f"relative path [{p}]")
        src, dst = self.check_path(src), self.check_path(dst)
        with self.lock:
            s = self.obj(src)
            if s is None:
                raise fail("USER_INPUT_PATH_ERR", f"no data object [{src}]")
            self.require(actor, s, READ)
            if dst in self.colls:
                raise fail("CAT_NAME_EXISTS_AS_COLLECTION", dst)
            d = self.obj(dst)
            if d is not None:
                if "forceFlag" not in options:
                    raise fail("OVERWRITE_WITHOUT_FORCE_FLAG", dst)
                self.require(actor, d, WRITE)
            else:
                d = self.create_obj(actor, dst)
            with open(self.vault_fd(s, False), "rb") as fi, open(self.vault_fd(d, True), "wb") as fo:
                fo.truncate()
                while chunk := fi.read(1 << 22):
                    fo.write(chunk)
            d.size, d.mtime, d.repl_status = s.size, now(), 1
            d.checksum = s.checksum
            d.type = options.get("dataType", s.type)

    def register(self, actor: Actor, path: str, phys: str, options: dict[str, str]) -> DataObj:
        """Catalog an existing server-side file as a data object (its file stays where it is)."""
        path = self.check_path(path)
        if not actor.admin:
            raise fail("CAT_NO_ACCESS_PERMISSION", "registering files needs rodsadmin")
        if not os.path.isfile(phys):
            raise fail("USER_FILE_DOES_NOT_EXIST", phys)
        with self.lock:
            if path in self.colls:
                raise fail("CAT_NAME_EXISTS_AS_COLLECTION", path)
            if self.obj(path) is not None:
                raise fail("CAT_NAME_EXISTS_AS_DATAOBJ", path)
            head, name = self.split(path)
            parent = self.need_coll(head)
            self.require(actor, parent, WRITE)
            oid = self.new_id()
            o = DataObj(oid, parent, name, actor.user.name, self.zone, phys, self.resources["demoResc"].id)
            o.size = os.path.getsize(phys)
            o.acl[actor.user.id] = OWN
            o.type = options.get("dataType", o.type)
            if "regChksum" in options or "verifyChksum" in options:
                o.checksum = self.checksum_of(o)
            parent.objects[name] = o
            parent.mtime = o.ctime
            self.objs[oid] = o
            return o

    def truncate(self, actor: Actor, path: str, size: int) -> None:
        path = self.check_path(path)
        with self.lock:
            o = self.need_obj(path)
            self.require(actor, o, WRITE)
            fd = self.vault_fd(o, True)
            try:
                os.ftruncate(fd, size)
            finally:
                os.close(fd)
            o.size, o.mtime, o.checksum = size, now(), ""

    def touch(self, actor: Actor, path: str, options: dict) -> None:
        path = self.check_path(path)
        with self.lock:
            ent = self.entity(path)
            if ent is None:
                if options.get("no_create"):
                    raise fail("OBJ_PATH_DOES_NOT_EXIST", path)
                if "replica_number" in options:
                    raise fail("SYS_INVALID_INPUT_PARAM", "replica_number cannot create a data object")
                ent = self.create_obj(actor, path)
            self.require(actor, ent, WRITE)
            if "seconds_since_epoch" in options:
                mtime = int(options["seconds_since_epoch"])
            elif "reference" in options:
                ref = self.entity(self.check_path(str(options["reference"])))
                if ref is None:
                    raise fail("OBJ_PATH_DOES_NOT_EXIST", str(options["reference"]))
                mtime = ref.mtime
            else:
                mtime = now()
            ent.mtime = mtime

    @staticmethod
    def vault_fd(o: DataObj, write: bool) -> int:
        """An OS descriptor on the object's file; the file is created on first use."""
        return os.open(o.phys, (os.O_RDWR if write else os.O_RDONLY) | os.O_CREAT, 0o600)

    def checksum_of(self, o: DataObj) -> str:
        h = hashlib.sha256()
        with open(self.vault_fd(o, False), "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
        return "sha2:" + base64.b64encode(h.digest()).decode()
