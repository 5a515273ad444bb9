"""The random-access file object every backend returns.

Reads go through the block cache (``cache_type="parallel"`` by default, and also when a caller
asks for fsspec's ``"blockcache"``, as xarray does for remote h5netcdf), whose misses become one
batch of parallel range requests through the filesystem's range core, pinned to the object version
seen at open. Writes are cut into parts handed to the backend's upload hooks, several in flight at
once, so memory stays bounded; a failed, discarded or abandoned write publishes nothing.
"""

from __future__ import annotations

import errno
import io
import warnings
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from fsspec.caching import MMapCache, caches
from fsspec.spec import AbstractBufferedFile

from .cache import ParallelBlockCache
from .ranges import split_evenly

if TYPE_CHECKING:
    from .filesystem import RangeFileSystemMixin

__all__ = ["ResearchFile"]

#: cache types served by the parallel block cache in our files (same semantics, batched misses)
PARALLEL_ALIASES = {"blockcache": "parallel", "background": "parallel"}


class ResearchFile(AbstractBufferedFile):
    """An fsspec buffered file reading through the parallel range core and writing through upload hooks."""

    fs: RangeFileSystemMixin

    def __init__(
        self,
        fs: RangeFileSystemMixin,
        path: str,
        mode: str = "rb",
        block_size: int | str | None = "default",
        autocommit: bool = True,
        cache_type: str | None = None,
        cache_options: dict | None = None,
        size: int | None = None,
        version: str | None = None,
        **kwargs: Any,
    ) -> None:
        if mode == "ab":
            raise NotImplementedError(f"{path}: appending is not supported; rewrite the object instead")
        if mode == "xb" and fs.exists(path):  # fail early; the upload itself is exclusive too
            raise FileExistsError(errno.EEXIST, "exists already", path)
        self.version = version
        self._upload: Any = None
        self._parts: list[Future] = []
        self._sent = 0  # bytes handed to upload parts so far
        self._pending_whole: bytes | None = None
        if mode == "rb":
            cache_type, cache_options = self._cache_settings(fs, cache_type, cache_options)
            if size is None or (version is None and fs.pins_versions):
                details = fs.info(path)
                size = details["size"] if size is None else size
                self.version = version if version is not None else fs._version_of(details)
        if block_size in ("default", None):
            block_size = fs.default_block_size if mode == "rb" else fs.upload_part_size
        super().__init__(fs, path, mode, block_size, autocommit, cache_type, cache_options, size, **kwargs)

    def _cache_settings(self, fs: RangeFileSystemMixin, cache_type: str | None, options: dict | None):
        cache_type = cache_type or fs.default_cache_type
        cache_type = PARALLEL_ALIASES.get(cache_type, cache_type)
        options = dict(options or {})
        cls = caches.get(cache_type)
        if cls is not None and issubclass(cls, ParallelBlockCache):
            options.setdefault("concurrency", fs.concurrency)
        if cls is not None and issubclass(cls, (ParallelBlockCache, MMapCache)):
            options.setdefault("multi_fetcher", self._fetch_ranges)
        return cache_type, options

    # reading
    def _fetch_range(self, start: int, end: int) -> bytes:
        return self._fetch_ranges([(start, end)])[0]

    def _fetch_ranges(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        """Fetch ``ranges`` of this file in parallel, pinned to the version seen at open."""
        ranges = [(start, min(end, self.size)) for start, end in ranges]
        out = self.fs.read_ranges(self.path, ranges, version=self.version)
        for (start, end), data in zip(ranges, out):
            if len(data) != max(0, end - start):
                raise OSError(f"{self.path}: short read, got {len(data)} of {end - start} bytes at {start}")
        return out

    # writing
    def _initiate_upload(self) -> None:
        """Nothing yet: small files are sent whole at close, large ones start multipart on the first part."""

    def _upload_chunk(self, final: bool = False) -> bool:
        data = self.buffer.getvalue()
        if final and self._upload is None and not self._parts:
            if self.autocommit:
                self.fs._call(self.fs._upload_whole, self.path, data, self.mode == "xb")
            else:
                self._pending_whole = data
            return True
        if self._upload is None:
            self._upload = self.fs._call(self.fs._upload_start, self.path, self.mode == "xb")
        part_size = self.blocksize
        cut = len(data) if final else len(data) - len(data) % part_size
        view = memoryview(data)
        for lo, hi in split_evenly(0, cut, part_size):
            self._wait_for_slot()
            number, offset = len(self._parts) + 1, self._sent + lo
            self._parts.append(
                self.fs._runner.submit(self.fs._upload_part, self._upload, number, offset, view[lo:hi])
            )
        self._sent += cut
        self.buffer = io.BytesIO()
        self.buffer.write(view[cut:])
        if final and self.autocommit:
            self.commit()
        return False  # the buffer was replaced above; keep AbstractBufferedFile from resetting it

    def _wait_for_slot(self) -> None:
        """Bound memory: at most ``upload_concurrency`` parts in flight; surface the first failure early."""
        running = [f for f in self._parts if not f.done()]
        while len(running) >= self.fs.upload_concurrency:
            running[0].result()
            running = [f for f in self._parts if not f.done()]
        for f in self._parts:
            if f.done() and f.exception() is not None:
                raise f.exception()

    def flush(self, force: bool = False) -> None:
        try:
            super().flush(force)
        except BaseException:
            self.discard()
            raise

    def commit(self) -> None:
        """Publish the written object (called at close, or at the end of a transaction)."""
        if self._pending_whole is not None:
            data, self._pending_whole = self._pending_whole, None
            self.fs._call(self.fs._upload_whole, self.path, data, self.mode == "xb")
        elif self._upload is not None:
            try:
                results = [f.result() for f in self._parts]
                self.fs._call(self.fs._upload_commit, self._upload, results)
            except BaseException:
                self.discard()
                raise
            self._upload, self._parts = None, []
        self.fs.invalidate_cache(self.path)

    def discard(self) -> None:
        """Abandon the write: nothing becomes visible, uploaded parts are removed."""
        self._pending_whole = None
        upload, self._upload = self._upload, None
        for f in self._parts:
            # wait, not cancel: a part cancelled mid-request may still land after the abort
            # (at most ``upload_concurrency`` parts are in flight)
            f.exception()
        self._parts = []
        if upload is not None:
            self.fs._call(self.fs._upload_abort, upload)
        self.buffer = io.BytesIO()
        self.forced = True
        self.closed = True

    def __exit__(self, exc_type: type | None, *args: Any) -> None:
        if exc_type is not None and self.writable():
            self.discard()
        else:
            self.close()

    def __del__(self) -> None:
        if not getattr(self, "closed", True) and self.writable():
            warnings.warn(
                f"{self.path}: write file never closed; discarding it", ResourceWarning, stacklevel=1
            )
            self.discard()
        elif not getattr(self, "closed", True):
            self.close()
