"""A real Keystone v3 (sqlite, fernet tokens) for the second Swift proxy, and its setup over the REST API.

``keystone-manage db_sync`` and ``bootstrap`` run once per keystone venv, into a template DB (each takes
seconds, mostly imports); a new DIR starts from a copy of it, with its own fernet and credential keys written
directly. The setup over REST (idempotent, so a restart on the same DIR keeps projects and their ids) points
the identity endpoints at this start's port and creates, if missing, the projects ``service``/``test``/
``test2``, the roles ``ResellerAdmin`` and ``swiftoperator``, the users below and the object-store endpoints
of the keystone proxy.
"""

from __future__ import annotations

import base64
import fcntl
import os
import secrets
import shutil
import subprocess
import tempfile
from typing import Any

from .config import SERVICE_PASSWORD, SERVICE_USER

# keystone users: name -> (password, project, role)
USERS: dict[str, tuple[str, str, str]] = {
    "tester": ("testing", "test", "member"),
    "tester2": ("testing2", "test2", "member"),
    "tester3": ("testing3", "test", "reader"),
}
_TEMPLATE_DB, _TEMPLATE_PASSWORD = "fsspec-research-keystone.db", "fsspec-research-admin-password"


def options(auth_url: str, user: str, ca_file: str | None) -> dict[str, Any]:
    """storage_options for password auth of a keystone test user (project-scoped, Default domain)."""
    password, project, _ = USERS[user]
    opts: dict[str, Any] = {
        "auth_url": auth_url,
        "username": user,
        "password": password,
        "project_name": project,
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    return {**opts, "verify": ca_file} if ca_file else opts


def _write_secret(path: str, data: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)


def _read(path: str) -> str:
    with open(path) as f:
        return f.read().strip()


def _manage(manage: str, conf: str, args: list[str], log: str, timeout: float) -> None:
    with open(log, "ab") as out:
        cmd = [manage, "--config-file", conf, *args]
        rc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=timeout
        )
    if rc.returncode != 0:
        with open(log, errors="replace") as f:
            tail = "\n".join(f.read().splitlines()[-15:])
        raise RuntimeError(f"keystone-manage {args[0]} failed (exit {rc.returncode}); {log}:\n{tail}")


def template(venv: str, timeout: float) -> tuple[str, str]:
    """``(db, admin password file)``: a db_sync-ed and bootstrapped DB, made once per keystone venv."""
    db, password = os.path.join(venv, _TEMPLATE_DB), os.path.join(venv, _TEMPLATE_PASSWORD)
    if os.path.exists(db):
        return db, password
    with open(db + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(db):
            return db, password
        _write_secret(password, secrets.token_urlsafe(18))
        with tempfile.TemporaryDirectory(dir=venv) as tmp:
            conf, log = os.path.join(tmp, "keystone.conf"), os.path.join(venv, "fsspec-research-template.log")
            with open(conf, "w") as f:
                f.write(_conf(f"{tmp}/k.db", tmp))
            _keys(tmp)
            manage = os.path.join(venv, "bin", "keystone-manage")
            _manage(manage, conf, ["db_sync"], log, timeout)
            boot = ["bootstrap", "--bootstrap-password", _read(password), "--bootstrap-region-id=RegionOne"]
            boot += [f"--bootstrap-{i}-url=http://127.0.0.1:9/v3" for i in ("admin", "internal", "public")]
            _manage(manage, conf, boot, log, timeout)  # the setup points these endpoints at the real port
            os.replace(os.path.join(tmp, "k.db"), db)
    return db, password


def _keys(kdir: str) -> None:
    """Fernet and credential key repositories with keys 0 (staged) and 1 (primary), like fernet_setup."""
    for repo in ("fernet-keys", "credential-keys"):
        path = os.path.join(kdir, repo)
        os.makedirs(path, mode=0o700, exist_ok=True)
        for index in ("0", "1"):
            if not os.path.exists(os.path.join(path, index)):
                _write_secret(os.path.join(path, index), base64.urlsafe_b64encode(os.urandom(32)).decode())


def _conf(db: str, kdir: str) -> str:
    return f"""[DEFAULT]
use_stderr = true

[database]
connection = sqlite:///{db}
sqlite_synchronous = false

[token]
provider = fernet

[fernet_tokens]
key_repository = {kdir}/fernet-keys

[fernet_receipts]
key_repository = {kdir}/fernet-keys

[credential]
key_repository = {kdir}/credential-keys

[identity]
password_hash_rounds = 4
"""


def admin_password(directory: str) -> str:
    return _read(os.path.join(directory, "keystone", "admin-password"))


def write_config(directory: str, venv: str, timeout: float) -> str:
    """Write ``DIR/keystone``: keystone.conf, keys and, if new, the DB and admin password of the template."""
    kdir = os.path.join(directory, "keystone")
    os.makedirs(kdir, exist_ok=True)
    db = os.path.join(kdir, "keystone.db")
    if not os.path.exists(db):
        template_db, password = template(venv, timeout)
        _write_secret(os.path.join(kdir, "admin-password"), _read(password))
        shutil.copyfile(template_db, db + ".tmp")
        os.replace(db + ".tmp", db)
    _keys(kdir)
    conf = os.path.join(kdir, "keystone.conf")
    with open(conf, "w") as f:
        f.write(_conf(db, kdir) + "\n[cache]\nenabled = true\nbackend = dogpile.cache.memory\n")
    return conf


def _session(auth_url: str, verify: str | bool, **auth: str) -> Any:
    try:
        from keystoneauth1 import session
        from keystoneauth1.identity import v3
    except ImportError as e:  # pragma: no cover - keystoneauth1 comes with the swift extra
        raise RuntimeError(
            "swift_server(keystone=True) needs keystoneauth1 (pip install keystoneauth1)"
        ) from e
    plugin = v3.Password(auth_url=auth_url, user_domain_id="default", project_domain_id="default", **auth)
    return session.Session(auth=plugin, verify=verify)


def setup(auth_url: str, password: str, proxy_url: str, verify: str | bool) -> dict[str, str]:
    """Point the catalog at this start's ports, create what is missing; returns project ids by name.

    Sequential on purpose: sqlite answers concurrent writes with "database is locked", and concurrent first
    requests can be judged against keystone's half-loaded policy rules (403).
    """
    sess = _session(auth_url, verify, username="admin", password=password, project_name="admin")

    def get(kind: str) -> list[dict[str, Any]]:
        return sess.get(f"{auth_url}/{kind}").json()[kind]

    def post(kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return sess.post(f"{auth_url}/{kind}s", json={kind: body}).json()[kind]

    def ensure(kind: str, names: dict[str, dict[str, Any]]) -> dict[str, str]:
        have = {x["name"]: x["id"] for x in get(f"{kind}s")}
        return {n: have.get(n) or post(kind, {"name": n, **body})["id"] for n, body in names.items()}

    services = {s["type"]: s["id"] for s in get("services")}
    if "object-store" not in services:
        services["object-store"] = post("service", {"type": "object-store", "name": "swift"})["id"]
    swift_url = proxy_url + "/v1/AUTH_$(project_id)s"
    urls = {services["identity"]: auth_url, services["object-store"]: swift_url}
    missing = {"public", "internal"}
    for ep in get("endpoints"):
        url = urls.get(ep["service_id"])
        if url is not None and ep["url"] != url:
            sess.patch(f"{auth_url}/endpoints/{ep['id']}", json={"endpoint": {"url": url}})
        if ep["service_id"] == services["object-store"]:
            missing.discard(ep["interface"])
    for interface in sorted(missing):
        ep = {"service_id": services["object-store"], "interface": interface, "url": swift_url}
        post("endpoint", {**ep, "region_id": "RegionOne"})
    projects = ensure("project", {"service": {}, "test": {}, "test2": {}})
    roles = ensure("role", {name: {} for name in ("admin", "member", "reader", "service", "ResellerAdmin")})
    roles.update(ensure("role", {"swiftoperator": {}}))
    pw = {SERVICE_USER: SERVICE_PASSWORD, **{u: v[0] for u, v in USERS.items()}}
    users = ensure("user", {u: {"password": p} for u, p in pw.items()})
    grants = [(SERVICE_USER, "service", "admin"), (SERVICE_USER, "service", "service")]
    grants += [(u, project, role) for u, (_, project, role) in USERS.items()]
    for user, project, role in grants:
        sess.put(f"{auth_url}/projects/{projects[project]}/users/{users[user]}/roles/{roles[role]}")
    return projects


def check(auth_url: str, verify: str | bool) -> None:
    """End-to-end: tester's token, the catalog's object-store URL, a HEAD of the account through the proxy."""
    password, project, _ = USERS["tester"]
    sess = _session(auth_url, verify, username="tester", password=password, project_name=project)
    url = sess.get_endpoint(service_type="object-store", interface="public")
    sess.head(url)


def create_application_credential(opts: dict[str, Any], name: str | None = None) -> tuple[str, str]:
    """Create an application credential for the user of ``opts``; returns ``(id, secret)``."""
    auth = {k: opts[k] for k in ("username", "password", "project_name")}
    sess = _session(opts["auth_url"], opts.get("verify", True), **auth)
    user_id = sess.get_user_id()
    body = {"application_credential": {"name": name or f"test-{secrets.token_hex(4)}"}}
    cred = sess.post(f"{opts['auth_url']}/users/{user_id}/application_credentials", json=body).json()
    return cred["application_credential"]["id"], cred["application_credential"]["secret"]
