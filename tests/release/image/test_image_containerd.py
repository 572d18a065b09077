"""The archives go into containerd 2.x as they are (`ctr images import`) and run under runc
the way the chart runs the operator: as 1000:1000 on a read-only root filesystem.

Why here and not only in the node's tests: the import names, digests and config are the image
builder's contract; a broken one should fail next to the code that writes it. Needs root and
the node binaries (containerd, ctr, containerd-shim-runc-v2, runc) from
DASK_KUBERNETES_NODE_BINARIES or the node build cache; skips with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from image_support import python_images_unavailable, release

NEEDED = ("containerd", "ctr", "containerd-shim-runc-v2", "runc")
NAMESPACE = "images-test"


def node_binaries() -> Path | None:
    """The directory holding every binary in NEEDED, or None."""
    given = os.environ.get("DASK_KUBERNETES_NODE_BINARIES")
    candidates = (
        [Path(given), Path(given) / "bin"]
        if given
        else sorted(Path.home().glob(".cache/dask-kubernetes/node/*/bin"))
    )
    for candidate in candidates:
        if all((candidate / name).is_file() for name in NEEDED):
            return candidate
    return None


BIN = node_binaries()
pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (containerd, runc)"),
    pytest.mark.skipif(
        BIN is None,
        reason="needs containerd, ctr, containerd-shim-runc-v2 and runc: set "
        "DASK_KUBERNETES_NODE_BINARIES or build them "
        "(dask_kubernetes.local.provision build --node)",
    ),
    pytest.mark.timeout(600),
]

CONFIG = """version = 3
root = "{base}/root"
state = "{base}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime",
                    "io.containerd.cri.v1.images"]
[grpc]
  address = "{base}/c.sock"
[ttrpc]
  address = "{base}/c.ttrpc"
"""


def _await(condition: Callable[[], bool], bound: float) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


class Containerd:
    """A private containerd (own root, state and socket) and `ctr` against it."""

    def __init__(self, base: Path, binaries: Path) -> None:
        self.base, self.bin = base, binaries
        self.socket = base / "c.sock"

    def ctr(self, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / "ctr"), "--address", str(self.socket), "-n", NAMESPACE, *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def import_archive(self, archive: Path) -> None:
        done = self.ctr("images", "import", str(archive))
        assert done.returncode == 0, done.stderr

    def run(self, image: str, *argv: str) -> subprocess.CompletedProcess[str]:
        """`ctr run --rm` as 1000:1000 on a read-only root, runc from the node binaries."""
        name = f"t{time.monotonic_ns()}"
        return self.ctr(
            "run", "--rm", "--read-only", "--user", "1000:1000",
            "--runc-binary", str(self.bin / "runc"), image, name, *argv,
        )  # fmt: skip


@pytest.fixture(scope="module")
def containerd() -> Iterator[Containerd]:
    assert BIN is not None
    base = Path(tempfile.mkdtemp(prefix="ctd-", dir="/tmp"))  # short: a socket path is <108
    (base / "config.toml").write_text(CONFIG.format(base=base))
    env = {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    log = (base / "containerd.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "containerd"), "--config", str(base / "config.toml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    daemon = Containerd(base, BIN)
    try:
        assert _await(lambda: daemon.ctr("version", timeout=10).returncode == 0, 60), (
            base / "containerd.log"
        ).read_text()[-2000:]
        yield daemon
    finally:
        for task in daemon.ctr("tasks", "ls", "-q").stdout.split():
            daemon.ctr("tasks", "kill", "-s", "SIGKILL", task)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        mounts = Path("/proc/self/mounts").read_text().splitlines()
        for target in sorted((m.split()[1] for m in mounts if str(base) in m), reverse=True):
            subprocess.run(["umount", "-l", target], check=False)
        shutil.rmtree(base, ignore_errors=True)


def _digest_of(stdout: str) -> tuple[str, str]:
    """(name, manifest digest) from `release image`'s `NAME@DIGEST -> OUT ...` line."""
    name, _, rest = stdout.strip().partition("@")
    return name, rest.split()[0]


def _listed(daemon: Containerd) -> dict[str, str]:
    lines = daemon.ctr("images", "ls").stdout.splitlines()[1:]
    return {line.split()[0]: line.split()[2] for line in lines}


def test_scratch_images_import_under_their_names_and_busybox_runs_non_root_read_only(
    containerd: Containerd, tmp_path: Path
) -> None:
    names = {}
    for kind in ("pause", "busybox"):
        done = release("image", kind, "--out", tmp_path / f"{kind}.oci.tar", timeout=240)
        if kind == "busybox" and done.returncode != 0 and "download" in done.stderr:
            pytest.skip(f"Debian archive not reachable: {done.stderr.strip()}")
        assert done.returncode == 0, done.stderr
        containerd.import_archive(tmp_path / f"{kind}.oci.tar")
        name, digest = _digest_of(done.stdout)
        names[name] = digest
    listed = _listed(containerd)
    assert {name: listed.get(name) for name in names} == names
    ran = containerd.run(
        "localhost/dask-kubernetes/busybox:1", "/bin/sh", "-c", "id -u; touch /x || echo refused"
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == "1000"
    assert "Read-only file system" in ran.stderr and "refused" in ran.stdout


@pytest.mark.slow
def test_operator_and_dask_images_run_under_runc_as_the_chart_runs_the_operator(
    containerd: Containerd, request: pytest.FixtureRequest
) -> None:
    why = python_images_unavailable()
    if why is not None:
        pytest.skip(why)
    images: dict[str, dict[str, Any]] = request.getfixturevalue("python_images")
    for image in images.values():
        containerd.import_archive(image["archive"])
    listed = _listed(containerd)
    operator, _ = _digest_of(images["operator"]["stdout"])
    dask, _ = _digest_of(images["dask"]["stdout"])
    for image in images.values():
        name, digest = _digest_of(image["stdout"])
        assert listed.get(name) == digest
    help_text = containerd.run(operator, "python", "-m", "dask_kubernetes.operator", "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "usage: python -m dask_kubernetes.operator" in help_text.stdout
    worker = containerd.run(dask, "dask-worker", "--version")
    assert worker.returncode == 0, worker.stderr


def test_coredns_image_from_the_node_build_runs(containerd: Containerd, tmp_path: Path) -> None:
    """The CoreDNS image made from the binary the node build produced starts under runc."""
    assert BIN is not None
    if not (BIN / "coredns").is_file():
        pytest.skip(f"no coredns binary in {BIN}")
    archive = tmp_path / "coredns.oci.tar"
    done = release("image", "coredns", "--binary", BIN / "coredns", "--out", archive)
    assert done.returncode == 0, done.stderr
    containerd.import_archive(archive)
    name, digest = _digest_of(done.stdout)
    assert _listed(containerd).get(name) == digest
    ran = containerd.run(name, "/coredns", "-version")
    assert ran.returncode == 0, ran.stderr
    assert "CoreDNS-" in ran.stdout
