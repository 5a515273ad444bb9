"""Per-connection state: L1 descriptors of open data objects and GenQuery cursors."""

from __future__ import annotations

from dataclasses import dataclass

from .model import DataObj, Ticket


@dataclass
class OpenFile:
    """An L1 descriptor: the object, an OS descriptor on its vault file and the server-side position."""

    obj: DataObj
    fd: int
    flags: int
    write: bool
    primary: bool  # False for the auxiliary descriptors of a parallel transfer (opened with the token)
    options: dict[str, str]
    pos: int = 0
    written: int = 0
    ticket: Ticket | None = None  # the session ticket this open was counted against


@dataclass
class Cursor:
    """The rows of a GenQuery still to be paged out with ``continueInx``."""

    rows: list[tuple[str, ...]]
    columns: list[int]
    pos: int = 0
    total: int = 0
