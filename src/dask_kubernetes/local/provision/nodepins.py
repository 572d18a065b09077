"""What a real node is built from: the pinned modules in tools/node/ and how each binary is built.

The node (kubelet, kube-proxy, containerd and its runc shim, ctr, runc, the CNI plugins, CoreDNS)
is pinned like the control plane: one Go module per component under tools/node/, with go.mod and
go.sum committed, so every dependency's hash is fixed and `go build` fetches only through the
module proxy. The kubelet and kube-proxy come from the same k8s.io/kubernetes version as the
control plane (`check_same_kubernetes`): kubelet/apiserver skew is then never a question.

Everything here is data plus reading committed files: no Go runs, so the lookup that `sudo` makes
(no Go on its PATH) can tell which versions it needs.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dask_kubernetes.local.provision import paths
from dask_kubernetes.local.provision.build import BuildError, Pins, kubernetes_ldflags
from dask_kubernetes.local.provision.gomod import KUBERNETES_MODULE, replaces, required_version

STRIP = "-s -w"
#: Snapshotters that need cgo or kernel features this node does not use; also fewer dependencies.
CONTAINERD_TAGS = ("no_btrfs", "no_devmapper", "no_zfs")
#: runc's own release tags minus `libpathrs` (a Rust library Debian 12 does not package), plus
#: what its `make static` adds so the binary needs no libc at run time.
RUNC_TAGS = ("seccomp", "urfave_cli_no_docs", "netgo", "osusergo")
#: runc's `make static` on amd64/arm64: a static position-independent executable.
RUNC_LINK = "-linkmode external -extldflags -static-pie"
#: Debian's package that gives runc's seccomp support its static library.
SECCOMP_PACKAGE = "libseccomp-dev"


@dataclass(frozen=True)
class Stamp:
    """What a binary may say about where it came from: the tag and the proxy's time for it."""

    version: str
    build_date: str


@dataclass(frozen=True)
class Target:
    """One `go build`: its packages land in `out_dir` of the cache entry, named as Go names them
    (the last element of the import path)."""

    out_dir: str
    packages: tuple[str, ...]
    ldflags: Callable[[Stamp], str]
    tags: tuple[str, ...] = ()
    cgo: bool = False
    buildmode: str = ""

    def binaries(self) -> tuple[str, ...]:
        return tuple(f"{self.out_dir}/{package.rsplit('/', 1)[-1]}" for package in self.packages)

    def flags(self, stamp: Stamp) -> list[str]:
        """The `go build` arguments after `build`, before `-o`."""
        flags = ["-trimpath"]
        if self.buildmode:
            flags.append(f"-buildmode={self.buildmode}")
        if self.tags:
            flags += ["-tags", " ".join(self.tags)]
        return [*flags, "-ldflags", self.ldflags(stamp)]


@dataclass(frozen=True)
class Component:
    """A directory of tools/node/ (its own go.mod, so no component moves another's dependencies)."""

    name: str
    module: str
    label: str
    targets: tuple[Target, ...]

    def binaries(self) -> tuple[str, ...]:
        return tuple(binary for target in self.targets for binary in target.binaries())


def _kubernetes(stamp: Stamp) -> str:
    return kubernetes_ldflags(Pins(stamp.version, "", stamp.build_date))


def _containerd(stamp: Stamp) -> str:
    pkg = "github.com/containerd/containerd/v2"
    # No git checkout, so no commit: "archive", as the Kubernetes binaries' gitTreeState says.
    return (
        f"{STRIP} -X {pkg}/version.Version={stamp.version} -X {pkg}/version.Revision=archive "
        f"-X {pkg}/version.Package={pkg}"
    )


def _runc(stamp: Stamp) -> str:
    # runc embeds its VERSION file; the commit line names the module version instead of a hash.
    return f"{STRIP} -X main.gitCommit={stamp.version} {RUNC_LINK}"


def _cni(stamp: Stamp) -> str:
    pkg = "github.com/containernetworking/plugins/pkg/utils/buildversion"
    return f"{STRIP} -X {pkg}.BuildVersion={stamp.version}"


def _coredns(stamp: Stamp) -> str:
    return f"{STRIP} -X github.com/coredns/coredns/coremain.GitCommit={stamp.version}"


_CTRD = "github.com/containerd/containerd/v2"
_CNI = "github.com/containernetworking/plugins/plugins"
#: Built in this order, smallest risk of a late failure last: the kubelet shares Go's build cache
#: with the control plane, so it is the cheapest; runc is the one that needs a C toolchain.
COMPONENTS = (
    Component(
        "kubernetes",
        KUBERNETES_MODULE,
        "Kubernetes",
        (
            Target(
                "bin",
                (f"{KUBERNETES_MODULE}/cmd/kubelet", f"{KUBERNETES_MODULE}/cmd/kube-proxy"),
                _kubernetes,
            ),
        ),
    ),
    Component(
        "containerd",
        _CTRD,
        "containerd",
        (
            Target(
                "bin", (f"{_CTRD}/cmd/containerd", f"{_CTRD}/cmd/ctr"), _containerd, CONTAINERD_TAGS
            ),
            # The shim without gRPC, as containerd's Makefile builds it (ttrpc only; smaller).
            Target(
                "bin",
                (f"{_CTRD}/cmd/containerd-shim-runc-v2",),
                _containerd,
                (*CONTAINERD_TAGS, "no_grpc"),
            ),
        ),
    ),
    Component(
        "cni-plugins",
        "github.com/containernetworking/plugins",
        "CNI plugins",
        (
            Target(
                "cni/bin",
                (
                    f"{_CNI}/main/bridge",
                    f"{_CNI}/ipam/host-local",
                    f"{_CNI}/main/loopback",
                    f"{_CNI}/meta/portmap",
                ),
                _cni,
            ),
        ),
    ),
    Component(
        "coredns",
        "github.com/coredns/coredns",
        "CoreDNS",
        (Target("bin", ("github.com/coredns/coredns",), _coredns),),
    ),
    Component(
        "runc",
        "github.com/opencontainers/runc",
        "runc",
        (Target("bin", ("github.com/opencontainers/runc",), _runc, RUNC_TAGS, True, "pie"),),
    ),
)
BINARIES = tuple(binary for component in COMPONENTS for binary in component.binaries())


@dataclass(frozen=True)
class NodeModules:
    """tools/node/: one pinned module per component, and the control plane's tools/kube/."""

    root: Path
    kube: Path

    def module(self, component: Component) -> Path:
        return self.root / component.name

    def all(self) -> tuple[Path, ...]:
        return tuple(self.module(component) for component in COMPONENTS)


def default_node_modules() -> NodeModules:
    """tools/node/ and tools/kube/ of the clone (`paths.CloneNotFound` outside one)."""
    return NodeModules(paths.node_modules(), paths.kube_modules())


def read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc.strerror}") from exc


def committed_versions(modules: NodeModules) -> dict[str, str]:
    """{component: version} as the committed go.mod files pin them (no Go needed)."""
    return {
        component.name: required_version(
            read(modules.module(component) / "go.mod"), component.module
        )
        for component in COMPONENTS
    }


def check_same_kubernetes(modules: NodeModules) -> str:
    """The one Kubernetes version of node and control plane, with the same staging replaces;
    `BuildError` naming both when they differ (bump tools/kube and tools/node together)."""
    node = read(modules.root / "kubernetes" / "go.mod")
    plane = read(modules.kube / "kubernetes" / "go.mod")
    ours, theirs = (required_version(text, KUBERNETES_MODULE) for text in (node, plane))
    if ours != theirs:
        raise BuildError(
            f"tools/node/kubernetes pins {KUBERNETES_MODULE} {ours} but the control plane "
            f"(tools/kube/kubernetes) pins {theirs}: the kubelet must match the plane"
        )
    if replaces(node) != replaces(plane):
        raise BuildError(
            "tools/node/kubernetes/go.mod's staging replaces differ from tools/kube/kubernetes': "
            "copy the block from there"
        )
    return ours


def entry_prefix(versions: dict[str, str]) -> str:
    short = {
        "kubernetes": "kubernetes",
        "containerd": "containerd",
        "cni-plugins": "cni",
        "coredns": "coredns",
        "runc": "runc",
    }
    return "_".join(f"{short[c.name]}-{versions[c.name]}" for c in COMPONENTS) + "_"


def c_toolchain() -> dict[str, str]:
    """What runc's cgo build links with: the C compiler's version and libseccomp.a's sha256.

    Part of the cache key (a new libseccomp means a new runc), recorded in the manifest so the
    lookup needs neither. `BuildError` saying what to install when either is missing.
    """
    hint = (
        f"runc needs a C compiler and Debian's {SECCOMP_PACKAGE} "
        f"(apt-get install gcc pkg-config {SECCOMP_PACKAGE})"
    )
    gcc, pkg_config = shutil.which("gcc"), shutil.which("pkg-config")
    if gcc is None or pkg_config is None:
        raise BuildError(f"no {'gcc' if gcc is None else 'pkg-config'} on PATH: {hint}")
    try:
        version = subprocess.run(
            [gcc, "--version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout.splitlines()[0]
        libdir = subprocess.run(
            [pkg_config, "--variable=libdir", "libseccomp"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        raise BuildError(f"gcc or libseccomp is not usable: {hint}") from None
    archive = Path(libdir) / "libseccomp.a"
    if not archive.is_file():
        raise BuildError(f"{archive} is missing: {hint}")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    return {"cc": version, "libseccomp.a": digest}
