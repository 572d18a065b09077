"""`dask kubernetes local`: run the local Kubernetes stand-in in the foreground until signalled."""

from __future__ import annotations

import asyncio
import importlib.util
import shlex
import signal
import sys
from pathlib import Path

import click

from dask_kubernetes.cli import kubernetes


def _operator_available() -> bool:
    try:
        return importlib.util.find_spec("dask_kubernetes.operator.__main__") is not None
    except ModuleNotFoundError:
        return False


async def _serve(
    state_dir: Path | None,
    kubeconfig: Path | None,
    port: int,
    operator: bool,
    tls: bool,
    control_plane: str,
    gateway: bool = False,
    node: str = "processes",
    images: tuple[Path, ...] = (),
) -> None:
    from dask_kubernetes.gateway.local import gateway_lines
    from dask_kubernetes.local import LocalKubernetes  # needs the `local` extra (aiohttp)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with (
        LocalKubernetes(
            state_dir,
            operator=operator,
            kubeconfig=kubeconfig,
            port=port,
            tls=tls,
            control_plane=control_plane,
            node=node,
            images=images,
        ) as k8s,
        gateway_lines(gateway, k8s.kubeconfig, Path(k8s.state_dir)) as gateway_output,
    ):
        extra = " with the dask-kubernetes operator" if operator else ""
        extra += " and a Dask Gateway" if gateway else ""
        click.echo(f"dask-kubernetes local: ready at {k8s.url}{extra}")
        click.echo(f"kubeconfig: {k8s.kubeconfig} (context {k8s.context})")
        click.echo(f"export KUBECONFIG={k8s.kubeconfig}")
        if k8s.real is not None and k8s.real.plane is not None:
            # The kubectl built with the plane: a system kubectl of another minor version warns.
            bin_directory = shlex.quote(str(k8s.real.plane.binaries))
            click.echo(f'export PATH={bin_directory}:"$PATH"  # kubectl matching the API server')
        for line in gateway_output:
            click.echo(line)
        sys.stdout.flush()
        await stop.wait()
        click.echo("dask-kubernetes local: stopping")


@kubernetes.command("local")
@click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Kubeconfig to add our context to (default: a file in the state dir).",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="API server port."
)
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where logs and pod files go (default: a temporary directory, removed on exit).",
)
@click.option("--no-operator", is_flag=True, help="Do not start the dask-kubernetes operator.")
@click.option(
    "--no-tls",
    is_flag=True,
    help="Serve plain HTTP instead of HTTPS (the token is still required; kubectl and helm "
    "send no token over plain HTTP, so only Python clients work then).",
)
@click.option(
    "--control-plane",
    type=click.Choice(["emulated", "real"]),
    default="emulated",
    show_default=True,
    help="emulated: our API server emulator; real: etcd, kube-apiserver, controller manager and "
    "scheduler built from pinned sources, our kubelet as a node, in a network namespace (root).",
)
@click.option(
    "--node",
    type=click.Choice(["processes", "containers"]),
    default="processes",
    show_default=True,
    help="With --control-plane real: processes: our kubelet, pods as host processes; "
    "containers: the real kubelet with containerd, runc, CNI, kube-proxy and CoreDNS "
    "(binaries from the node build).",
)
@click.option(
    "--image",
    "images",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="With --node containers: an OCI image archive to import into the node (repeatable).",
)
@click.option(
    "--gateway",
    is_flag=True,
    help="Also run a Dask Gateway on the operator (needs the `gateway` extra); prints the "
    "DASK_GATEWAY__* exports that make dask_gateway.Gateway() find it.",
)
def local(
    kubeconfig: Path | None,
    port: int,
    state_dir: Path | None,
    no_operator: bool,
    no_tls: bool,
    control_plane: str,
    node: str,
    images: tuple[Path, ...],
    gateway: bool,
) -> None:
    """Run a local Kubernetes stand-in (pods run as local processes) until Ctrl-C.

    Every API request needs the bearer token written into the kubeconfig (mode 0600).
    """
    from dask_kubernetes.local.credentials.kubeconfig import KubeconfigError
    from dask_kubernetes.local.network.netns import NetnsError, require_root
    from dask_kubernetes.local.provision.build import BuildError
    from dask_kubernetes.local.real import RealPlaneError

    operator = not no_operator and _operator_available()
    if gateway and (not operator or control_plane != "emulated"):
        click.echo(
            "error: --gateway runs the gateway on this machine in front of the emulated "
            "plane with the operator (drop --no-operator / --control-plane real)",
            err=True,
        )
        sys.exit(2)
    if gateway and importlib.util.find_spec("dask_gateway_server") is None:
        click.echo("error: --gateway needs: pip install 'dask-kubernetes[gateway]'", err=True)
        sys.exit(2)
    if (node != "processes" or images) and control_plane != "real":
        click.echo("error: --node containers and --image need --control-plane real", err=True)
        sys.exit(2)
    if control_plane == "real":
        if no_tls:
            click.echo(
                "error: the real control plane always serves HTTPS (drop --no-tls)", err=True
            )
            sys.exit(2)
        try:
            require_root()
        except NetnsError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    try:
        asyncio.run(
            _serve(
                state_dir,
                kubeconfig,
                port,
                operator,
                not no_tls,
                control_plane,
                gateway,
                node,
                images,
            )
        )
    except (KubeconfigError, RealPlaneError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except BuildError as exc:  # a cached binary no longer has its recorded sha256
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: cannot start the stand-in: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001 - the CLI reports one line, never a traceback
        click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
