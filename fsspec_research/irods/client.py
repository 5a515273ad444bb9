"""Everything that calls python-irodsclient: per-process sessions, the catalog queries, data handles, errors.

Reads do not go through PRC's buffered file: a :class:`Reader` keeps one data-object descriptor open on
one pooled connection, asks for exact byte counts, and receives the data itself (:func:`recv_data`):
PRC's receive grows the reply by concatenation, quadratic in the reply size on sockets with a timeout,
and its ``readinto`` path spins forever on a half-sent reply.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
import struct
import threading
import xml.etree.ElementTree as ElementTree
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from ..core.errors import Fault, Kind
from .config import Account

__all__ = ["IRODSClient", "Reader", "Writer", "classify_irods"]

MiB = 2**20
READ_CHUNK = 8 * MiB  # PRC's own READ_BUFFER_SIZE
WRITE_CHUNK = 4 * MiB  # what PRC's parallel put sends per write

#: exception class names (anywhere in the MRO) and what they mean
_KINDS = {
    Kind.NOT_FOUND: (
        "DoesNotExist", "OBJ_PATH_DOES_NOT_EXIST", "CAT_UNKNOWN_COLLECTION", "CAT_UNKNOWN_FILE",
        "USER_FILE_DOES_NOT_EXIST", "CAT_NO_ROWS_FOUND", "NoResultFound",
    ),
    Kind.PERMISSION: (
        "CAT_NO_ACCESS_PERMISSION", "SYS_NO_API_PRIV", "CAT_INSUFFICIENT_PRIVILEGE_LEVEL",
        "CAT_INVALID_AUTHENTICATION", "CAT_INVALID_USER", "CAT_PASSWORD_EXPIRED", "TicketException",
        "NonAnonymousLoginWithoutPassword", "SYS_USER_NO_PERMISSION", "CAT_INVALID_CLIENT_USER",
    ),
    Kind.EXISTS: (
        "CAT_NAME_EXISTS_AS_COLLECTION", "CAT_NAME_EXISTS_AS_DATAOBJ", "OVERWRITE_WITHOUT_FORCE_FLAG",
        "DataObjectExistsAtLogicalPath", "CATALOG_ALREADY_HAS_ITEM_BY_THAT_NAME",
    ),
    Kind.INVALID: (
        "SYS_INVALID_INPUT_PARAM", "SYS_INVALID_FILE_PATH", "USER_INPUT_PATH_ERR", "InvalidInputArgument",
        "CAT_INVALID_ARGUMENT", "USER__NULL_INPUT_ERR", "SYS_RESC_DOES_NOT_EXIST", "ResourceDoesNotExist",
        "CAT_UNKNOWN_ZONE", "ZoneDoesNotExist",
    ),
    Kind.TRANSIENT: ("NetworkException", "SYS_SOCK_READ_TIMEDOUT", "SYS_HEADER_READ_LEN_ERR"),
}  # fmt: skip
_BY_NAME = {name: kind for kind, names in _KINDS.items() for name in names}


def classify_irods(exc: BaseException) -> Fault | None:
    """The kind of a python-irodsclient exception (None for anything else)."""
    for cls in type(exc).__mro__:
        kind = _BY_NAME.get(cls.__name__)
        if kind is not None:
            return Fault(kind)
    return None


def not_empty(path: str, cause: BaseException) -> OSError:
    err = OSError(errno.ENOTEMPTY, "collection not empty", path)
    err.__cause__ = cause
    return err


def is_not_empty(exc: BaseException) -> bool:
    return type(exc).__name__ == "CAT_COLLECTION_NOT_EMPTY"


class IRODSClient:
    """One python-irodsclient session per process (rebuilt after fork or unpickling), made on first use."""

    def __init__(self, account: Account, timeout: float = 60.0) -> None:
        self.account = account
        self.timeout = timeout
        self._session: Any = None
        self._catalogs: list[Any] = []  # idle sessions for paged queries
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        if self._session is None or self._pid != os.getpid():
            with self._lock:
                if self._session is None or self._pid != os.getpid():
                    self._session, self._catalogs, self._pid = self._connect(), [], os.getpid()
        return self._session

    @contextlib.contextmanager
    def catalog(self) -> Iterator[Any]:
        """A session used by the calling thread alone, for queries that may page: python-irodsclient asks
        for a query's next page on any idle connection of the session's pool, whose agent does not know
        that query (the listing then ends early, silently); a one-connection session pages correctly."""
        self.session  # noqa: B018  (a new process starts afresh)
        with self._lock:
            session = self._catalogs.pop() if self._catalogs else None
        if session is None:
            session = self._connect()
        try:
            yield session
        finally:
            with self._lock:
                self._catalogs.append(session)

    def _connect(self) -> Any:
        from irods.session import iRODSSession

        session = iRODSSession(connection_timeout=self.timeout, **self.account.session_kwargs())
        if self.account.ticket:
            session.ticket__ = self.account.ticket  # supplied on every new connection
        return session

    @property
    def server_version(self) -> tuple[int, ...]:
        return tuple(self.session.server_version)

    def close(self) -> None:
        """Disconnect this process's connections."""
        with self._lock:
            sessions, self._session, self._catalogs = [self._session, *self._catalogs], None, []
        if self._pid != os.getpid():
            return
        for session in sessions:
            if session is not None:
                with contextlib.suppress(Exception):  # a server gone (or a TLS peer closing first) is fine
                    session.cleanup()

    # catalog
    def data_rows(self, *criteria: Any) -> list[dict[str, Any]]:
        """One row per replica of the data objects matching ``criteria``."""
        from irods.models import Collection, DataObject

        columns = (
            Collection.name, DataObject.id, DataObject.name, DataObject.size, DataObject.modify_time,
            DataObject.create_time, DataObject.checksum, DataObject.replica_number,
            DataObject.replica_status, DataObject.resource_name, DataObject.owner_name,
        )  # fmt: skip
        with self.catalog() as session:
            return [_data_row(r) for r in session.query(*columns).filter(*criteria)]

    def data_paths(self, *criteria: Any) -> list[dict[str, Any]]:
        """Collection and name of the data objects matching ``criteria``: a narrow query for names only."""
        from irods.models import Collection, DataObject

        with self.catalog() as session:
            rows = session.query(Collection.name, DataObject.name).filter(*criteria)
            return [{"collection": r[Collection.name], "base": r[DataObject.name]} for r in rows]

    def collection_rows(self, *criteria: Any) -> list[dict[str, Any]]:
        from irods.models import Collection

        columns = (
            Collection.id,
            Collection.name,
            Collection.modify_time,
            Collection.create_time,
            Collection.owner_name,
        )
        with self.catalog() as session:
            return [_collection_row(r) for r in session.query(*columns).filter(*criteria)]

    def server_checksum(self, path: str, force: bool = False) -> str:
        """The checksum the server holds for ``path``, computing and registering it if there is none."""
        from irods.keywords import FORCE_CHKSUM_KW

        options = {FORCE_CHKSUM_KW: ""} if force else {}
        return self.session.data_objects.chksum(path, **options)


def _data_row(row: Any) -> dict[str, Any]:
    from irods.models import Collection, DataObject

    return {
        "collection": row[Collection.name],
        "id": row[DataObject.id],
        "base": row[DataObject.name],
        "size": int(row[DataObject.size] or 0),
        "mtime": row[DataObject.modify_time],
        "created": row[DataObject.create_time],
        "checksum": row[DataObject.checksum] or None,
        "replica": row[DataObject.replica_number],
        "status": row[DataObject.replica_status],
        "resource": row[DataObject.resource_name],
        "owner": row[DataObject.owner_name],
    }


def _collection_row(row: Any) -> dict[str, Any]:
    from irods.models import Collection

    return {
        "id": row[Collection.id],
        "name": row[Collection.name],
        "mtime": row[Collection.modify_time],
        "created": row[Collection.create_time],
        "owner": row[Collection.owner_name],
    }


class Reader:
    """An open read descriptor of one data object, on one pooled connection.

    A read sends its seek and its read requests back to back and then collects the replies (the server
    answers one connection's requests in order), so a range costs one round trip, not one per request.
    """

    def __init__(self, session: Any, path: str) -> None:
        self.path = path
        self._file, self._raw = session.data_objects.open_with_FileRaw(path, "r", create=False)
        self._pos = 0
        _no_delay(self._raw.conn.socket)

    def read(self, start: int, length: int) -> bytearray | memoryview:
        """Up to ``length`` bytes from ``start`` (fewer only at the end of the object)."""
        buffer = bytearray(length)
        got = self.read_into(start, memoryview(buffer))
        return memoryview(buffer)[:got] if got < length else buffer  # the core makes bytes of it

    def read_into(self, start: int, view: memoryview) -> int:
        """Read up to ``len(view)`` bytes from ``start`` into ``view``; return how many came (fewer only
        at the end of the object)."""
        from irods.api_number import api_number

        sock, desc, length = self._raw.conn.socket, self._raw.desc, len(view)
        seek = self._pos != start
        sizes = [min(READ_CHUNK, length - lo) for lo in range(0, length, READ_CHUNK)]
        got = 0
        try:
            if seek:
                _send_request(sock, api_number["DATA_OBJ_LSEEK_AN"], _opened(desc, offset=start))
            for size in sizes:
                _send_request(sock, api_number["DATA_OBJ_READ_AN"], _opened(desc, length=size))
            if seek:
                recv_reply(sock)
            for size in sizes:
                got += recv_reply(sock, view[got : got + size])[1]
        except BaseException:
            self.abandon()  # replies may still be in flight: this connection cannot be reused
            raise
        self._pos = start + got
        return got

    def abandon(self) -> None:
        """Drop this reader's connection without a close exchange (its replies are out of step)."""
        _drop(self._raw)
        self._file = None

    def close(self) -> None:
        if self._file is None:
            return
        with contextlib.suppress(Exception):  # a broken connection: dropped
            _close(self._file, self._raw)
        self._file = None


def _opened(desc: int, offset: int = 0, length: int = 0) -> Any:
    """The body of a request on open descriptor ``desc`` (seek to ``offset``, read or write ``length``)."""
    from irods.message import OpenedDataObjRequest, StringStringMap

    return OpenedDataObjRequest(
        l1descInx=desc, len=length, whence=os.SEEK_SET, oprType=0, offset=offset, bytesWritten=0,
        KeyValPair_PI=StringStringMap(),
    )  # fmt: skip


def _no_delay(sock: socket.socket) -> None:
    """Without it, Nagle holds a request sent right after another until the first is acknowledged."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _close(file: Any, raw: Any) -> None:
    """Close a data-object handle; if that fails, drop its connection (:func:`_drop`) and re-raise."""
    try:
        file.close()
    except BaseException:
        _drop(raw)
        raise


def _drop(raw: Any) -> None:
    """Drop the connection of data-object handle ``raw`` without a close exchange (its replies are out
    of step), and mark the handle closed.

    Left open, the handle would be closed by its finalizer, whenever the garbage collector runs: a
    close that calls ``ast.literal_eval`` (python-irodsclient's version check), which, run in the middle
    of another ``ast.parse`` (an import under pytest, say), makes CPython < 3.12 fail that one with
    "SystemError: AST constructor recursion depth mismatch".
    """
    conn = raw.conn
    with contextlib.suppress(Exception):
        conn.release(True)
    with contextlib.suppress(Exception):
        conn.socket.close()
    io.RawIOBase.close(raw)


def recv_reply(sock: socket.socket, into: memoryview | None = None) -> tuple[int, int]:
    """Receive one reply on ``sock``: its ``intInfo`` and the count of its bytes, which go into ``into``.

    Raises the server's error as python-irodsclient does, and ``ConnectionError`` when the connection
    closes mid-reply (never waits for bytes that cannot come).
    """
    header = _recv_bytes(sock, struct.unpack(">i", _recv_bytes(sock, 4))[0])
    fields = {child.tag: child.text for child in ElementTree.fromstring(header)}
    msg_len, err_len, bs_len = (int(fields[k] or 0) for k in ("msgLen", "errorLen", "bsLen"))
    int_info = int(fields["intInfo"] or 0)
    _recv_bytes(sock, msg_len)
    error = _recv_bytes(sock, err_len)
    if int_info < 0:
        _raise_server_error(int_info, error)
    room = 0 if into is None else len(into)
    if bs_len > room:
        raise OSError(errno.EIO, f"the server sent {bs_len} bytes for a read of {room}")
    if bs_len:
        _recv_into(sock, into[:bs_len])
    return int_info, bs_len


def _send_request(sock: socket.socket, api: int, body: Any, data: memoryview | None = None) -> None:
    """Send a request whose byte stream is ``data`` without copying it into the message."""
    from irods.message import iRODSMessage

    main = body.pack()
    main = main.encode() if isinstance(main, str) else main
    size = 0 if data is None else len(data)
    sock.sendall(iRODSMessage.pack_header("RODS_API_REQ", len(main), 0, size, api) + main)
    if size:
        sock.sendall(data)


def _recv_bytes(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    _recv_into(sock, memoryview(buffer))
    return bytes(buffer)


def _recv_into(sock: socket.socket, view: memoryview) -> None:
    """Fill ``view`` from ``sock``; ``ConnectionError`` if the connection closes first."""
    done = 0
    while done < len(view):
        n = sock.recv_into(view[done:])
        if n == 0:
            raise ConnectionError(errno.ECONNRESET, "the iRODS server closed the connection mid-reply")
        done += n


def _raise_server_error(code: int, error: bytes) -> None:
    """Raise python-irodsclient's exception for error ``code`` (with the server's message)."""
    from irods.exception import get_exception_by_code
    from irods.message import Error, iRODSMessage

    text = None
    with contextlib.suppress(TypeError, IndexError, AttributeError, ElementTree.ParseError):
        text = iRODSMessage(msg=error).get_main_message(Error).RErrMsg_PI[0].msg if error else None
    raise get_exception_by_code(code, text)


class ReaderCache:
    """The few readers one worker thread keeps open, by ``(path, version)``; the oldest is closed first."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._readers: OrderedDict[tuple[str, str | None], Reader] = OrderedDict()

    def get(self, key: tuple[str, str | None]) -> Reader | None:
        reader = self._readers.get(key)
        if reader is not None:
            self._readers.move_to_end(key)
        return reader

    def put(self, key: tuple[str, str | None], reader: Reader) -> None:
        self._readers[key] = reader
        while len(self._readers) > self.size:
            self._readers.popitem(last=False)[1].close()

    def drop(self, key: tuple[str, str | None]) -> None:
        reader = self._readers.pop(key, None)
        if reader is not None:
            reader.close()

    def drop_path(self, path: str) -> None:
        for key in [k for k in self._readers if k[0] == path]:
            self.drop(key)

    def close(self) -> None:
        while self._readers:
            self._readers.popitem()[1].close()


class Writer:
    """An open write descriptor: the first of an upload creates the object; others join with its token."""

    def __init__(self, session: Any, path: str, join: tuple[str, str] | None = None, size: int = -1) -> None:
        from irods import keywords as kw

        options: dict[str, str] = {}
        if size >= 0:
            options[kw.DATA_SIZE_KW] = str(size)
        if join is None:
            self._file, self._raw = session.data_objects.open_with_FileRaw(path, "w", **options)
        else:
            token, hierarchy = join
            options.update({kw.RESC_HIER_STR_KW: hierarchy, kw.REPLICA_TOKEN_KW: token})
            self._file, self._raw = session.data_objects.open_with_FileRaw(
                path, "a", create=False, finalize_on_close=False, allow_redirect=False, **options
            )
        self._pos = -1
        _no_delay(self._raw.conn.socket)

    def replica_token(self) -> tuple[str, str]:
        """``(replica token, resource hierarchy)`` that lets other connections write the same replica."""
        return self._raw.replica_access_info()

    def write(self, offset: int, data: memoryview | bytes) -> None:
        """Write ``data`` at ``offset``: the seek and every chunk go out back to back, then the replies
        are collected (one round trip, not one per chunk)."""
        from irods.api_number import api_number

        sock, desc, view = self._raw.conn.socket, self._raw.desc, memoryview(data)
        chunks = [view[lo : lo + WRITE_CHUNK] for lo in range(0, len(view), WRITE_CHUNK)]
        seek = self._pos != offset
        try:
            if seek:
                _send_request(sock, api_number["DATA_OBJ_LSEEK_AN"], _opened(desc, offset=offset))
            for piece in chunks:
                _send_request(sock, api_number["DATA_OBJ_WRITE_AN"], _opened(desc, length=len(piece)), piece)
            if seek:
                recv_reply(sock)
            for piece in chunks:
                written = recv_reply(sock)[0]
                if written != len(piece):
                    raise OSError(errno.EIO, f"short write: {written} of {len(piece)} bytes")
        except BaseException:
            self._drop()  # replies may still be in flight: the connection cannot be reused
            raise
        self._pos = offset + len(view)

    def close(self) -> None:
        if self._file is None:
            raise OSError(errno.EIO, "the upload's connection failed mid-write")
        _close(self._file, self._raw)

    def close_quietly(self) -> None:
        with contextlib.suppress(Exception):
            if self._file is not None:
                _close(self._file, self._raw)

    def _drop(self) -> None:
        _drop(self._raw)
        self._file = None


def first(rows: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    return next(iter(rows), None)
