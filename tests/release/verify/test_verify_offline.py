"""Verification works on a fresh machine with no network: empty HOME, every socket refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
NO_NETWORK = """
import socket

def _refuse(*args, **kwargs):
    raise OSError("network disabled by test_verify_offline")

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


def test_fresh_home_and_no_network(tmp_path: Path, attestation_fixtures: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_NETWORK)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_") and k != "PYTHONPATH"}
    env.update(HOME=str(home), PYTHONPATH=str(site), DASK_K8S_NO_BOOTSTRAP="1")
    dist = attestation_fixtures / "sigstore-3.6.1.tar.gz"
    proc = subprocess.run(
        [
            sys.executable, "-m", "release", "verify", str(dist),
            "--provenance", f"{dist}.provenance",
            "--repository", "sigstore/sigstore-python", "--workflow", "release.yml",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("OK sigstore-3.6.1.tar.gz  sigstore/sigstore-python")
    # Nothing was cached or written under HOME: the bundled trust root was read in place.
    assert list(home.iterdir()) == []
    # And the stand-in really blocks the network (the check above is not vacuous).
    probe = subprocess.run(
        [sys.executable, "-c", "import urllib.request; urllib.request.urlopen('https://pypi.org')"],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert probe.returncode != 0
    assert "network disabled" in probe.stderr
