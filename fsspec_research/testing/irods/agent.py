"""One agent per client connection: handshake (negotiation, TLS), then API requests until disconnect."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from . import api_admin, api_auth, api_data, api_meta, api_ns, api_query  # noqa: F401  (register handlers)
from .catalog import Actor, Catalog
from .descriptors import Cursor, OpenFile
from .dispatch import HANDLERS, PUBLIC, Reply, parse_message
from .errors import CODES, IrodsError, fail
from .model import User
from .protocol import Frame, Xml, pack_frame, pack_header, parse, read_frame, recv_exact, text

if TYPE_CHECKING:
    from .server import Server

log = logging.getLogger(__name__)


class Agent:
    """Serves one socket; its state is the login, open descriptors and GenQuery cursors."""

    def __init__(self, server: Server, sock: socket.socket) -> None:
        self.server, self.sock = server, sock
        self.cat: Catalog = server.catalog
        self.version = server.version
        self.xml = Xml(apos=self.version >= (4, 2, 9))
        self.proxy_user = self.client_user = ""
        self.proxy_zone = self.client_zone = ""
        self.actor: Actor | None = None
        self.login_user: User | None = None
        self.challenge = b""
        self.signature = ""
        self.fds: dict[int, OpenFile] = {}
        self.cursors: dict[int, Cursor] = {}
        self._next_fd = 3
        self._next_cursor = 1

    # ---- connection loop -----------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            if not self.handshake():
                return
            while not self.server.stopping.is_set():
                frame = read_frame(self.sock)
                if frame.type == "RODS_DISCONNECT":
                    self.close_tls()
                    return
                if frame.type != "RODS_API_REQ":
                    self.send(Frame("RODS_API_REPLY", int_info=CODES["SYS_API_INPUT_ERR"]))
                    continue
                self.server.count(frame.int_info)
                fault = self.server.take_fault(frame.int_info)
                if fault == "drop":
                    return
                result = self.handle(frame)
                if fault == "stall":
                    self.server.stopping.wait()
                    return
                if fault == "half":
                    self.send_half(self.frame_for(result))
                    return
                self.send(self.frame_for(result))
        except (OSError, ConnectionError, ET.ParseError, ValueError, struct.error):
            pass
        finally:
            self.release()

    def release(self) -> None:
        """Close descriptors (finalising writes) and the socket."""
        for fd in list(self.fds):
            try:
                api_data.close_descriptor(self, fd, {}, finalize=True)
            except Exception:
                log.debug("closing descriptor %s on disconnect failed", fd, exc_info=True)
        with contextlib.suppress(OSError):
            self.sock.close()

    def handle(self, frame: Frame) -> Reply:
        """Run the API; every exception becomes an error reply."""
        fn = HANDLERS.get(frame.int_info)
        try:
            if fn is None:
                raise fail("SYS_UNMATCHED_API_NUM", f"API {frame.int_info} is not implemented")
            if self.actor is None and frame.int_info not in PUBLIC:
                raise fail("CAT_INVALID_AUTHENTICATION", "not authenticated")
            return fn(self, parse_message(frame.msg), frame.bs)
        except IrodsError as e:
            return self._error(e)
        except Exception as e:  # a bug here must still answer, or the client hangs
            log.exception("API %s failed", frame.int_info)
            return self._error(IrodsError("SYS_LIBRARY_ERROR", f"{type(e).__name__}: {e}"))

    def _error(self, e: IrodsError) -> Reply:
        return Reply(e.body or b"", e.code, error=self.xml.error(e.code, e.message))

    def frame_for(self, r: Reply) -> Frame:
        return Frame("RODS_API_REPLY", r.msg, r.error, r.bs, r.status)

    def send(self, frame: Frame) -> None:
        head, bs = pack_frame(frame)
        if bs and len(bs) > 65536:
            self.sock.sendall(head)
            self.sock.sendall(bs)
        else:
            self.sock.sendall(head + bytes(bs))

    def send_half(self, frame: Frame) -> None:
        """Send the header and part of the payload, then stop.

        When the payload is only a byte stream (a read), the cut falls inside the header instead: the python
        client receives read payloads with a loop that never ends on a closed socket.
        """
        head = pack_header(frame.type, len(frame.msg), len(frame.error), len(frame.bs), frame.int_info)
        payload = frame.msg + frame.error
        self.sock.sendall(head + payload[: len(payload) // 2] if payload else head[: len(head) // 2])

    # ---- handshake ---------------------------------------------------------------------------------------

    def handshake(self) -> bool:
        first = read_frame(self.sock)
        if first.type != "RODS_CONNECT":
            return False
        pack = parse(first.msg)
        self.proxy_user, self.proxy_zone = text(pack, "proxyUser"), text(pack, "proxyRcatZone")
        self.client_user = text(pack, "clientUser") or self.proxy_user
        self.client_zone = text(pack, "clientRcatZone") or self.proxy_zone
        use_ssl = False
        if text(pack, "option").endswith("request_server_negotiation"):
            policy = "CS_NEG_REQUIRE" if self.server.ssl_context else "CS_NEG_REFUSE"
            neg = self.xml.struct("CS_NEG_PI", ("status", 1), ("result", policy)).encode()
            self.send(Frame("RODS_CS_NEG_T", neg))
            answer = read_frame(self.sock)
            result = text(parse(answer.msg), "result") if answer.msg else ""
            if "CS_NEG_FAILURE" in result or answer.type != "RODS_CS_NEG_T":
                return False
            use_ssl = "CS_NEG_USE_SSL" in result
            if use_ssl and self.server.ssl_context is None:
                return False
        relv = "rods" + ".".join(map(str, self.version))
        version = self.xml.struct(
            "Version_PI",
            ("status", 0),
            ("relVersion", relv),
            ("apiVersion", "d"),
            ("reconnPort", 0),
            ("reconnAddr", ""),
            ("cookie", 400),
        )
        self.send(Frame("RODS_VERSION", version.encode()))
        if use_ssl:
            self.start_tls()
        return True

    def start_tls(self) -> None:
        """Wrap the socket; then read (and ignore) the encryption-settings header and the shared secret."""
        assert self.server.ssl_context is not None
        self.sock = self.server.ssl_context.wrap_socket(self.sock, server_side=True)
        self.server.track(self.sock)
        for _ in range(2):
            (hlen,) = struct.unpack(">i", recv_exact(self.sock, 4))
            head = ET.fromstring(bytes(recv_exact(self.sock, hlen)))
            if head.findtext("type") == "SHARED_SECRET":
                recv_exact(self.sock, int(head.findtext("msgLen") or 0))

    def close_tls(self) -> None:
        """Answer the client's TLS shutdown (it waits for ours after a disconnect)."""
        if isinstance(self.sock, ssl.SSLSocket):
            self.sock.settimeout(5)
            self.sock = self.sock.unwrap()

    # ---- for handlers ----------------------------------------------------------------------------------

    @property
    def me(self) -> Actor:
        if self.actor is None:
            raise fail("CAT_INVALID_AUTHENTICATION", "not authenticated")
        return self.actor

    def new_fd(self, of: OpenFile) -> int:
        fd = self._next_fd
        self._next_fd += 1
        self.fds[fd] = of
        return fd

    def new_cursor(self, cur: Cursor) -> int:
        n = self._next_cursor
        self._next_cursor += 1
        self.cursors[n] = cur
        return n

    def descriptor(self, fd: int) -> OpenFile:
        of = self.fds.get(fd)
        if of is None:
            raise fail("SYS_FILE_DESC_OUT_OF_RANGE", f"bad descriptor {fd}")
        return of
