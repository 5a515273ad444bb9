"""Write a one-node Swift's configuration into ``DIR/etc``: swift.conf, the four servers, the proxies.

Everything binds 127.0.0.1, runs as the current user with ``workers = 0`` (one process per server, so the
recorded PID is the server), keeps its state under DIR and logs to the loopback syslog sink.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
from dataclasses import dataclass

# tempauth users: name -> (account, user, key, groups)
TEMPAUTH_USERS: dict[str, tuple[str, str, str, str]] = {
    "tester": ("test", "tester", "testing", ".admin"),
    "tester2": ("test2", "tester2", "testing2", ".admin"),
    "tester3": ("test", "tester3", "testing3", ""),
    "admin": ("admin", "admin", "admin", ".admin .reseller_admin"),
}

# Keystone proxy's service user (project "service")
SERVICE_USER, SERVICE_PASSWORD = "swift", "swiftpw"

_HEAD = "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl formpost"
_TAIL = "staticweb copy container-quotas account-quotas slo dlo versioned_writes symlink proxy-logging"
TEMPAUTH_PIPELINE = f"{_HEAD} s3api tempauth {_TAIL} proxy-server"
KEYSTONE_PIPELINE = f"{_HEAD} authtoken keystoneauth {_TAIL} proxy-server"


@dataclass(frozen=True)
class Ports:
    """Loopback ports of one server set; the keystone ones are 0 without Keystone."""

    memcached: int
    account: int
    container: int
    object: int
    proxy: int
    keystone_proxy: int = 0
    keystone: int = 0


def free_ports(n: int) -> list[int]:
    """``n`` distinct TCP ports free on 127.0.0.1 right now."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text.lstrip())


def _default(directory: str, port: int, log_name: str, syslog_port: int) -> str:
    return f"""
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
bind_timeout = 10
workers = 0
user = {getpass.getuser()}
swift_dir = {directory}/etc
devices = {directory}/srv/node
mount_check = false
disable_fallocate = true
recon_cache_path = {directory}/cache
log_name = {log_name}
log_level = INFO
log_udp_host = 127.0.0.1
log_udp_port = {syslog_port}
"""


def _hash_suffix(directory: str) -> str:
    """A hash path suffix kept in ``DIR/etc/hash``, so a restart on the same DIR finds its data again."""
    path = os.path.join(directory, "etc", "hash")
    if not os.path.exists(path):
        _write(path, secrets.token_hex(16))
    with open(path) as f:
        return f.read().strip()


def _backends(directory: str, ports: Ports, syslog_port: int) -> None:
    updater = "[container-updater]\ninterval = 2\nlog_name = container-updater\n"  # object counts within 2 s
    for kind, port in (("account", ports.account), ("container", ports.container), ("object", ports.object)):
        body = f"""
[pipeline:main]
pipeline = healthcheck {kind}-server

[app:{kind}-server]
use = egg:swift#{kind}
{"container_update_timeout = 10" if kind == "object" else ""}

[filter:healthcheck]
use = egg:swift#healthcheck
"""
        text = _default(directory, port, f"{kind}-server", syslog_port) + body
        _write(
            os.path.join(directory, "etc", f"{kind}-server.conf"),
            text + (updater if kind == "container" else ""),
        )


def _proxy(
    directory: str,
    name: str,
    port: int,
    pipeline: str,
    auth: str,
    memcached: int,
    syslog_port: int,
    tls: bool,
) -> None:
    tls_conf = (
        f"cert_file = {directory}/tls/server.pem\nkey_file = {directory}/tls/server.key\n" if tls else ""
    )
    body = f"""{tls_conf}
[pipeline:main]
pipeline = {pipeline}

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{memcached}
# one proxy process (workers = 0) serves every request: the default pool of 2 connections with a 1 s
# wait times out under load, memcached is then locked out for 60 s and every token check fails (401)
memcache_max_connections = 64
pool_timeout = 5

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:tempurl]
use = egg:swift#tempurl
methods = GET HEAD PUT POST DELETE

[filter:formpost]
use = egg:swift#formpost

[filter:staticweb]
use = egg:swift#staticweb

[filter:copy]
use = egg:swift#copy

[filter:container-quotas]
use = egg:swift#container_quotas

[filter:account-quotas]
use = egg:swift#account_quotas

[filter:slo]
use = egg:swift#slo
max_manifest_segments = 1000

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
allow_object_versioning = true

[filter:symlink]
use = egg:swift#symlink
{auth}"""
    _write(
        os.path.join(directory, "etc", f"{name}.conf"), _default(directory, port, name, syslog_port) + body
    )


def _tempauth(tls: bool) -> str:
    users = "".join(f"user_{a}_{u} = {k} {g}".rstrip() + "\n" for a, u, k, g in TEMPAUTH_USERS.values())
    scheme = "https" if tls else "http"
    return f"""
[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
reseller_prefix = AUTH
storage_url_scheme = {scheme}
{users}"""


def _keystoneauth(keystone_url: str, ca_file: str | None) -> str:
    cafile = f"cafile = {ca_file}\n" if ca_file else ""
    return f"""
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = {keystone_url}/v3
auth_url = {keystone_url}/v3
auth_type = password
user_domain_name = Default
project_domain_name = Default
project_name = service
username = {SERVICE_USER}
password = {SERVICE_PASSWORD}
interface = public
delay_auth_decision = true
cache = swift.cache
include_service_catalog = false
{cafile}
[filter:keystoneauth]
use = egg:swift#keystoneauth
reseller_prefix = AUTH_
operator_roles = admin, member, swiftoperator
project_reader_roles = reader
reseller_admin_role = ResellerAdmin
"""


def write_swift(directory: str, ports: Ports, syslog_port: int, tls: bool) -> None:
    """Write every Swift config file into ``DIR/etc`` (the rings are built separately)."""
    for sub in ("etc", "srv/node/d1", "cache", "log"):
        os.makedirs(os.path.join(directory, sub), exist_ok=True)
    _write(
        os.path.join(directory, "etc", "swift.conf"),
        f"""
[swift-hash]
swift_hash_path_prefix = fsspec-research
swift_hash_path_suffix = {_hash_suffix(directory)}

[storage-policy:0]
name = Policy-0
default = yes
""",
    )
    _backends(directory, ports, syslog_port)
    common = (ports.memcached, syslog_port, tls)
    _proxy(directory, "proxy-server", ports.proxy, TEMPAUTH_PIPELINE, _tempauth(tls), *common)
    if ports.keystone_proxy:
        scheme = "https" if tls else "http"
        ca_file = os.path.join(directory, "tls", "ca.pem") if tls else None
        auth = _keystoneauth(f"{scheme}://127.0.0.1:{ports.keystone}", ca_file)
        _proxy(directory, "proxy-server-keystone", ports.keystone_proxy, KEYSTONE_PIPELINE, auth, *common)
