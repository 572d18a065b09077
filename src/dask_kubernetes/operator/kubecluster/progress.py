"""A live panel showing what the cluster is waiting on, so a slow start is never a silent one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.spinner import Spinner
from rich.table import Table

from dask_kubernetes.operator.vocabulary import DASK_CLUSTER

COMPONENTS = (
    ("cluster", DASK_CLUSTER.kind),
    ("schedulerpod", "Scheduler Pod"),
    ("schedulerservice", "Scheduler Service"),
    ("connection", "Scheduler Connection"),
)
COLOURS = {
    "Running": "green",
    "Created": "green",
    "Connected": "green",
    "Pending": "yellow",
    "Health Checking": "yellow",
    "Connecting": "yellow",
    "CrashLoopBackOff": "red",
    "Error": "red",
    "Failed": "red",
}
REFRESH_INTERVAL = 0.25


class StartupProgress:
    """Status of each component plus the latest step, rendered as a rich panel."""

    def __init__(self, cluster_name: str) -> None:
        self.cluster_name = cluster_name
        self.statuses: dict[str, str] = {}
        self.step = "Starting"
        self._spinner = Spinner("dots", speed=0.5)

    def report(self, component: str, status: str) -> None:
        self.statuses[component] = status

    def log(self, step: str) -> None:
        self.step = step

    def render(self) -> Panel:
        table = Table(show_header=False, box=box.SIMPLE, expand=True)
        table.add_column("Component")
        table.add_column("Status", justify="right")
        for key, label in COMPONENTS:
            status = self.statuses.get(key, "-")
            colour = COLOURS.get(status)
            table.add_row(label, f"[{colour}]{status}" if colour else status)
        self._spinner.update(text=self.step)
        return Panel(
            Group(table, self._spinner),
            title=f"Creating KubeCluster [magenta]'{self.cluster_name}'",
            width=80,
        )

    @contextlib.asynccontextmanager
    async def shown(self, enabled: bool, console: Console | None = None) -> AsyncIterator[None]:
        """Show the panel while the body runs (only on a terminal or in Jupyter, when enabled)."""
        console = console or Console()
        if not enabled or not (console.is_terminal or console.is_jupyter):
            yield
            return
        with Live(self.render(), console=console, auto_refresh=False, transient=True) as live:
            task = asyncio.create_task(self._refresh(live))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _refresh(self, live: Live) -> None:
        while True:
            live.update(self.render(), refresh=True)
            await asyncio.sleep(REFRESH_INTERVAL)
