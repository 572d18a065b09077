"""Delete the clusters this process created when it is interrupted (Ctrl-C or SIGTERM).

A process that ends without `close()` deletes the clusters it created at exit (`_reap_clusters`).
Two ways of ending used to skip that. Ctrl-C during `KubeCluster(...)`: the KeyboardInterrupt
stopped the event loop that was starting the cluster, before anything deleted it. SIGTERM: its
default action ends the process before any Python code runs. So:

- Ctrl-C during start-up: `KubeCluster` deletes what it created (`delete_now`) before the
  KeyboardInterrupt goes on; the process still exits as Ctrl-C makes it (status 130).
- SIGTERM: `protect_from_sigterm` installs a handler that deletes every cluster this process
  created and still owns (`shutdown_on_close`, or still starting), then restores the default
  action and sends SIGTERM again, so the process still dies of SIGTERM (status 143).

The handler is installed only where the process would otherwise die without a word: when the
SIGTERM disposition is the default (SIG_DFL), from the main thread (Python allows no other). A
program that ignores SIGTERM or has its own handler keeps it untouched, and ours is not chained
to it: that program decides what SIGTERM means, and may go on using its clusters (if its handler
exits normally, the at-exit deletion runs as for any exit).

A child forked after the handler was installed (multiprocessing's default on Linux; its pool
ends workers with SIGTERM) inherits it along with a copy of the parent's clusters: there it only
dies, deleting nothing, as the clusters are the parent's.

A create call that was in flight when the interrupt came may land after it: such a cluster is
looked for, for `IN_FLIGHT_GRACE` seconds, before concluding it was never created.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from .kr8s_api import Api, connect, find_object
from .operations import delete_cluster
from .resources import DaskCluster

logger = logging.getLogger(__name__)

#: Seconds allowed for deleting this process's clusters on an interrupt (all of them).
INTERRUPT_DELETE_TIMEOUT = 30.0
#: Seconds a create call that was in flight at the interrupt is given to land.
IN_FLIGHT_GRACE = 3.0
IN_FLIGHT_POLL = 0.1


@dataclass(frozen=True)
class OwnedCluster:
    """A DaskCluster this process created (or was creating: `in_flight`) and must delete."""

    name: str
    namespace: str
    in_flight: bool = False


OwnedClusters = Callable[[], Sequence[OwnedCluster]]

_owned_clusters: OwnedClusters | None = None
#: The process that installed the handler: the only one whose clusters it may delete.
_installed_in: int | None = None


def delete_now(clusters: Sequence[OwnedCluster], timeout: float = INTERRUPT_DELETE_TIMEOUT) -> None:
    """Ask Kubernetes to delete `clusters` (their pods go with them), from a thread of its own.

    Its own thread and event loop: the caller's loop may be stopped, cancelled or blocked (the
    SIGTERM handler runs on the main thread, which may be the loop's). The deletion is requested,
    not waited for; the API server's garbage collector removes the pods. A cluster that cannot
    be deleted is named on stderr with the command that deletes it.
    """
    if not clusters:
        return
    worker = threading.Thread(
        target=asyncio.run,
        args=(_delete_all(list(clusters)),),
        name="KubeCluster interrupt cleanup",
        daemon=True,
    )
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        for cluster in clusters:
            _report_failure(cluster, f"no answer within {timeout:g} s")


async def _delete_all(clusters: list[OwnedCluster]) -> None:
    try:
        api = await connect()
    except Exception as exc:  # noqa: BLE001 - interrupted: report it, never a traceback
        for cluster in clusters:
            _report_failure(cluster, f"{type(exc).__name__}: {exc}")
        return
    for cluster in clusters:
        try:
            if cluster.in_flight:
                await _await_landing(api, cluster)
            if await delete_cluster(api, cluster.name, cluster.namespace, None):
                logger.info(
                    "Interrupted: deleted DaskCluster %s/%s", cluster.namespace, cluster.name
                )
        except Exception as exc:  # noqa: BLE001 - as above
            _report_failure(cluster, f"{type(exc).__name__}: {exc}")


async def _await_landing(api: Api, cluster: OwnedCluster) -> None:
    deadline = time.monotonic() + IN_FLIGHT_GRACE
    while time.monotonic() < deadline:
        if await find_object(DaskCluster, cluster.name, cluster.namespace, api) is not None:
            return
        await asyncio.sleep(IN_FLIGHT_POLL)


def _report_failure(cluster: OwnedCluster, reason: str) -> None:
    print(
        f"dask-kubernetes: could not delete DaskCluster {cluster.name!r} on interrupt ({reason}); "
        f"delete it with `dask kubernetes delete {cluster.name} -n {cluster.namespace}`",
        file=sys.stderr,
    )


def protect_from_sigterm(owned_clusters: OwnedClusters) -> None:
    """Delete `owned_clusters()` on SIGTERM, if SIGTERM would otherwise just end the process."""
    global _owned_clusters, _installed_in
    _owned_clusters = owned_clusters
    if threading.current_thread() is not threading.main_thread():
        return  # signal.signal works only there; a cluster made elsewhere is reaped at exit only
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)
        _installed_in = os.getpid()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Delete what this process owns, then die of SIGTERM as if no handler had been here."""
    try:
        if _owned_clusters is not None and os.getpid() == _installed_in:
            delete_now(_owned_clusters())
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
