"""Image archives built here, without a registry: the layer and layout writers, the pause,
busybox and CoreDNS images, their SBOMs, and the command's refusals.

Why: the container node imports these archives; each must be the same bytes from the same
inputs (so a digest pinned in a chart or a test means one thing), name itself the way
containerd looks images up, and carry an SBOM that accounts for what is in it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from image_support import apply_layers, read_archive, release

from dask_kubernetes_release.core.errors import UsageError
from dask_kubernetes_release.image.layer import write_layer
from dask_kubernetes_release.image.oci import parse_reference

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mknod, unshare --pid)")
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc to build pause")


def _tree(base: Path, mtime: int) -> Path:
    tree = base / "tree"
    (tree / "b" / "c").mkdir(parents=True)
    (tree / "a.txt").write_text("a\n")
    (tree / "b" / "c" / "run").write_text("#!/bin/sh\n")
    (tree / "b" / "c" / "run").chmod(0o755)
    os.link(tree / "a.txt", tree / "b" / "hard")
    (tree / "link").symlink_to("b/c/run")
    for path in [tree, *tree.rglob("*")]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return tree


def test_a_layer_is_a_function_of_the_files_not_of_when_or_where(tmp_path: Path) -> None:
    """Same files at another path with other mtimes: same digest; sorted members, one epoch,
    hard links kept as links, symlinks as symlinks."""
    first = write_layer(_tree(tmp_path / "x", 1_000_000), tmp_path / "blobs1", 1764979200)
    second = write_layer(_tree(tmp_path / "y" / "z", 2_000_000), tmp_path / "blobs2", 1764979200)
    assert (first.digest, first.diff_id) == (second.digest, second.diff_id)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.digest == "sha256:" + hashlib.sha256(first.path.read_bytes()).hexdigest()
    with tarfile.open(first.path) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["a.txt", "b", "b/c", "b/c/run", "b/hard", "link"]
    assert {m.mtime for m in members} == {1764979200}
    assert {(m.uname, m.gname) for m in members} == {("", "")}
    hard = next(m for m in members if m.name == "b/hard")
    assert hard.islnk() and hard.linkname == "a.txt"
    assert next(m for m in members if m.name == "link").linkname == "b/c/run"
    other_epoch = write_layer(_tree(tmp_path / "w", 1_000_000), tmp_path / "blobs3", 1764979201)
    assert other_epoch.digest != first.digest


@needs_root
def test_overlay_whiteouts_and_opaque_directories_become_oci_markers(tmp_path: Path) -> None:
    """An overlayfs upper directory: a 0/0 character device is a deletion (`.wh.NAME`), an
    opaque directory hides the lower one (`.wh..wh..opq`)."""
    upper = tmp_path / "upper"
    (upper / "etc" / "gone-dir").mkdir(parents=True)
    os.mknod(upper / "etc" / "removed", 0o600 | 0o020000, os.makedev(0, 0))
    os.setxattr(upper / "etc" / "gone-dir", "trusted.overlay.opaque", b"y")
    layer = write_layer(upper, tmp_path / "blobs", 1764979200)
    with tarfile.open(layer.path) as tar:
        names = tar.getnames()
    assert "etc/.wh.removed" in names and "etc/removed" not in names
    assert "etc/gone-dir/.wh..wh..opq" in names


@pytest.mark.parametrize(
    ("text", "full", "tag"),
    [
        ("pause:1", "docker.io/library/pause:1", "1"),
        ("localhost/dk/pause:1", "localhost/dk/pause:1", "1"),
        (
            "ghcr.io/dask/dask-kubernetes-operator:2026.3.0",
            "ghcr.io/dask/dask-kubernetes-operator:2026.3.0",
            "2026.3.0",
        ),
        ("localhost:5000/x:y", "localhost:5000/x:y", "y"),
    ],
)
def test_names_are_normalised_as_containerd_looks_them_up(text: str, full: str, tag: str) -> None:
    reference = parse_reference(text)
    assert (reference.full, reference.tag) == (full, tag)


@pytest.mark.parametrize("text", ["pause", "Pause:1", "a b:1", "x@sha256:00", "x:", "x:a/b"])
def test_names_without_a_tag_or_with_junk_are_refused(text: str) -> None:
    with pytest.raises(UsageError):
        parse_reference(text)


@needs_gcc
def test_pause_image_is_reproducible_named_and_accounted_for(tmp_path: Path) -> None:
    """Two builds: the same archive bytes; the index names it for containerd; the config runs
    /pause as 65535; the SBOM's root is this manifest and lists /pause by its sha256."""
    first = release("image", "pause", "--out", tmp_path / "a" / "pause.oci.tar")
    second = release("image", "pause", "--out", tmp_path / "b" / "pause.oci.tar")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    a, b = (tmp_path / d / "pause.oci.tar" for d in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()
    image = read_archive(a, tmp_path / "unpacked")
    (entry,) = image["index"]["manifests"]
    assert entry["annotations"] == {
        "io.containerd.image.name": "localhost/dask-kubernetes/pause:1",
        "org.opencontainers.image.ref.name": "1",
    }
    assert entry["platform"] == {"architecture": "amd64", "os": "linux"}
    assert first.stdout.strip().startswith(f"localhost/dask-kubernetes/pause:1@{entry['digest']} ")
    config = image["config"]
    assert config["config"] == {"Entrypoint": ["/pause"], "User": "65535:65535"}
    assert config["rootfs"]["diff_ids"][0].startswith("sha256:")
    root = tmp_path / "root"
    apply_layers(image, root)
    assert sorted(p.name for p in root.iterdir()) == ["pause"]
    pause_sha = hashlib.sha256((root / "pause").read_bytes()).hexdigest()
    sbom = json.loads((tmp_path / "a" / "pause.oci.cdx.json").read_text())
    assert sbom["metadata"]["component"]["version"] == entry["digest"]
    (component,) = sbom["components"]
    assert component["name"] == "pause"
    assert component["hashes"] == [{"alg": "SHA-256", "content": pause_sha}]
    assert sbom["metadata"]["timestamp"].startswith("2025-12-06T00:00:00")
    file_type = subprocess.run(["file", "-b", str(root / "pause")], capture_output=True, text=True)
    if file_type.returncode == 0:
        assert "statically linked" in file_type.stdout


def _await(condition: Callable[[], bool], bound: float) -> bool:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _await_exit(process: subprocess.Popen[bytes], bound: float) -> int | None:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            return code
        time.sleep(0.05)
    return None


@needs_gcc
@needs_root
def test_pause_as_pid_1_exits_on_sigterm_and_reaps_orphans(tmp_path: Path) -> None:
    """PID 1 of a PID namespace ignores signals it has no handler for: pause must still end on
    SIGTERM (exit 0), as the kubelet stops a sandbox."""
    assert release("image", "pause", "--out", tmp_path / "p.oci.tar").returncode == 0
    image = read_archive(tmp_path / "p.oci.tar", tmp_path / "unpacked")
    apply_layers(image, tmp_path / "root")
    process = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", str(tmp_path / "root" / "pause")],
        stderr=subprocess.PIPE,
    )
    try:
        # The child is PID 1 of the new namespace: signal it through the host PID.
        deadline = time.monotonic() + 30
        child = None
        while child is None and time.monotonic() < deadline:
            found = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            child = int(found[0]) if found else None
        assert child is not None, "pause never started"
        status = Path(f"/proc/{child}/status").read_text()
        (nspid,) = [line for line in status.splitlines() if line.startswith("NSpid:")]
        assert nspid.split()[-1] == "1"
        # An orphan in the pod's PID namespace is re-parented to pause, which must reap it.
        subprocess.run(
            ["nsenter", "-t", str(child), "-p", "--", "sh", "-c", "sleep 5 & exit 0"], check=True
        )
        children = Path(f"/proc/{child}/task/{child}/children")
        assert _await(lambda: children.read_text().split() != [], 30), "no orphan re-parented"
        assert _await(lambda: children.read_text().split() == [], 30), "the orphan was not reaped"
        os.kill(child, signal.SIGTERM)
        assert _await_exit(process, 30) == 0
        assert process.stderr is not None
        assert b"signal 15, exiting" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_busybox_image_has_a_shell_and_its_debian_package(tmp_path: Path) -> None:
    if shutil.which("apt-get") is None:
        pytest.skip("needs apt-get to fetch busybox-static")
    done = release("image", "busybox", "--out", tmp_path / "bb.oci.tar")
    if done.returncode != 0 and "download" in done.stderr:
        pytest.skip(f"Debian archive not reachable: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    image = read_archive(tmp_path / "bb.oci.tar", tmp_path / "unpacked")
    assert image["config"]["config"]["Cmd"] == ["/bin/sh"]
    root = tmp_path / "root"
    apply_layers(image, root)
    assert (root / "bin" / "sh").readlink() == Path("busybox")
    ran = subprocess.run([str(root / "bin" / "busybox"), "echo", "hi"], capture_output=True)
    assert ran.stdout == b"hi\n"
    sbom = json.loads((tmp_path / "bb.oci.cdx.json").read_text())
    (component,) = sbom["components"]
    assert component["name"] == "busybox-static"
    assert component["purl"].startswith("pkg:deb/debian/busybox-static@")


def test_coredns_image_takes_a_binary_by_path(tmp_path: Path) -> None:
    binary = tmp_path / "coredns"
    shutil.copyfile("/bin/true", binary)
    done = release("image", "coredns", "--binary", binary, "--out", tmp_path / "c.oci.tar")
    assert done.returncode == 0, done.stderr
    image = read_archive(tmp_path / "c.oci.tar", tmp_path / "unpacked")
    assert image["config"]["config"] == {"Entrypoint": ["/coredns"]}
    apply_layers(image, tmp_path / "root")
    assert (tmp_path / "root" / "coredns").read_bytes() == binary.read_bytes()
    assert (tmp_path / "root" / "coredns").stat().st_mode & 0o777 == 0o755


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["coredns"], "error: coredns needs --binary PATH (the static CoreDNS executable)"),
        (["coredns", "--binary", "/etc/hostname"], "error: /etc/hostname: not an ELF executable"),
        (["coredns", "--binary", "/nonexistent"], "error: /nonexistent: no such file"),
        (
            ["pause", "--name", "Pause:1"],
            "error: image name 'Pause:1': repository parts must be non-empty lower case",
        ),
        (["operator"], "error: the operator and dask images need --dist DIR (wheel + SHA256SUMS)"),
        (["dask", "--dist", "/nonexistent"], "error: --dist /nonexistent: not a directory"),
        (["operator", "--dist", "/tmp", "--suite", "x y"], None),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    argv: list[str], message: str | None, tmp_path: Path
) -> None:
    done = release("image", *argv, "--out", tmp_path / "x.oci.tar")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    if message is not None:
        assert lines[0] == message
    assert not (tmp_path / "x.oci.tar").exists()


def test_layout_refuses_to_empty_a_directory_that_is_not_a_layout(tmp_path: Path) -> None:
    """`--layout` names a directory the build rewrites; a mistyped one holding other files is
    left alone (exit 2), an earlier layout is replaced."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me\n")
    done = release("image", "pause", "--layout", precious, "--out", tmp_path / "p.oci.tar")
    assert done.returncode == 2
    assert (
        done.stderr.strip()
        == f"error: --layout {precious}: exists and is not an OCI layout; not touching it"
    )
    assert (precious / "notes.txt").read_text() == "keep me\n"
    layout = tmp_path / "layout"
    for _ in range(2):
        done = release("image", "pause", "--layout", layout, "--out", tmp_path / "p.oci.tar")
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in layout.iterdir()) == ["blobs", "index.json", "oci-layout"]
    assert len(list((layout / "blobs" / "sha256").iterdir())) == 3
