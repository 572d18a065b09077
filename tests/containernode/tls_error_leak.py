"""Does one failed TLS socket make a healthy one fail in the Dask image's Python?

Why this exists: on the container node a client's port-forwarded connection to a TLS scheduler
was closed about 0.1 s after a worker registered. The cause is the scheduler's Python, not the
port-forward: a nanny closes its connection after `register_nanny`, the scheduler's write to it
fails (a genuine EPIPE/ECONNRESET), and CPython leaves that error on OpenSSL's per-thread error
queue; the next read on any other TLS socket of the event loop's thread then raises the same
OSError instead of `SSLWantReadError`, and Dask closes that healthy connection (CPython issue
gh-148594: `_ssl` does not call `ERR_clear_error()` before `SSL_read_ex`/`SSL_write_ex`; it shows
with OpenSSL 3.4+, which reports the syscall failure as `ERR_LIB_SYS`, turned into OSError since
gh-127257). The probe runs the image's own `python3` (chroot into its unpacked layers), so the
verdict is about the interpreter and OpenSSL the scheduler really runs.

The probe, in the image's Python: two TLS socket pairs over loopback; the client of the second
closes; the server writes to it until the kernel refuses; then the server reads from the first,
healthy pair, which has nothing to read and must say `SSLWantReadError`. A control run clears the
error queue (libcrypto's `ERR_clear_error` through ctypes) right before that read: it must always
say `SSLWantReadError`, else the probe itself is broken.
"""

from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PROBE = r"""
import socket, ssl, sys, time
cert, key, control = sys.argv[1], sys.argv[2], sys.argv[3] == "control"
server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server.load_cert_chain(cert, key)
client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
client.check_hostname = False
client.verify_mode = ssl.CERT_NONE
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()

def settle(step):
    # Non-blocking TLS steps are retried until they stop asking for I/O (bounded).
    for _ in range(2000):
        try:
            return step()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            time.sleep(0.001)
    raise SystemExit("probe: a TLS step never finished")

def connected_pair():
    near = socket.create_connection(listener.getsockname())
    far, _ = listener.accept()
    near = client.wrap_socket(near, do_handshake_on_connect=False)
    far = server.wrap_socket(far, server_side=True, do_handshake_on_connect=False)
    near.setblocking(False)
    far.setblocking(False)
    for _ in range(2000):
        done = 0
        for side in (near, far):
            try:
                side.do_handshake()
                done += 1
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        if done == 2:
            break
        time.sleep(0.001)
    settle(lambda: near.send(b"x"))
    settle(lambda: far.recv(1))  # the server has read once: TLS 1.3 tickets are behind it
    return near, far

healthy_client, healthy_server = connected_pair()
gone_client, gone_server = connected_pair()
gone_client.close()
genuine = None
for _ in range(2000):
    try:
        gone_server.send(b"y" * 1024)
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        pass
    except OSError as exc:
        genuine = exc
        break
    time.sleep(0.001)
if control:
    import ctypes, ctypes.util
    ctypes.CDLL(ctypes.util.find_library("crypto") or "libcrypto.so.3").ERR_clear_error()
try:
    healthy_server.recv(1024)
    healthy = "data"
except ssl.SSLWantReadError:
    healthy = "SSLWantReadError"
except OSError as exc:
    healthy = repr(exc)
print(repr(genuine))
print(healthy)
print(ssl.OPENSSL_VERSION, sys.version.split()[0])
"""
CORRECT = "SSLWantReadError"


@dataclass(frozen=True)
class Verdict:
    """What the healthy socket said after the other one failed, plain and with the queue cleared."""

    genuine: str  # the failed socket's own (real) error
    healthy: str  # the healthy socket's read: CORRECT, or the leaked error
    control: str  # the same read after ERR_clear_error(): must be CORRECT
    runtime: str  # OpenSSL and Python versions of the image

    @property
    def leaks(self) -> bool:
        return self.healthy != CORRECT

    def __str__(self) -> str:
        return (
            f"{self.runtime}: after {self.genuine} on a closed peer, a healthy socket's read "
            f"raised {self.healthy} (with the error queue cleared first: {self.control})"
        )


def unpack_image(archive: Path, rootfs: Path) -> None:
    """The image's layers, in order, into `rootfs` (our own archive: trusted, whiteouts unused)."""
    with tarfile.open(archive) as outer:

        def blob(digest: str) -> IO[bytes]:
            member = outer.extractfile(f"blobs/sha256/{digest.split(':', 1)[1]}")
            assert member is not None, digest
            return member

        index = outer.extractfile("index.json")
        assert index is not None, archive
        manifest = json.load(blob(json.load(index)["manifests"][0]["digest"]))
        for layer in manifest["layers"]:
            with tarfile.open(fileobj=blob(layer["digest"])) as tar:
                tar.extractall(rootfs, filter="fully_trusted")


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate and key for 127.0.0.1, PEM files in `directory`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "probe")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "probe.crt", directory / "probe.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def probe(archive: Path, scratch: Path) -> Verdict:
    """Run the probe with the image's `python3` (needs root for chroot)."""
    rootfs = scratch / "rootfs"
    rootfs.mkdir()
    unpack_image(archive, rootfs)
    work = rootfs / "tmp" / "tls-probe"
    work.mkdir(parents=True)
    (work / "probe.py").write_text(PROBE)
    self_signed(work)
    inside = ["/tmp/tls-probe/probe.py", "/tmp/tls-probe/probe.crt", "/tmp/tls-probe/probe.key"]

    def run(mode: str) -> list[str]:
        done = subprocess.run(
            ["chroot", str(rootfs), "python3", *inside, mode],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = done.stdout.splitlines()
        if done.returncode != 0 or len(lines) != 3:
            raise AssertionError(f"the TLS probe failed ({done.returncode}): {done.stderr[-800:]}")
        return lines

    try:
        genuine, healthy, runtime = run("plain")
        _, control, _ = run("control")
    finally:
        shutil.rmtree(rootfs)  # a few hundred MB unpacked; pytest keeps its temporary dirs
    return Verdict(genuine=genuine, healthy=healthy, control=control, runtime=runtime)
