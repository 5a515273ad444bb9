"""Ranged reads over GetFile streams, which take an offset and no length.

A read opens a stream at its start and takes the bytes it needs. If it stopped inside a server message,
the rest of that message is already here: the stream is left idle, keyed by where it now stands, and the
next read starting exactly there (sequential reading, read-ahead) continues it instead of opening
another. A stream that stopped between messages is cancelled (kept, it would receive a whole message
more), as are idle streams beyond a few.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from .urls import PFSPath

__all__ = ["StreamPool"]


class _Stream:
    def __init__(self, messages: Any, position: int) -> None:
        self.messages = messages
        self.position = position
        self.leftover = memoryview(b"")  # the rest of the last message received (not copied)
        self.ended = False

    def read(self, length: int) -> bytes:
        chunks, got = [], 0
        if self.leftover:
            take = self.leftover[:length]
            self.leftover = self.leftover[len(take) :]
            chunks.append(take)
            got = len(take)
        while got < length:
            message = next(self.messages, None)
            if message is None:
                self.ended = True
                break
            data = memoryview(message.value)
            need = length - got
            chunks.append(data[:need])
            self.leftover = data[need:]
            got += min(need, len(data))
        self.position += got
        return b"".join(chunks)

    def cancel(self) -> None:
        self.messages.cancel()


class StreamPool:
    """Idle streams by ``(commit, path, position)``, shared by all reading threads."""

    def __init__(self, client: Any, keep: int = 16) -> None:
        self.client = client
        self.keep = keep
        self._idle: OrderedDict[tuple[str, str, int], _Stream] = OrderedDict()
        self._lock = threading.Lock()
        self.opened = 0  #: streams opened (for tests and benchmarks)

    def read(self, where: PFSPath, commit: str, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)`` of the file (fewer at its end)."""
        with self._lock:
            stream = self._idle.pop((commit, where.path, start), None)
        if stream is None:
            stream = _Stream(self.client.open_stream(where, commit, start, length), start)
            self.opened += 1
        try:
            data = stream.read(length)
        except BaseException:
            stream.cancel()
            raise
        if stream.ended or len(data) < length or not stream.leftover:
            stream.cancel()  # kept only mid-message: a stream between messages would fetch one more
        else:
            self._keep(commit, where.path, stream)
        return data

    def _keep(self, commit: str, path: str, stream: _Stream) -> None:
        with self._lock:
            old = self._idle.pop((commit, path, stream.position), None)
            self._idle[(commit, path, stream.position)] = stream
            surplus = [self._idle.popitem(last=False)[1] for _ in range(len(self._idle) - self.keep)]
        for s in [*surplus, *([old] if old else [])]:
            s.cancel()

    def close(self) -> None:
        with self._lock:
            streams, self._idle = list(self._idle.values()), OrderedDict()
        for s in streams:
            s.cancel()
