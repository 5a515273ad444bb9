"""``parallel::`` - the range core and parallel block cache in front of any fsspec filesystem.

``fsspec.open("parallel::https://host/data.nc")`` or
``fsspec.filesystem("parallel", target_protocol="s3", target_options={...})``: listing, metadata and
writes are the target's; ``open`` returns a :class:`~fsspec_research.core.file.ResearchFile` whose
cache misses become merged parallel range requests through the target's ``cat_file``, and
``cat_ranges`` merges across ``max_gap`` and runs in parallel.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import fsspec
from fsspec.implementations.chained import ChainedFileSystem

from .core.errors import translate
from .core.filesystem import RangeFileSystemMixin

__all__ = ["ParallelFileSystem"]

_DELEGATED = (
    "ls", "info", "exists", "isdir", "isfile", "find", "glob", "walk", "du", "size", "ukey", "modified",
    "created", "mkdir", "makedirs", "rmdir", "rm_file", "rm", "cp_file", "mv", "put_file", "pipe_file",
    "checksum", "invalidate_cache",
)  # fmt: skip


class ParallelFileSystem(RangeFileSystemMixin, ChainedFileSystem):
    """Wrap ``target_protocol``/``target_options`` (or an instance ``fs``) with the parallel range core.

    Core options (``concurrency``, ``max_gap``, ``max_block``, ``part_size``, ``block_size``,
    ``cache_type``, ``retries``) tune reads. Object versions are not pinned: the target API has no
    generic conditional read.
    """

    protocol = "parallel"
    root_marker = ""

    def __init__(
        self,
        target_protocol: str | None = None,
        target_options: dict | None = None,
        fs: fsspec.AbstractFileSystem | None = None,
        fo: str | None = None,
        **options: Any,
    ) -> None:
        self._configure_core(options)
        super().__init__(**options)
        if fs is None:
            if target_protocol is None:
                raise ValueError("parallel:: needs a target: target_protocol=... or fs=...")
            fs = fsspec.filesystem(target_protocol, **(target_options or {}))
        self.fs = fs

    @property
    def async_impl(self) -> bool:  # type: ignore[override]
        return self.fs.async_impl

    @property
    def loop(self):
        return self.fs.loop

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        for prefix in ("parallel::", "parallel://"):
            if path.startswith(prefix):
                return path[len(prefix) :]
        return path

    def unstrip_protocol(self, name: str) -> str:
        return "parallel::" + self.fs.unstrip_protocol(name)

    def _read_range(self, path: str, start: int, end: int, version: str | None) -> Any:
        if self.fs.async_impl:
            return self._read_range_async(path, start, end)
        try:
            return self.retry.call(self.fs.cat_file, path, start=start, end=end)
        except Exception as exc:
            raise translate(exc, path) from exc

    async def _read_range_async(self, path: str, start: int, end: int) -> bytes:
        try:
            return await self.retry.acall(self.fs._cat_file, path, start=start, end=end)
        except Exception as exc:
            raise translate(exc, path) from exc

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        return self.read_parallel(path, start, end)

    def get_file(
        self, rpath: str, lpath: str, callback=fsspec.callbacks.DEFAULT_CALLBACK, **kwargs: Any
    ) -> None:
        if self.isdir(rpath):
            os.makedirs(lpath, exist_ok=True)
        else:
            self.download_parallel(rpath, lpath, callback)

    # writes: parts spool to a local temporary file that is put to the target when complete
    def _upload_whole(self, path: str, data: bytes, exclusive: bool) -> None:
        try:
            self.fs.pipe_file(path, bytes(data), mode="create" if exclusive else "overwrite")
        except Exception as exc:
            raise translate(exc, path) from exc

    def _upload_start(self, path: str, exclusive: bool) -> dict:
        if exclusive and self.fs.exists(path):
            raise FileExistsError(path)
        fd, tmp = tempfile.mkstemp(prefix="fsspec-research-")
        return {"path": path, "fd": fd, "tmp": tmp}

    def _upload_part(self, state: dict, number: int, offset: int, data: bytes) -> int:
        os.pwrite(state["fd"], data, offset)
        return len(data)

    def _upload_commit(self, state: dict, parts: list) -> None:
        try:
            self.fs.put_file(state["tmp"], state["path"])
        except Exception as exc:
            raise translate(exc, state["path"]) from exc
        finally:
            self._upload_abort(state)

    def _upload_abort(self, state: dict) -> None:
        if state.get("fd") is not None:
            os.close(state.pop("fd"))
        if os.path.exists(state["tmp"]):
            os.unlink(state["tmp"])


def _delegate(name: str):
    def method(self: ParallelFileSystem, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.fs, name)(*args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"The target filesystem's ``{name}``."
    return method


for _name in _DELEGATED:
    setattr(ParallelFileSystem, _name, _delegate(_name))
