"""The operator and Dask images from Debian's packages plus the release's wheel, built by
release/docker's own steps: they run as shipped, rebuild to the same digest, list every
package in their SBOM, and refuse a wheel SHA256SUMS does not vouch for.

Needs root (mmdebstrap, overlayfs, chroot), mmdebstrap, and the Debian archive and PyPI: the
tests skip with the reason otherwise. The Debian tree is cached in
~/.cache/dask-kubernetes/images (the first run builds it, about a minute), so later runs spend
their time in the pip step.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from image_support import apply_layers, read_archive, run_in_image
from packaging.markers import default_environment
from packaging.requirements import Requirement

from dask_kubernetes.local.kubelet.shims import _SHIMS
from dask_kubernetes_release.build.command import build_distributions
from dask_kubernetes_release.core.requirements import read_requirements_file

ROOT = Path(__file__).resolve().parents[3]
DOCKER = ROOT / "release" / "docker"
EPOCH = "1764979200"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=10):
            return True
    except OSError:
        return False


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mmdebstrap --mode=root, overlayfs, chroot)"
    for tool in ("mmdebstrap", "unshare", "chroot"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install mmdebstrap util-linux coreutils)"
    for host, port in (("deb.debian.org", 80), ("pypi.org", 443)):
        if not _reachable(host, port):
            return f"needs the network: {host}:{port} is not reachable"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_why_not() is not None, reason=str(_why_not())),
    pytest.mark.timeout(900),
]


def release(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "release", *map(str, argv)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "SOURCE_DATE_EPOCH": EPOCH},
        check=False,
        timeout=900,
    )


@pytest.fixture(scope="module")
def dist(clone_repo: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed tree's wheel and SHA256SUMS, as release.yml's build job hands them on."""
    base = tmp_path_factory.mktemp("image-dist")
    out = base / "dist"
    build_distributions(out, source=clone_repo(base / "clone"))
    done = release("manifest", out)
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def images(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Both images (the cached Debian tree and install layer reused when present), unpacked."""
    base = tmp_path_factory.mktemp("images")
    found: dict[str, dict[str, Any]] = {}
    for kind in ("operator", "dask"):
        archive = base / f"{kind}.oci.tar"
        done = release("image", kind, "--dist", dist, "--out", archive)
        assert done.returncode == 0, done.stderr
        image = read_archive(archive, base / f"{kind}-archive")
        image["archive"], image["stdout"] = archive, done.stdout
        found[kind] = image
    apply_layers(found["operator"], base / "root")
    found["operator"]["root"] = found["dask"]["root"] = base / "root"  # dask: + one layer
    return found


def test_operator_image_runs_its_entrypoint_as_1000_on_a_read_only_root(
    images: dict[str, dict[str, Any]],
) -> None:
    """The config is the Dockerfile's (USER, ENTRYPOINT, ENV); the entrypoint starts as
    1000:1000 with nothing writable, as the chart runs it."""
    image = images["operator"]
    runtime = image["config"]["config"]
    assert runtime["User"] == "1000:1000"
    assert runtime["Entrypoint"] == ["python", "-m", "dask_kubernetes.operator"]
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime["Env"]
    done = run_in_image(image["root"], image["config"], ["--help"])
    assert done.returncode == 0, done.stderr
    assert "usage: python -m dask_kubernetes.operator" in done.stdout
    who = run_in_image(
        image["root"], {"config": {"Env": runtime["Env"]}}, ["id", "-u"], user="1000:1000"
    )
    assert who.stdout.strip() == "1000"


def test_dask_image_runs_the_pods_arguments_as_the_command(
    images: dict[str, dict[str, Any]],
) -> None:
    """The operator's pods give only `args` (dask-scheduler ..., dask-worker ...): with no
    ENTRYPOINT they are the command. Same layers as the operator image, other config."""
    dask, operator = images["dask"], images["operator"]
    assert dask["manifest"]["layers"][:2] == operator["manifest"]["layers"]
    assert "Entrypoint" not in dask["config"]["config"]
    apply_layers(dask, dask["root"].with_name("dask-root"))
    root = dask["root"].with_name("dask-root")
    # Every Dask command the process node fakes with a shim is a real command in the image.
    for program in sorted(name for name in _SHIMS if name.startswith("dask-")):
        done = run_in_image(root, dask["config"], [program, "--version"])
        assert done.returncode == 0, done.stderr
        assert "2026" in done.stdout + done.stderr
    imported = run_in_image(
        root,
        dask["config"],
        [
            "python",
            "-c",
            "import dask_kubernetes, distributed, kr8s; print(distributed.__version__)",
        ],
    )
    assert imported.returncode == 0, imported.stderr


def _selected(python: str) -> set[str]:
    env = {**default_environment(), "python_version": python, "python_full_version": f"{python}.0"}
    env.update({"sys_platform": "linux", "platform_machine": "x86_64"})
    pins = read_requirements_file((DOCKER / "requirements.txt").read_text()).pins
    return {
        f"{entry.name}=={entry.version}"
        for entry in pins
        if entry.requirement.marker is None or entry.requirement.marker.evaluate(env)
    }


def test_the_image_holds_exactly_the_locks_selection_for_its_python(
    images: dict[str, dict[str, Any]], dist: Path
) -> None:
    """Debian's python3 (trixie 3.13) selects the same pins as the Dockerfile's 3.12, and the
    image holds those (binary wheels only, as the RUN step demands), pip, and our wheel."""
    root = images["operator"]["root"]
    (python,) = [p.name for p in (root / "usr" / "local" / "lib").iterdir()]
    version = python.removeprefix("python")
    assert _selected(version) == _selected("3.12")
    sbom = json.loads(images["operator"]["archive"].with_name("operator.oci.cdx.json").read_text())
    pypi = {
        f"{Requirement(c['name']).name.lower().replace('_', '-')}=={c['version']}"
        for c in sbom["components"]
        if c.get("purl", "").startswith("pkg:pypi/")
    }
    (wheel,) = dist.glob("*.whl")
    own = f"dask-kubernetes=={wheel.name.split('-')[1]}"
    pip = {p for p in pypi if p.startswith("pip==")}
    assert pypi == _selected(version) | {own} | pip and len(pip) == 1


def test_sbom_lists_every_debian_and_python_package_in_the_image(
    images: dict[str, dict[str, Any]], dist: Path
) -> None:
    image = images["operator"]
    root = image["root"]
    sbom = json.loads(image["archive"].with_name("operator.oci.cdx.json").read_text())
    assert sbom["metadata"]["component"]["version"] == image["index"]["manifests"][0]["digest"]
    status = (root / "var" / "lib" / "dpkg" / "status").read_text()
    installed = {
        (block.split("Package: ")[1].split("\n")[0], block.split("\nVersion: ")[1].split("\n")[0])
        for block in status.split("\n\n")
        if "Status: install ok installed" in block
    }
    debs = {
        (c["name"], c["version"]): c for c in sbom["components"] if c["purl"].startswith("pkg:deb/")
    }
    assert set(debs) == installed and len(installed) > 50
    assert all(len(c["hashes"][0]["content"]) == 64 for c in debs.values())
    site = next((root / "usr" / "local" / "lib").iterdir()) / "dist-packages"
    for component in sbom["components"]:
        if not component["purl"].startswith("pkg:pypi/"):
            continue
        (info,) = [
            p
            for p in site.glob("*.dist-info")
            if p.name.lower().startswith(component["name"].lower().replace("-", "_") + "-")
        ]
        record = hashlib.sha256((info / "RECORD").read_bytes()).hexdigest()
        assert component["hashes"] == [{"alg": "SHA-256", "content": record}]
        if component["name"] != "pip":
            assert component["externalReferences"], component["name"]
    (wheel,) = dist.glob("*.whl")
    ours = next(c for c in sbom["components"] if c["name"] == "dask-kubernetes")
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert [r["hashes"][0]["content"] for r in ours["externalReferences"]] == [wheel_sha]


def test_the_install_step_rebuilds_to_the_same_digest(dist: Path, tmp_path: Path) -> None:
    """--no-cache runs the Dockerfile's RUN step again (pip downloads and compiles again):
    the same inputs give the same archive bytes."""
    outs = [tmp_path / f"{n}.oci.tar" for n in ("a", "b")]
    for out in outs:
        done = release("image", "operator", "--dist", dist, "--out", out, "--no-cache")
        assert done.returncode == 0, done.stderr
    assert outs[0].read_bytes() == outs[1].read_bytes()


def test_the_debian_layer_rebuilds_to_the_same_digest(
    images: dict[str, dict[str, Any]], dist: Path, tmp_path: Path
) -> None:
    """mmdebstrap again from nothing (an empty cache): the Debian layer has the digest of the
    cached one, as long as the archive has not moved in between (its InRelease is recorded)."""
    out = tmp_path / "fresh.oci.tar"
    done = release("image", "dask", "--dist", dist, "--out", out, "--cache", tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    fresh = read_archive(out, tmp_path / "fresh")
    assert fresh["manifest"] == images["dask"]["manifest"]


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        (
            "changed-byte",
            "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE",
        ),
        ("unlisted", "install-wheel: {wheel} is not listed in /tmp/dist/SHA256SUMS"),
    ],
)
def test_a_wheel_sha256sums_does_not_vouch_for_is_refused(
    attack: str, expected: str, dist: Path, tmp_path: Path
) -> None:
    """A wheel changed after SHA256SUMS was written, or one SHA256SUMS does not list: the
    shared install step (install-wheel.sh, pip --require-hashes) refuses it through this path
    too; exit 1, one line naming the cause, no archive."""
    hostile = tmp_path / "dist"
    shutil.copytree(dist, hostile)
    (wheel,) = hostile.glob("*.whl")
    if attack == "changed-byte":
        data = bytearray(wheel.read_bytes())
        data[-30] ^= 0x01
        wheel.write_bytes(bytes(data))
    else:
        sums = hostile / "SHA256SUMS"
        sums.write_text(sums.read_text().replace(wheel.name, "other-0-py3-none-any.whl"))
    out = tmp_path / "hostile.oci.tar"
    done = release("image", "operator", "--dist", hostile, "--out", out)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: the image's RUN step failed (exit 1): ")
    assert expected.format(wheel=wheel.name) in lines[0]
    assert not out.exists()
