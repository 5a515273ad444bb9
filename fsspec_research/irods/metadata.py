"""The iRODS-specific API of the filesystem: AVU metadata, server checksums, tickets and access control.

An AVU is ``(name, value, units)`` with ``units`` None when unset; a name may carry several values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

__all__ = ["IRODSMetadata"]

AVU = tuple[str, str, "str | None"]
_LEVELS = ("null", "read", "write", "own")


class IRODSMetadata:
    """Mixed into :class:`~fsspec_research.irods.IRODSFileSystem`."""

    def _model(self, path: str, kind: str | None = None) -> Any:
        from irods.models import Collection, DataObject

        kind = kind or self._stat(path)["type"]
        return Collection if kind == "directory" else DataObject

    # AVUs
    def get_metadata(self, path: str, _kind: str | None = None) -> list[AVU]:
        """The AVUs of a data object or collection, sorted."""
        path = self._strip_protocol(path)
        model = self._model(path, _kind)
        with self.client.catalog() as session:
            avus = self._irods(path, session.metadata.get, model, path)
        return sorted((m.name, m.value, m.units or None) for m in avus)

    def add_metadata(self, path: str, name: str, value: str, units: str | None = None) -> None:
        """Attach one AVU (a name may have several values)."""
        self.apply_metadata(path, add=[(name, value, units)])

    def set_metadata(self, path: str, name: str, value: str, units: str | None = None) -> None:
        """Make ``(name, value, units)`` the only AVU called ``name``."""
        self.apply_metadata(
            path, remove=[a for a in self.get_metadata(path) if a[0] == name], add=[(name, value, units)]
        )

    def remove_metadata(
        self, path: str, name: str, value: str | None = None, units: str | None = None
    ) -> None:
        """Remove the AVUs called ``name`` (only those with ``value``/``units`` when given)."""
        gone = [
            a
            for a in self.get_metadata(path)
            if a[0] == name and value in (None, a[1]) and (units is None or a[2] == units)
        ]
        if not gone:
            raise KeyError(
                f"{self._strip_protocol(path)}: no AVU {name!r}" + (f" = {value!r}" if value else "")
            )
        self.apply_metadata(path, remove=gone)

    def apply_metadata(self, path: str, add: Iterable[AVU] = (), remove: Iterable[AVU] = ()) -> None:
        """Remove then add AVUs in one atomic server call: all of them happen or none."""
        from irods.meta import AVUOperation, iRODSMeta

        path = self._strip_protocol(path)
        ops = [AVUOperation(operation="remove", avu=iRODSMeta(*_avu(a))) for a in remove]
        ops += [AVUOperation(operation="add", avu=iRODSMeta(*_avu(a))) for a in add]
        if ops:
            session = self.client.session
            self._irods(path, session.metadata.apply_atomic_operations, self._model(path), path, *ops)

    # checksums
    def checksum(self, path: str, verify: bool = False) -> str:
        """The server's checksum of a data object (``sha2:<base64>``), computed and registered if missing;
        ``verify=True`` makes the server recompute it from the bytes it stores."""
        path = self._strip_protocol(path)
        value = self._irods(path, self.client.server_checksum, path, force=verify)
        self.invalidate_cache(path)
        return value

    # tickets
    def issue_ticket(
        self, path: str, permission: str = "read", uses: int | None = None, expires: datetime | None = None
    ) -> str:
        """A ticket string giving ``permission`` ("read" or "write") on ``path`` to whoever supplies it
        (storage option ``ticket``), optionally for ``uses`` opens or until ``expires``."""
        from irods.ticket import Ticket

        if permission not in ("read", "write"):
            raise ValueError(f"ticket permission must be 'read' or 'write', got {permission!r}")
        path = self._strip_protocol(path)
        ticket = Ticket(self.client.session)
        self._irods(path, ticket.issue, permission, path)
        if uses is not None:
            self._irods(path, ticket.modify, "uses", str(int(uses)))
        if expires is not None:
            self._irods(path, ticket.modify, "expire", str(int(expires.timestamp())))
        return ticket.string

    def delete_ticket(self, ticket: str) -> None:
        from irods.ticket import Ticket

        self._irods("ticket", Ticket(self.client.session, ticket).delete)

    # access control
    def grant(self, path: str, user: str, level: str = "read", recursive: bool = False) -> None:
        """Give ``user`` (or a group) "read", "write" or "own" access (``recursive``: a whole collection)."""
        if level not in _LEVELS[1:]:
            raise ValueError(f"access level must be one of {_LEVELS[1:]}, got {level!r}")
        self._set_access(path, user, level, recursive)

    def revoke(self, path: str, user: str, recursive: bool = False) -> None:
        """Take ``user``'s access away."""
        self._set_access(path, user, "null", recursive)

    def acl(self, path: str) -> dict[str, str]:
        """``{user: level}`` of a data object or collection."""
        path = self._strip_protocol(path)
        session = self.client.session
        manager = session.collections if self._stat(path)["type"] == "directory" else session.data_objects
        target = self._irods(path, manager.get, path)
        entries = self._irods(path, session.acls.get, target)
        return {e.user_name: _short_level(e.access_name) for e in entries}

    def _set_access(self, path: str, user: str, level: str, recursive: bool) -> None:
        path = self._strip_protocol(path)
        session = self.client.session
        access_class = session.available_permissions  # ACL names differ before iRODS 4.3
        self._irods(path, session.acls.set, access_class(level, path, user), recursive=recursive)


def _avu(avu: AVU | tuple[str, str]) -> tuple[str, str, str | None]:
    name, value, *rest = avu
    units = rest[0] if rest else None
    return str(name), str(value), (str(units) if units else None)


def _short_level(name: str) -> str:
    name = name.replace(" ", "_")
    if name in ("own",):
        return "own"
    if name.startswith(("modify", "write")):
        return "write"
    if name.startswith("read"):
        return "read"
    return name
