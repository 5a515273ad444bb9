"""Common shape of test servers, and the background event loop they run on."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class ServerHandle:
    """What every ``<backend>_server()`` context manager yields.

    ``fsspec.filesystem(h.protocol, **h.storage_options)`` gives a filesystem talking to the server and
    ``h.root`` is a URL under which a test may write.
    """

    protocol: str
    storage_options: dict[str, Any]
    root: str


class LoopThread:
    """An asyncio event loop running in a daemon thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> asyncio.AbstractEventLoop:
        """Start the loop thread (idempotent) and return the loop."""
        if self.loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
            self._thread.start()
            self.loop = loop
        return self.loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coro`` on the loop from another thread and return its result."""
        assert self.loop is not None, "loop not started"
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Cancel leftover tasks, stop the loop, join the thread and close the loop."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        self.loop = self._thread = None

        async def _cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            asyncio.run_coroutine_threadsafe(_cancel_all(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            if not thread.is_alive():
                loop.close()
