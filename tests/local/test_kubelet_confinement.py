"""The confinement a container process gets is real: read from /proc and the file system by the
process itself, for a root kubelet and for one that is not root.

Why: issue #21 — the process kubelet accepted security settings and applied none of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dask_kubernetes.local.kubelet.confinement import Confinement, last_capability

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root (to be both kinds of kubelet)"
)

PROBE = (
    "import os, sys\n"
    "status = open('/proc/self/status').read().splitlines()\n"
    "print(os.getuid(), *[l.split()[1] for l in status if l.startswith(('CapEff', 'CapBnd'))])\n"
    "for path in sys.argv[1:]:\n"
    "    try:\n        open(path, 'w').close(); print('wrote', path)\n"
    "    except OSError as e:\n        print('refused', path, e.strerror)\n"
)


def run(confinement: Confinement, *paths: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, paths)],
        preexec_fn=confinement.apply,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_a_root_process_with_every_capability_dropped_holds_none(tmp_path: Path) -> None:
    everything = tuple(range(last_capability() + 1))
    assert run(Confinement(drop_capabilities=everything)) == ["0 0000000000000000 0000000000000000"]


def test_read_only_root_for_a_root_kubelet(tmp_path: Path) -> None:
    writable, elsewhere = tmp_path / "pod", tmp_path / "elsewhere"
    writable.mkdir()
    confinement = Confinement(read_only_root=True, writable=(str(writable),))
    lines = run(confinement, writable / "f", elsewhere)
    assert lines[1:] == [f"wrote {writable / 'f'}", f"refused {elsewhere} Read-only file system"]


def test_read_only_root_for_a_kubelet_that_is_not_root() -> None:
    """The kubelet itself runs as nobody here: it makes the mount namespace inside a user
    namespace of its own ids."""
    tmp_path = Path(tempfile.mkdtemp(prefix="dask-k8s-confinement-"))  # nobody must reach it
    try:
        _read_only_root_as_nobody(tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def _read_only_root_as_nobody(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    writable, elsewhere = tmp_path / "pod", tmp_path / "elsewhere"
    writable.mkdir()
    os.chown(writable, 65534, 65534)
    os.chown(tmp_path, 65534, 65534)  # writable for nobody, but for the mount namespace
    kubelet = (
        "import sys\n"
        "from dask_kubernetes.local.kubelet.confinement import Confinement\n"
        "import subprocess\n"
        f"c = Confinement(read_only_root=True, writable=({str(writable)!r},), no_new_privs=True)\n"
        f"done = subprocess.run([sys.executable, '-c', {PROBE!r}, *sys.argv[1:]],"
        " preexec_fn=c.apply, capture_output=True, text=True)\n"
        "print(done.stdout, end=''); print(done.stderr, end='', file=sys.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", kubelet, str(writable / "f"), str(elsewhere)],
        user=65534,
        group=65534,
        extra_groups=[],
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "CLONE_NEWUSER" in done.stderr:
        pytest.skip(f"this host forbids unprivileged user namespaces: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[0] == "65534"
    assert lines[1:] == [f"wrote {writable / 'f'}", f"refused {elsewhere} Read-only file system"]
    assert not elsewhere.exists()
