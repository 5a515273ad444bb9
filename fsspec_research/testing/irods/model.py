"""Catalog records: users, collections, data objects, AVUs, resources and tickets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# Access levels (R_TOKN_MAIN values).
NULL, READ_METADATA, READ, CREATE_METADATA, MODIFY_METADATA, DELETE_METADATA = (
    1000,
    1040,
    1050,
    1070,
    1080,
    1090,
)
CREATE_OBJECT, WRITE, DELETE_OBJECT, OWN = 1110, 1120, 1130, 1200

LEVELS_43 = {
    "null": NULL,
    "read_metadata": READ_METADATA,
    "read_object": READ,
    "create_metadata": CREATE_METADATA,
    "modify_metadata": MODIFY_METADATA,
    "delete_metadata": DELETE_METADATA,
    "create_object": CREATE_OBJECT,
    "modify_object": WRITE,
    "delete_object": DELETE_OBJECT,
    "own": OWN,
}
LEVELS_42 = {"null": NULL, "read object": READ, "modify object": WRITE, "own": OWN}
ALIASES = {"read": READ, "write": WRITE, "read object": READ, "modify object": WRITE}


def now() -> int:
    return int(time.time())


def ts(seconds: int) -> str:
    """Catalog time format: 11-digit zero-padded epoch seconds."""
    return f"{seconds:011d}"


@dataclass(eq=False)
class User:
    id: int
    name: str
    type: str  # rodsadmin | rodsuser | groupadmin | rodsgroup
    zone: str
    password: str = ""
    info: str = ""
    comment: str = ""
    ctime: int = field(default_factory=now)
    mtime: int = field(default_factory=now)
    members: set[int] = field(default_factory=set)  # groups only

    @property
    def is_group(self) -> bool:
        return self.type == "rodsgroup"


@dataclass(eq=False)
class Coll:
    id: int
    name: str
    owner: str
    zone: str
    ctime: int = field(default_factory=now)
    mtime: int = field(default_factory=now)
    inherit: bool = False
    comments: str = ""
    subcolls: dict[str, Coll] = field(default_factory=dict)
    objects: dict[str, DataObj] = field(default_factory=dict)
    acl: dict[int, int] = field(default_factory=dict)

    @property
    def parent(self) -> str:
        if self.name == "/":
            return "/"
        head = self.name.rsplit("/", 1)[0]
        return head or "/"

    @property
    def basename(self) -> str:
        return self.name.rsplit("/", 1)[1] if self.name != "/" else ""

    def child_path(self, name: str) -> str:
        return ("" if self.name == "/" else self.name) + "/" + name


@dataclass(eq=False)
class DataObj:
    id: int
    coll: Coll
    name: str
    owner: str
    zone: str
    phys: str
    resc_id: int
    ctime: int = field(default_factory=now)
    mtime: int = field(default_factory=now)
    size: int = 0
    checksum: str = ""
    repl_status: int = 1  # 0 stale, 1 good, 2 intermediate (open for write)
    type: str = "generic"
    comments: str = ""
    expiry: str = "00000000000"
    data_mode: str = "0"
    acl: dict[int, int] = field(default_factory=dict)
    writers: int = 0
    token: str = ""

    @property
    def path(self) -> str:
        return self.coll.child_path(self.name)


@dataclass(eq=False)
class Avu:
    id: int
    name: str
    value: str
    units: str
    ctime: int = field(default_factory=now)
    mtime: int = field(default_factory=now)


@dataclass(eq=False)
class Resource:
    id: int
    name: str
    zone: str
    host: str
    vault: str
    type: str = "unixfilesystem"
    ctime: int = field(default_factory=now)
    mtime: int = field(default_factory=now)


@dataclass(eq=False)
class Ticket:
    id: int
    string: str
    type: str  # read | write
    owner: int
    obj_id: int
    obj_type: str  # data | collection
    uses_limit: int = 0
    uses_count: int = 0
    expiry: int = 0
    write_file_limit: int = 10
    write_file_count: int = 0
    write_byte_limit: int = 0
    write_byte_count: int = 0
    ctime: int = field(default_factory=now)
    mtime: int = field(default_factory=now)
    hosts: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


@dataclass
class Actor:
    """Who is calling: the client user and the session ticket, if any."""

    user: User
    ticket: Ticket | None = None

    @property
    def admin(self) -> bool:
        return self.user.type == "rodsadmin"
