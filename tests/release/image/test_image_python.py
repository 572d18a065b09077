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
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from image_support import (
    apply_layers,
    in_image,
    python_images_unavailable,
    read_archive,
    release,
    run_in_image,
)
from packaging.markers import default_environment
from packaging.requirements import Requirement

from dask_kubernetes.local.kubelet.shims import _SHIMS
from dask_kubernetes_release.core.requirements import read_requirements_file

DOCKER = Path(__file__).resolve().parents[3] / "release" / "docker"


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        python_images_unavailable() is not None, reason=str(python_images_unavailable())
    ),
    pytest.mark.timeout(900),
]


@pytest.fixture
def dist(image_dist: Path) -> Path:
    return image_dist


@pytest.fixture
def images(python_images: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return python_images


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


def test_a_scheduler_and_a_worker_from_the_dask_image_compute_together(
    images: dict[str, dict[str, Any]],
) -> None:
    """`dask-scheduler` and `dask-worker`, as the operator's pods run them (uid 1000, read-only
    root, a writable /tmp as an emptyDir gives), serve a client in the image: 1+2+3 == 6."""
    dask = images["dask"]
    root = dask["root"].with_name("dask-root")
    if not root.exists():
        apply_layers(dask, root)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    started = []
    try:
        for argv in (
            ["dask-scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            ["dask-worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"],
        ):
            full, env = in_image(root, dask["config"], argv, writable_tmp=True)
            started.append(  # own process group: SIGTERM reaches dask, not just unshare
                subprocess.Popen(
                    full,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        client = (
            "from distributed import Client\n"
            f"with Client({address!r}, timeout=120) as c:\n"
            "    c.wait_for_workers(1, timeout=120)\n"
            "    print(c.submit(sum, [1, 2, 3]).result())\n"
        )
        full, env = in_image(root, dask["config"], ["python", "-c", client], writable_tmp=True)
        done = subprocess.run(full, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "6"
    finally:
        for process in reversed(started):
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    the same inputs give the same archive bytes, and the same SBOM bytes."""
    outs = [tmp_path / f"{n}.oci.tar" for n in ("a", "b")]
    for out in outs:
        done = release("image", "operator", "--dist", dist, "--out", out, "--no-cache")
        assert done.returncode == 0, done.stderr
    assert outs[0].read_bytes() == outs[1].read_bytes()
    sboms = [out.with_name(out.name.replace(".oci.tar", ".oci.cdx.json")) for out in outs]
    assert sboms[0].read_bytes() == sboms[1].read_bytes()


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


def test_a_changed_cached_layer_is_refused_not_shipped(
    images: dict[str, dict[str, Any]], dist: Path, tmp_path: Path
) -> None:
    """The cache holds the Debian layer's blob; one changed byte in it (on disk, by anyone)
    must fail the build (exit 1) instead of shipping those bytes under the old digest."""
    digest = images["dask"]["manifest"]["layers"][0]["digest"]
    cache_root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    entries = [
        path.parent
        for path in (cache_root / "dask-kubernetes" / "images" / "rootfs").glob("*/rootfs.json")
        if json.loads(path.read_text())["layer"]["digest"] == digest
    ]
    assert entries, "the fixture's Debian layer is not in the default cache"
    copy = tmp_path / "cache" / "rootfs" / entries[0].name
    (copy / "tree").mkdir(parents=True)
    shutil.copy2(entries[0] / "rootfs.json", copy / "rootfs.json")
    shutil.copytree(entries[0] / "blobs", copy / "blobs")
    (blob,) = (copy / "blobs").iterdir()
    with blob.open("r+b") as data:
        data.seek(1000)
        byte = data.read(1)
        data.seek(1000)
        data.write(bytes([byte[0] ^ 0x01]))
    out = tmp_path / "dask.oci.tar"
    done = release("image", "dask", "--dist", dist, "--out", out, "--cache", tmp_path / "cache")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: cached layer {blob} does not match {digest}: "
        "the cache was changed; rebuild with --refresh"
    )
    assert not out.exists()
