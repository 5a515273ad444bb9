"""A small in-memory object store implementing the core's backend hooks, to test the core itself.

It is a backend written against the hooks (like Swift or iRODS), not a stand-in for a client
library: objects carry versions, reads are checked against the pinned version, writes stage parts
invisibly until commit, and faults can be injected.
"""

from __future__ import annotations

import asyncio
import itertools
import threading

from fsspec.asyn import AsyncFileSystem
from fsspec.spec import AbstractFileSystem

from fsspec_research.core.errors import ObjectChangedError
from fsspec_research.core.filesystem import RangeFileSystemMixin


class VersionedStore(RangeFileSystemMixin, AbstractFileSystem):
    protocol = "vstore"
    root_marker = ""
    cachable = False
    pins_versions = True

    def __init__(self, **options):
        self._configure_core(options)
        super().__init__(**options)
        self.objects: dict[str, tuple[bytes, str]] = {}
        self.staged: dict[int, dict[int, bytes]] = {}
        self.reads: list[tuple[str, int, int]] = []
        self.aborted: list[int] = []
        self.fail_part: int | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def put(self, path: str, data: bytes) -> None:
        self.objects[path] = (bytes(data), f"v{next(self._ids)}")

    def info(self, path, **kwargs):
        path = self._strip_protocol(path)
        if path not in self.objects:
            raise FileNotFoundError(path)
        data, version = self.objects[path]
        return {"name": path, "size": len(data), "type": "file", "version": version}

    def ls(self, path, detail=True, **kwargs):
        names = [p for p in self.objects if p.startswith(path.rstrip("/") + "/")]
        return [self.info(n) for n in names] if detail else names

    def _version_of(self, info):
        return info["version"]

    def _pin_version(self, path):
        return self.info(path)["version"]

    def _read_range(self, path, start, end, version):
        with self._lock:
            self.reads.append((path, start, end))
        if path not in self.objects:
            raise FileNotFoundError(path)
        data, current = self.objects[path]
        if version is not None and version != current:
            raise ObjectChangedError(path)
        return data[start:end]

    def _upload_whole(self, path, data, exclusive):
        if exclusive and path in self.objects:
            raise FileExistsError(path)
        self.put(path, data)

    def _upload_start(self, path, exclusive):
        if exclusive and path in self.objects:
            raise FileExistsError(path)
        upload = next(self._ids)
        self.staged[upload] = {}
        return (upload, path, exclusive)

    def _upload_part(self, state, number, offset, data):
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if number == self.fail_part:
                raise ConnectionResetError(f"part {number} failed")
            self.staged[state[0]][offset] = bytes(data)
            return len(data)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _upload_commit(self, state, parts):
        upload, path, exclusive = state
        staged = self.staged.pop(upload)
        assert sum(parts) == sum(len(v) for v in staged.values())
        self._upload_whole(path, b"".join(staged[k] for k in sorted(staged)), exclusive)

    def _upload_abort(self, state):
        self.staged.pop(state[0], None)
        self.aborted.append(state[0])


class IntoStore(VersionedStore):
    """A :class:`VersionedStore` that also reads straight into the caller's buffer (``reads_into``),
    recording the buffer object each read went into."""

    reads_into = True

    def __init__(self, **options):
        super().__init__(**options)
        self.into: list[tuple[int, int, int]] = []  # (start, length, id of the buffer's object)

    def _read_range_into(self, path, start, view, version):
        data = self._read_range(path, start, start + len(view), version)
        with self._lock:
            self.into.append((start, len(view), id(view.obj)))
        view[: len(data)] = data
        return len(data)


class AsyncVersionedStore(VersionedStore, AsyncFileSystem):
    """The same store as an asyncio backend: coroutine hooks, served by the core's async runner."""

    protocol = "avstore"

    def __init__(self, **options):
        super().__init__(**options)

    async def _info(self, path, **kwargs):
        return VersionedStore.info(self, path)

    async def _read_range(self, path, start, end, version):
        await asyncio.sleep(0)
        return VersionedStore._read_range(self, path, start, end, version)

    async def _pin_version(self, path):
        return (await self._info(path))["version"]
