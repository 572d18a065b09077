"""The toolkit as a product security teams install: dask-kubernetes-release.

Its wheel and sdist build reproducibly with the project's own build code (SOURCE_DATE_EPOCH from
the commit, the hash-locked build backend). A fresh virtual environment with only that wheel and
its hash-locked dependency closure (toolkit_env.py) then verifies the real PyPI fixtures, our own
release (the toolkit's distributions, attested in the test), and a release served by a local
index; `verify --help` answers there without importing sigstore or pydantic.

Network: pip installs the locked closure (PyPI or its cache). Mocked: nothing. The release is
signed with a local key (`attest --key`): Sigstore's signing servers and GitHub's OIDC token are
out of reach here, so keyless signing is the one step replaced.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from index_server import Index, Served, serving
from toolkit_env import CONSOLE_SCRIPT, installed, make_venv

from dask_kubernetes_release.build.command import build_distributions

ROOT = Path(__file__).resolve().parents[3]
SIGSTORE = "sigstore-3.6.1.tar.gz"
SIGSTORE_POLICY = ("--repository", "sigstore/sigstore-python", "--workflow", "release.yml")
NOT_WANTED = {"dask", "distributed", "kopf", "kr8s", "pytest", "dask-kubernetes", "pyyaml"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def toolkit_builds(
    clone_repo: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Path], list[Path]]:
    """Two builds of the toolkit (release/ of the last commit) from clones at two paths."""
    base = tmp_path_factory.mktemp("toolkit-builds")
    builds = []
    for name in ("clone-a", "somewhere/else/clone-b"):
        clone = clone_repo(base / name)
        builds.append(
            build_distributions(
                base / f"{name}-dist",
                source=clone / "release",
                lock=clone / "release" / "requirements.lock",
            )
        )
    return builds[0], builds[1]


@pytest.fixture(scope="session")
def toolkit_bin(
    toolkit_builds: tuple[list[Path], list[Path]], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    wheel = next(p for p in toolkit_builds[0] if p.name.endswith(".whl"))
    return make_venv(tmp_path_factory.mktemp("toolkit-venv") / "venv", wheel)


def _run(bin_dir: Path, cwd: Path, *argv: object) -> subprocess.CompletedProcess[str]:
    """A console script of the fresh venv, from a directory outside the clone, empty HOME."""
    home = cwd / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(
        [str(bin_dir / str(argv[0])), *map(str, argv[1:])],
        cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip


def test_the_toolkit_builds_reproducibly(toolkit_builds: tuple[list[Path], list[Path]]) -> None:
    first, second = toolkit_builds
    names = sorted(p.name for p in first)
    assert names == sorted(p.name for p in second)
    assert sorted(n.rsplit(".", 1)[-1] for n in names) == ["gz", "whl"]  # an sdist and a wheel
    assert all(n.startswith("dask_kubernetes_release-") for n in names)
    for a, b in zip(sorted(first), sorted(second), strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_installs_only_what_verification_needs(toolkit_bin: Path, tmp_path: Path) -> None:
    present = installed(toolkit_bin)
    assert "dask-kubernetes-release" in present
    assert {"sigstore", "pypi-attestations"} <= present
    assert present.isdisjoint(NOT_WANTED), sorted(present & NOT_WANTED)
    assert (toolkit_bin / CONSOLE_SCRIPT).is_file()
    # The project's own policy ships in the package: dask-kubernetes files need no options.
    where = _run(toolkit_bin, tmp_path, "python", "-c",
                 "from dask_kubernetes_release.verify.policy import PROJECT_POLICY as p; "
                 "print(p.is_file(), p.parent.name)")  # fmt: skip
    assert where.stdout.split() == ["True", "verify"], where.stderr


def _import_profile(bin_dir: Path, cwd: Path, *argv: str) -> tuple[set[str], int]:
    """Top-level packages a fresh `python -m dask_kubernetes_release ARGV` imports, and the
    cumulative import time (microseconds) of the toolkit's own top-level imports."""
    proc = _run(bin_dir, cwd, "python", "-X", "importtime", "-m", "dask_kubernetes_release", *argv)
    packages, ours_us = set(), 0
    for line in proc.stderr.splitlines():
        if not (line.startswith("import time:") and "|" in line):
            continue
        _own, cumulative, name = line.removeprefix("import time:").split("|")
        if not cumulative.strip().isdigit():
            continue  # the header
        packages.add(name.strip().split(".")[0])
        top_level = name.startswith(" ") and not name.startswith("  ")
        if top_level and name.strip().startswith("dask_kubernetes_release"):
            ours_us += int(cumulative)
    return packages, ours_us


def test_help_answers_without_the_crypto_stack(toolkit_bin: Path, tmp_path: Path) -> None:
    packages, ours_us = _import_profile(toolkit_bin, tmp_path, "verify", "--help")
    assert "dask_kubernetes_release" in packages
    assert packages.isdisjoint({"sigstore", "pydantic", "pypi_attestations", "cryptography"})
    # Generous: a few tens of ms on an idle machine; this one is shared with other jobs.
    assert ours_us < 1_000_000, f"{ours_us} us importing the toolkit for --help"
    inspect_packages, _ = _import_profile(toolkit_bin, tmp_path, "inspect", "--help")
    assert inspect_packages.isdisjoint({"sigstore", "pydantic"})
    script = _run(toolkit_bin, tmp_path, CONSOLE_SCRIPT, "verify", "--help")
    assert script.returncode == 0
    assert script.stdout.startswith("usage: dask-kubernetes-release verify")
    assert "NAME==VERSION" in script.stdout


def test_maintainer_commands_say_what_they_need(toolkit_bin: Path, tmp_path: Path) -> None:
    run = _run(toolkit_bin, tmp_path, CONSOLE_SCRIPT, "attest", "dist")  # needs cyclonedx
    assert run.returncode == 2
    assert "dask-kubernetes-release[maintainer]" in run.stderr
    assert "Traceback" not in run.stderr
    # Asked only for its help, the command still answers, naming what to install.
    helped = _run(toolkit_bin, tmp_path, CONSOLE_SCRIPT, "attest", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "pip install 'dask-kubernetes-release[maintainer]'" in helped.stdout


def test_version_names_the_installed_wheel(
    toolkit_bin: Path, toolkit_builds: tuple[list[Path], list[Path]], tmp_path: Path
) -> None:
    wheel = next(p for p in toolkit_builds[0] if p.name.endswith(".whl"))
    version = wheel.name.split("-")[1]
    proc = _run(toolkit_bin, tmp_path, CONSOLE_SCRIPT, "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{CONSOLE_SCRIPT} {version}\n"


def test_maintainer_commands_work_on_the_clone_they_are_run_in(
    toolkit_bin: Path, clone_repo: Callable[[Path], Path], tmp_path: Path
) -> None:
    """Installed, the toolkit's files are in site-packages: the clone is the working directory."""
    outside = tmp_path / "outside"
    outside.mkdir()
    refused = _run(toolkit_bin, outside, CONSOLE_SCRIPT, "tag", "--dry-run", "2099.1.0")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.splitlines() == [
        f"error: {outside.resolve()} is not inside a clone of dask-kubernetes (no pyproject.toml "
        "naming dask-kubernetes beside release/ here or above): run this command from a clone"
    ]
    clone = clone_repo(tmp_path / "clone")
    checked = _run(toolkit_bin, clone / "docs", CONSOLE_SCRIPT, "tag", "--dry-run", "2099.1.0")
    assert f"Checking {clone.resolve()} before tagging 2099.1.0:" in checked.stdout, checked.stderr
    assert "Traceback" not in checked.stderr


def test_verifies_the_real_fixtures(
    toolkit_bin: Path, fixture_copy: Callable[..., Path], tmp_path: Path
) -> None:
    where = fixture_copy(SIGSTORE, f"{SIGSTORE}.provenance")
    ok = _run(toolkit_bin, tmp_path, CONSOLE_SCRIPT, "verify", where / SIGSTORE, *SIGSTORE_POLICY)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith(f"OK {SIGSTORE}  sigstore/sigstore-python ")
    (where / SIGSTORE).write_bytes((where / SIGSTORE).read_bytes() + b"\0")
    bad = _run(toolkit_bin, tmp_path, CONSOLE_SCRIPT, "verify", where / SIGSTORE, *SIGSTORE_POLICY)
    assert bad.returncode == 1
    assert "the file's sha256 differs from the attested one" in bad.stdout
    # the reference tool came with the closure and agrees
    ref = _run(toolkit_bin, tmp_path, "pypi-attestations", "verify", "pypi", "--offline",
               "--repository", "https://github.com/sigstore/sigstore-python",
               "--provenance-file", where / f"{SIGSTORE}.provenance", where / SIGSTORE)  # fmt: skip
    assert ref.returncode != 0


def test_verifies_our_own_release(
    toolkit_bin: Path,
    toolkit_builds: tuple[list[Path], list[Path]],
    release: Callable[..., object],
    tmp_path: Path,
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    for path in toolkit_builds[0]:
        shutil.copy2(path, dist / path.name)
    key = tmp_path / "release.key"
    assert release("keygen", key).code == 0  # type: ignore[attr-defined]
    attested = release("attest", dist, "--key", key)
    assert attested.code == 0, attested.err  # type: ignore[attr-defined]
    files = sorted(p for p in dist.iterdir() if p.name.endswith((".whl", ".tar.gz")))
    ok = _run(toolkit_bin, tmp_path, CONSOLE_SCRIPT, "verify", *files, "--key", f"{key}.pub")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert [line.split()[0] for line in ok.stdout.splitlines() if not line.startswith(" ")] == [
        "OK"
    ] * len(files)
    other = tmp_path / "other.key"
    assert release("keygen", other).code == 0  # type: ignore[attr-defined]
    bad = _run(toolkit_bin, tmp_path, CONSOLE_SCRIPT, "verify", *files, "--key", f"{other}.pub")
    assert bad.returncode == 1


def test_verifies_from_a_local_index(
    toolkit_bin: Path, attestation_fixtures: Path, tmp_path: Path
) -> None:
    index = Index()
    index.add("sigstore", "3.6.1", Served(
        SIGSTORE, (attestation_fixtures / SIGSTORE).read_bytes(),
        (attestation_fixtures / f"{SIGSTORE}.provenance").read_bytes(),
    ))  # fmt: skip
    keep = tmp_path / "verified"
    with serving(index) as url:
        proc = _run(toolkit_bin, tmp_path, CONSOLE_SCRIPT, "verify", "sigstore==3.6.1",
                    "--index-url", url, *SIGSTORE_POLICY, "--download-dir", keep)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in keep.iterdir()) == [SIGSTORE, f"{SIGSTORE}.provenance"]
