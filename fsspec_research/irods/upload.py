"""Writes: the core's upload hooks for iRODS.

Bytes go to a hidden data object beside the target (``.<name>.fsr-<hex>.part``, left out of listings).
Parts of a large write arrive on several connections at once, as python-irodsclient's parallel put does:
the first descriptor creates the replica and hands out its replica token, the others join with it. When
everything is written, the server's SHA-256 of the hidden object is checked against ours, and only then
is it published: renamed to the target when that is new (so ``mode="xb"`` is exclusive on the server),
or copied over it in place when it exists (keeping its identity, ACLs and AVU metadata).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import re
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from .client import Writer

__all__ = ["IRODSUploads", "is_upload_temp"]

_TEMP = re.compile(r"/\.[^/]+\.fsr-[0-9a-f]{12}\.part$")
PARALLEL_SINCE = (4, 2, 9)  # servers before this have no replica tokens: one descriptor does all the writing


def is_upload_temp(path: str) -> bool:
    return _TEMP.search(path) is not None


def _temp_path(path: str) -> str:
    parent, name = path.rsplit("/", 1)
    return f"{parent}/.{name}.fsr-{secrets.token_hex(6)}.part"


def sha2(digest: bytes) -> str:
    """iRODS's form of a SHA-256 checksum."""
    return "sha2:" + base64.b64encode(digest).decode()


@dataclass
class _Upload:
    path: str
    temp: str
    exclusive: bool
    first: Writer
    join: tuple[str, str] | None  # replica token and hierarchy; None: everything through ``first``
    lock: threading.Lock = field(default_factory=threading.Lock)
    writers: dict[int, Writer] = field(default_factory=dict)
    hasher: Any = field(default_factory=hashlib.sha256)
    hashed: threading.Condition = field(default_factory=threading.Condition)
    next_part: int = 1
    size: int = 0


def _hash_in_order(upload: _Upload, number: int, data: memoryview | None) -> None:
    """Add part ``number`` to the upload's checksum once every earlier part is in (earlier parts were
    submitted first, so they are running or done); a part that failed (``None``) only passes its turn."""
    with upload.hashed:
        upload.hashed.wait_for(lambda: upload.next_part == number)
        try:
            if data is not None:
                upload.hasher.update(data)
                upload.size += len(data)
        finally:
            upload.next_part += 1
            upload.hashed.notify_all()


class IRODSUploads:
    """Upload hooks (mixed into :class:`~fsspec_research.irods.IRODSFileSystem`)."""

    def _upload_whole(self, path: str, data: bytes, exclusive: bool) -> None:
        path = self._strip_protocol(path)
        self._check_target(path, exclusive)
        temp = _temp_path(path)
        try:
            writer = self._create(path, temp, len(data))
            try:
                if data:
                    self._irods(path, writer.write, 0, data)
            finally:
                self._irods(path, writer.close)
            self._publish(path, temp, exclusive, sha2(hashlib.sha256(data).digest()), len(data))
        except BaseException:
            self._remove_quietly(temp)
            raise

    def _upload_start(self, path: str, exclusive: bool) -> _Upload:
        path = self._strip_protocol(path)
        self._check_target(path, exclusive)
        temp = _temp_path(path)
        first = self._create(path, temp)
        try:
            parallel = self.client.server_version >= PARALLEL_SINCE
            join = self._irods(path, first.replica_token) if parallel else None
        except BaseException:
            first.close_quietly()
            self._remove_quietly(temp)
            raise
        return _Upload(path, temp, exclusive, first, join)

    def _upload_part(self, upload: _Upload, number: int, offset: int, data: memoryview) -> int:
        written = False
        try:
            if upload.join is None:
                with upload.lock:
                    self._irods(upload.path, upload.first.write, offset, data)
            else:
                self._irods(upload.path, self._write_joined, upload, offset, data)
            written = True
        finally:  # hashed after the write, so that the in-order checksum never holds up a transfer
            _hash_in_order(upload, number, data if written else None)
        return len(data)

    def _write_joined(self, upload: _Upload, offset: int, data: memoryview) -> None:
        """Write through this thread's joined descriptor; a failed one is dropped, so that a retry of the
        part (rewriting the same bytes at the same offset) opens a fresh one."""
        writer = self._writer_of_this_thread(upload)
        try:
            writer.write(offset, data)
        except BaseException:
            with upload.lock:
                upload.writers.pop(threading.get_ident(), None)
            writer.close_quietly()
            raise

    def _writer_of_this_thread(self, upload: _Upload) -> Writer:
        ident = threading.get_ident()
        writer = upload.writers.get(ident)
        if writer is None:
            writer = Writer(self.client.session, upload.temp, join=upload.join)
            with upload.lock:
                upload.writers[ident] = writer
        return writer

    def _upload_commit(self, upload: _Upload, results: list[int]) -> None:
        try:
            for writer in list(upload.writers.values()):
                self._irods(upload.path, writer.close)
            upload.writers.clear()
            self._irods(upload.path, upload.first.close)
            self._publish(
                upload.path, upload.temp, upload.exclusive, sha2(upload.hasher.digest()), upload.size
            )
        except BaseException:
            self._upload_abort(upload)
            raise

    def _upload_abort(self, upload: _Upload) -> None:
        for writer in list(upload.writers.values()):
            writer.close_quietly()
        upload.writers.clear()
        upload.first.close_quietly()
        self._remove_quietly(upload.temp)

    # helpers
    def _create(self, path: str, temp: str, size: int = -1) -> Writer:
        """The first descriptor of ``temp``, making the target's parent collections when missing."""
        try:
            return self._irods(path, Writer, self.client.session, temp, size=size)
        except FileNotFoundError:
            self._irods(path, self.client.session.collections.create, self._parent(path), recurse=True)
            self.invalidate_cache(self._parent(path))
            return self._irods(path, Writer, self.client.session, temp, size=size)

    def _check_target(self, path: str, exclusive: bool) -> None:
        try:
            info = self._stat(path)
        except FileNotFoundError:
            return
        if info["type"] == "directory":
            raise IsADirectoryError(errno.EISDIR, "is a collection", path)
        if exclusive:
            raise FileExistsError(errno.EEXIST, "exists already", path)

    def _publish(self, path: str, temp: str, exclusive: bool, checksum: str, size: int) -> None:
        """Check the server's copy of ``temp`` byte for byte (SHA-256), then make it ``path``."""
        from irods.keywords import FORCE_FLAG_KW

        session = self.client.session
        stored = self._irods(path, self.client.server_checksum, temp, force=True)
        if stored != checksum:
            raise OSError(
                errno.EIO, f"checksum mismatch after upload: server {stored}, sent {checksum}", path
            )
        self.invalidate_cache(path)
        target = None if exclusive else self._existing(path)
        if target is None:
            self._irods(path, session.data_objects.move, temp, path)
        else:
            self._irods(path, session.data_objects.copy, temp, path, **{FORCE_FLAG_KW: ""})
            self._irods(path, self.client.server_checksum, path, force=True)
            self._remove_quietly(temp)
        self.invalidate_cache(path)

    def _existing(self, path: str) -> dict | None:
        self.invalidate_cache(path)
        try:
            return self._stat(path)
        except FileNotFoundError:
            return None

    def _remove_quietly(self, temp: str) -> None:
        with contextlib.suppress(Exception):
            self.client.session.data_objects.unlink(temp, force=True)
