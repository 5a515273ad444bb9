"""Data object I/O: open/create, read/write/lseek at server-side positions, close, parallel-transfer APIs.

An object open for writing has a replica token; further write opens must present it (parallel transfers open
auxiliary descriptors on other connections that way) or get ``LOCKED_DATA_OBJECT_ACCESS``. The primary
descriptor's close finalises: size from the vault file, replica status good, checksum cleared or recomputed.
"""

from __future__ import annotations

import os
import secrets
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from .descriptors import OpenFile
from .dispatch import Reply, api, json_in, json_reply, reply, str_reply
from .errors import fail
from .model import READ, WRITE, now
from .protocol import integer, kvp, text

if TYPE_CHECKING:
    from .agent import Agent

O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC = 3, 64, 128, 512
DATA_OBJ_CREATE_AN, DATA_OBJ_OPEN_AN = 601, 602
DATA_OBJ_CLOSE_AN, DATA_OBJ_LSEEK_AN, DATA_OBJ_READ_AN, DATA_OBJ_WRITE_AN = 673, 674, 675, 676
GET_FILE_DESCRIPTOR_INFO_APN, REPLICA_CLOSE_APN, GET_RESOURCE_INFO_FOR_OPERATION_AN = 20000, 20004, 10220


@api(DATA_OBJ_CREATE_AN)
def create_object(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    return _open(agent, root, create_api=True)


@api(DATA_OBJ_OPEN_AN)
def open_object(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    return _open(agent, root, create_api=False)


def _open(agent: Agent, root: ET.Element | None, create_api: bool) -> Reply:
    cat, me = agent.cat, agent.me
    path = cat.check_path(text(root, "objPath"))
    options = kvp(root)
    flags = (1 | O_CREAT | O_TRUNC) if create_api else integer(root, "openFlags")
    write = flags & O_ACCMODE != 0
    with cat.lock:
        o = cat.obj(path)
        if path in cat.colls:
            raise fail("CAT_NAME_EXISTS_AS_COLLECTION" if flags & O_CREAT else "USER_INPUT_PATH_ERR", path)
        if o is None:
            if not flags & O_CREAT:
                raise fail("OBJ_PATH_DOES_NOT_EXIST", path)
            o = cat.create_obj(me, path)
            o.type = options.get("dataType", o.type)
            truncate, created = False, True
        else:
            if create_api and agent.version < (4, 3) and "forceFlag" not in options:
                raise fail("OVERWRITE_WITHOUT_FORCE_FLAG", path)
            if flags & O_EXCL and flags & O_CREAT:
                raise fail("OVERWRITE_WITHOUT_FORCE_FLAG", path)
            cat.require(me, o, WRITE if write else READ)
            truncate, created = bool(flags & O_TRUNC) and write, False
        token = options.get("replicaToken")
        primary = True
        if write:
            if o.writers:
                if token != o.token:
                    raise fail("LOCKED_DATA_OBJECT_ACCESS", f"{path} is open for writing")
                primary = False
            else:
                o.token = secrets.token_hex(16)
            o.writers += 1
            o.repl_status = 2
        elif token is not None:
            primary = False
        ticket = cat.use_ticket(me, o.coll if created else o, write) if primary else None
        try:
            fd = cat.vault_fd(o, write)
        except OSError as e:
            if write:
                o.writers -= 1
            raise fail("USER_FILE_DOES_NOT_EXIST", f"{path}: {e}") from None
        if truncate:
            os.ftruncate(fd, 0)
        of = OpenFile(o, fd, flags, write, primary, options, ticket=ticket)
        return reply(status=agent.new_fd(of))


@api(DATA_OBJ_LSEEK_AN)
def lseek(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    of = agent.descriptor(integer(root, "l1descInx"))
    offset, whence = integer(root, "offset"), integer(root, "whence")
    base = {0: 0, 1: of.pos, 2: os.fstat(of.fd).st_size}.get(whence)
    if base is None or base + offset < 0:
        raise fail("SYS_INVALID_INPUT_PARAM", f"bad seek {offset} whence {whence}")
    of.pos = base + offset
    return reply(agent.xml.struct("fileLseekOut_PI", ("offset", of.pos)))


@api(DATA_OBJ_READ_AN)
def read(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    of = agent.descriptor(integer(root, "l1descInx"))
    if of.flags & O_ACCMODE == 1:
        raise fail("SYS_INVALID_INPUT_PARAM", "descriptor is write-only")
    n = max(0, integer(root, "len"))
    data = os.pread(of.fd, n, of.pos) if n else b""
    of.pos += len(data)
    return Reply(b"", len(data), data)


@api(DATA_OBJ_WRITE_AN)
def write(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    of = agent.descriptor(integer(root, "l1descInx"))
    if not of.write:
        raise fail("SYS_INVALID_INPUT_PARAM", "descriptor is read-only")
    data = memoryview(bs)[: integer(root, "len", len(bs))] if bs else memoryview(b"")
    t = of.ticket
    if (
        t is not None
        and t.write_byte_limit
        and t.write_byte_count + of.written + len(data) > t.write_byte_limit
    ):
        raise fail("CAT_TICKET_USES_EXCEEDED", f"{t.string}: write-byte limit reached")
    n = os.pwrite(of.fd, data, of.pos) if len(data) else 0
    of.pos += n
    of.written += n
    return reply(status=n)


def close_descriptor(agent: Agent, fd: int, options: dict[str, str], finalize: bool) -> str:
    """Close an L1 descriptor; returns the checksum if one was computed."""
    of = agent.fds.pop(fd, None)
    if of is None:
        raise fail("SYS_FILE_DESC_OUT_OF_RANGE", f"bad descriptor {fd}")
    cat, o, checksum = agent.cat, of.obj, ""
    try:
        with cat.lock:
            if not of.write:
                return ""
            o.writers = max(0, o.writers - 1)
            if of.ticket is not None:
                of.ticket.write_byte_count += of.written
            if not (finalize and of.primary) and o.writers:
                return ""
            o.size = os.fstat(of.fd).st_size
            o.mtime, o.repl_status, o.token = now(), 1, ""
            o.checksum = ""
            opts = {**of.options, **options}
            if "regChksum" in opts or "verifyChksum" in opts:
                checksum = o.checksum = cat.checksum_of(o)
                given = opts.get("verifyChksum") or opts.get("regChksum")
                if given and given != checksum and "verifyChksum" in opts:
                    raise fail("USER_CHKSUM_MISMATCH", f"{o.path}: checksum mismatch")
            if o.id not in cat.objs:  # removed while open
                os.unlink(o.phys) if os.path.exists(o.phys) else None
            return checksum
    finally:
        os.close(of.fd)


@api(DATA_OBJ_CLOSE_AN)
def close(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    close_descriptor(agent, integer(root, "l1descInx"), kvp(root), finalize=True)
    return reply()


@api(GET_FILE_DESCRIPTOR_INFO_APN)
def fd_info(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    fd = int(json_in(root).get("fd", -1))
    of = agent.descriptor(fd)
    o = of.obj
    info = {
        "l1_descriptor_index": fd,
        "open_flags": of.flags,
        "replica_token": o.token if of.write else "",
        "data_object_input": {"obj_path": o.path},
        "data_object_info": {
            "object_path": o.path,
            "resource_hierarchy": "demoResc",
            "resource_name": "demoResc",
            "replica_number": 0,
            "replica_status": o.repl_status,
            "data_id": o.id,
            "data_size": o.size,
            "file_path": o.phys,
        },
    }
    return json_reply(agent, info)


@api(REPLICA_CLOSE_APN)
def replica_close(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    req = json_in(root)
    fd = int(req.get("fd", -1))
    agent.descriptor(fd)
    finalize = bool(req.get("update_size") or req.get("update_status"))
    opts = {"regChksum": ""} if req.get("compute_checksum") else {}
    close_descriptor(agent, fd, opts, finalize=finalize)
    return json_reply(agent, {})


@api(GET_RESOURCE_INFO_FOR_OPERATION_AN)
def resource_info(agent: Agent, root: ET.Element | None, bs: bytes | bytearray) -> Reply:
    import json

    host = agent.server.host
    return str_reply(agent, json.dumps({"host": host, "resource_hierarchy": "demoResc"}))
