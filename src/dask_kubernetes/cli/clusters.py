"""`dask kubernetes gen cluster | list | scale | delete | port-forward | logs`.

Heavy imports (distributed, kr8s) happen inside the commands so `dask --help` stays fast.
Failures print one line on stderr: exit 2 for bad input, 1 for anything else that went wrong.
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click
import yaml

from dask_kubernetes.common.files import write_atomically, write_private

from . import kubernetes

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

namespace_option = click.option(
    "--namespace", "-n", default=None, help="Namespace (default: the kubeconfig's current one)."
)


class _NoAliasDumper(yaml.SafeDumper):
    """Repeated env/resources dicts must be written out in full, not as YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def reports_errors(command: F) -> F:
    """Turn our exceptions into one stderr line and the documented exit code.

    Unusable input (bad arguments, a missing or garbled kubeconfig) exits 2; anything else 1.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from dask_kubernetes.operator.kubecluster.errors import (
            InvalidKubeconfigError,
            KubeClusterError,
            ValidationError,
        )

        try:
            return command(*args, **kwargs)
        except (ValidationError, InvalidKubeconfigError) as exc:
            _fail(str(exc), 2)
        except KubeClusterError as exc:
            _fail(str(exc), 1)
        return None

    return wrapper  # type: ignore[return-value]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _parse_env(items: tuple[str, ...]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--env")
        env[key] = value
    return env


def _parse_resources(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        resources = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--resources") from None
    if not isinstance(resources, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--resources")
    return resources


@kubernetes.group(help="Generate Kubernetes manifests for Dask resources.")
def gen() -> None:
    pass


@gen.command(
    name="cluster",
    help="Print a DaskCluster manifest (see dask_kubernetes.operator.make_cluster_spec).",
)
@click.option("--name", required=True, help="Name of the DaskCluster.")
@click.option("--image", default=None, help="Container image (default ghcr.io/dask/dask:latest).")
@click.option("--n-workers", type=click.IntRange(min=0), default=3, show_default=True)
@click.option("--resources", default=None, help='JSON, e.g. \'{"limits": {"cpu": "1"}}\'.')
@click.option("--env", "-e", multiple=True, help="KEY=VALUE environment variable (repeatable).")
@click.option("--worker-command", default=None, help="Worker command (default dask-worker).")
@click.option(
    "--scheduler-service-type",
    type=click.Choice(["ClusterIP", "NodePort", "LoadBalancer"]),
    default=None,
    help="Scheduler Service type (default ClusterIP).",
)
@click.option("--idle-timeout", type=click.IntRange(min=0), default=None, help="Seconds.")
@click.option("--jupyter", is_flag=True, help="Start Jupyter on the scheduler.")
@click.option(
    "--tls/--no-tls",
    default=True,
    show_default=True,
    help="Mutual TLS with certificates of this cluster only (spec.tls).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write the manifest to this file instead of standard output.",
)
@reports_errors
def gen_cluster(
    name: str,
    resources: str | None,
    env: tuple[str, ...],
    output: Path | None,
    tls: bool,
    **options: Any,
) -> None:
    from dask_kubernetes.operator.kubecluster.resource_manifests import make_cluster_spec
    from dask_kubernetes.operator.kubecluster.validation import (
        validate_cluster_name,
        validate_resources,
    )
    from dask_kubernetes.operator.vocabulary import TLS_FIELD

    validate_cluster_name(name)
    parsed_resources = _parse_resources(resources)
    validate_resources(parsed_resources)
    given = {key: value for key, value in options.items() if value not in (None, False)}
    manifest = make_cluster_spec(
        name=name, resources=parsed_resources, env=_parse_env(env), **given
    )
    manifest["spec"][TLS_FIELD] = tls
    text = yaml.dump(manifest, Dumper=_NoAliasDumper, sort_keys=False)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomically(output, text)


@kubernetes.command(name="list", help="List Dask clusters (DaskCluster resources).")
@namespace_option
@click.option("--all-namespaces", "-A", is_flag=True, help="List clusters in every namespace.")
@click.option(
    "--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@reports_errors
def list_command(namespace: str | None, all_namespaces: bool, output: str) -> None:
    import kr8s

    from dask_kubernetes.operator.kubecluster.kr8s_api import connect
    from dask_kubernetes.operator.kubecluster.operations import list_clusters

    async def fetch() -> Any:
        api = await connect()
        return await list_clusters(api, kr8s.ALL if all_namespaces else namespace)

    clusters = _run(fetch())
    if output == "json":
        rows = [
            {
                "name": c.name,
                "namespace": c.namespace,
                "phase": c.phase,
                "workers": c.workers,
                "created": c.created.isoformat() if c.created else None,
            }
            for c in clusters
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not clusters:
        click.echo("No Dask clusters found.", err=True)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None)
    for column in ("NAME", "NAMESPACE", "PHASE", "WORKERS", "AGE"):
        table.add_column(column)
    for c in clusters:
        workers = "-" if c.workers is None else str(c.workers)
        table.add_row(c.name, c.namespace, c.phase, workers, c.age())
    Console(soft_wrap=True).print(table)


@kubernetes.command(help="Scale a cluster's worker group to N workers (turns adaptivity off).")
@click.argument("name")
@click.argument("n", type=click.IntRange(min=0))
@click.option("--worker-group", "-g", default=None, help="Worker group (default: default).")
@namespace_option
@reports_errors
def scale(name: str, n: int, worker_group: str | None, namespace: str | None) -> None:
    from dask_kubernetes.operator.kubecluster.kr8s_api import connect
    from dask_kubernetes.operator.kubecluster.operations import scale_cluster

    async def act() -> str:
        api = await connect()
        ns = namespace or str(api.namespace)
        await scale_cluster(api, name, ns, n, worker_group)
        return ns

    ns = _run(act())
    click.echo(f"Scaled {ns}/{name} ({worker_group or 'default'}) to {n} workers")


@kubernetes.command(help="Delete Dask clusters, and everything each owns, by name.")
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
@namespace_option
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until gone.")
@click.option("--timeout", type=float, default=120, show_default=True, help="Seconds to wait.")
@reports_errors
def delete(names: tuple[str, ...], namespace: str | None, wait: bool, timeout: float) -> None:
    """Every name is tried; the command fails (exit 1) if any was missing or not deleted."""
    from dask_kubernetes.operator.kubecluster.errors import ClusterNotFoundError, KubeClusterError
    from dask_kubernetes.operator.kubecluster.kr8s_api import check_path_names, connect
    from dask_kubernetes.operator.kubecluster.operations import delete_cluster
    from dask_kubernetes.operator.kubecluster.resources import DaskCluster

    async def act() -> list[str]:
        api = await connect()
        ns = namespace or str(api.namespace)
        for name in names:  # unusable input stops everything (exit 2) before any deletion
            check_path_names(DaskCluster, name, ns)
        failures = []
        for name in dict.fromkeys(names):  # once each, in the order given
            try:
                if not await delete_cluster(api, name, ns, timeout if wait else None):
                    raise ClusterNotFoundError(
                        f"No Dask cluster named {name!r} in namespace {ns!r}"
                    )
            except KubeClusterError as exc:
                failures.append(str(exc))
                continue
            click.echo(f"Deleted {ns}/{name}")
        return failures

    failures = _run(act())
    for failure in failures[:-1]:
        click.echo(f"Error: {failure}", err=True)
    if failures:
        raise KubeClusterError(failures[-1])


@kubernetes.command(
    name="port-forward", help="Forward the scheduler and dashboard of a cluster to this machine."
)
@click.argument("name")
@namespace_option
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Local dashboard port.")
@click.option(
    "--security-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="For a TLS cluster: write the client's Security settings here (mode 0600).",
)
@reports_errors
def port_forward(
    name: str, namespace: str | None, port: int | None, security_file: Path | None
) -> None:
    from dask_kubernetes.operator.kubecluster import KubeCluster

    cluster = KubeCluster.from_name(
        name,
        namespace=namespace,
        quiet=True,
        port_forward_cluster_ip=True,
        scheduler_forward_port=port or None,
    )
    stop = _stop_on_ctrl_c()
    try:
        click.echo(f"Scheduler at: {cluster.scheduler_address}")
        _print_client_security(cluster, security_file)
        click.echo(f"Dashboard at: {cluster.dashboard_link}")
        if cluster.jupyter:
            click.echo(f"Jupyter at: {cluster.jupyter_link}")
        click.echo("Press Ctrl+C to stop", err=True)
        stop.wait()
        click.echo("Stopping port-forward", err=True)
    except KeyboardInterrupt:
        click.echo("Stopping port-forward", err=True)
    finally:
        cluster.close()


def _stop_on_ctrl_c() -> threading.Event:
    """An event that SIGINT sets, whatever disposition this process inherited.

    A background job of a non-interactive shell (`cmd &` in a script, a CI harness) starts with
    SIGINT ignored, and Python then raises no KeyboardInterrupt: Ctrl+C or `kill -INT` left the
    forward running for ever. `dask kubernetes local` handles its signals the same way. A second
    Ctrl+C, while the forward closes, interrupts as Python's default does.
    """
    stop = threading.Event()

    def first(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, first)
    return stop


def _print_client_security(cluster: Any, security_file: Path | None) -> None:
    """What a hand-made `Client` of a TLS cluster needs: its certificate, in a 0600 file."""
    security = getattr(cluster, "security", None)
    if security is None:
        return
    if security_file is None:
        click.echo(
            "TLS: a Client needs this cluster's certificate; rerun with --security-file PATH"
        )
        return
    settings = {
        "require_encryption": True,
        "tls_ca_file": security.tls_ca_file,
        "tls_client_cert": security.tls_client_cert,
        "tls_client_key": security.tls_client_key,
    }
    write_private(security_file, yaml.safe_dump(settings, sort_keys=False))
    click.echo(f"Security (0600): {security_file}")
    click.echo(
        f'Client: Client("{cluster.scheduler_address}", '
        f'security=Security(**yaml.safe_load(open("{security_file}"))))'
    )


@kubernetes.command(help="Print the logs of a cluster's scheduler and worker pods.")
@click.argument("name")
@namespace_option
@reports_errors
def logs(name: str, namespace: str | None) -> None:
    from dask_kubernetes.operator.kubecluster.errors import ClusterNotFoundError
    from dask_kubernetes.operator.kubecluster.kr8s_api import connect, find_object
    from dask_kubernetes.operator.kubecluster.logs import cluster_logs
    from dask_kubernetes.operator.kubecluster.resources import DaskCluster

    async def fetch() -> Any:
        api = await connect()
        ns = namespace or str(api.namespace)
        if await find_object(DaskCluster, name, ns, api) is None:
            raise ClusterNotFoundError(f"No Dask cluster named {name!r} in namespace {ns!r}")
        return await cluster_logs(api, name, ns)

    for pod, text in _run(fetch()).items():
        click.echo(f"==> {pod} <==")
        click.echo(str(text))
