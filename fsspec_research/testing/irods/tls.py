"""A throw-away CA and server certificate for 127.0.0.1/localhost (``cryptography`` or ``openssl``)."""

from __future__ import annotations

import os
import ssl
import subprocess
import tempfile


def make_certs(directory: str) -> tuple[str, str, str]:
    """Write ``ca.pem``, ``server.pem`` (leaf + CA), ``server.key`` in ``directory``; return their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = tuple(os.path.join(directory, n) for n in ("ca.pem", "server.pem", "server.key"))
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _with_openssl(directory, *paths)
    else:
        _with_cryptography(*paths)
    return paths  # type: ignore[return-value]


def server_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def _with_openssl(directory: str, ca: str, cert: str, key: str) -> None:
    ca_key = os.path.join(directory, "ca.key")
    csr = os.path.join(directory, "server.csr")
    with tempfile.NamedTemporaryFile("w", suffix=".ext", dir=directory, delete=False) as ext:
        ext.write(
            "basicConstraints=critical,CA:FALSE\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "extendedKeyUsage=serverAuth\n"
        )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    try:
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        ca_ext = [
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]
        run(
            "req",
            "-x509",
            *ec,
            "-keyout",
            ca_key,
            "-out",
            ca,
            "-days",
            "3650",
            "-subj",
            "/CN=test CA",
            *ca_ext,
        )
        run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
        serial = ["-CAcreateserial", "-days", "3650", "-extfile", ext.name]
        run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-out", cert, *serial)
        with open(ca) as f_ca, open(cert, "a") as f_cert:
            f_cert.write(f_ca.read())
    finally:
        for p in (ext.name, csr, ca_key, os.path.join(directory, "ca.srl")):
            if os.path.exists(p):
                os.unlink(p)


def _with_cryptography(ca_path: str, cert_path: str, key_path: str) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(days=1), now + datetime.timedelta(days=3650)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = name("fsspec-research test CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with open(key_path, "wb") as f:
        f.write(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    os.chmod(key_path, 0o600)
    with open(cert_path, "wb") as f:
        f.write(leaf.public_bytes(pem) + ca.public_bytes(pem))
    with open(ca_path, "wb") as f:
        f.write(ca.public_bytes(pem))
