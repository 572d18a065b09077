"""What the pipeline shows a maintainer: progress while it runs, then one summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from release._pipeline import Outcome, PipelineResult

_STATUS_STYLE = {"ok": "green", "failed": "bold red", "skipped": "yellow"}
_PROVENANCE_FACTS = (
    ("repository", "Repository"),
    ("publication_workflow", "Workflow"),
    ("ref", "Ref"),
    ("trigger_event", "Trigger"),
    ("runner_environment", "Runner"),
    ("token_issuer", "Issuer"),
    ("log_index", "Log index"),
)


@contextmanager
def live_progress(
    console: Console | None = None,
) -> Iterator[Callable[[str, Outcome | None], None]]:
    """Yield a callback: (step, None) when a step starts, (step, outcome) when it ends."""
    console = console or Console(stderr=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}
        started: dict[str, float] = {}

        def on_step(name: str, outcome: Outcome | None) -> None:
            if outcome is None:
                tasks[name] = progress.add_task(name, total=1)
                started[name] = time.monotonic()
                return
            style = _STATUS_STYLE.get(outcome.status, "")
            label = f"[{style}]{outcome.status}[/] {name}"
            if outcome.detail:
                label += f" - {outcome.detail}"
            progress.update(tasks[name], description=label, completed=1)
            progress.stop_task(tasks[name])

        yield on_step


def steps_table(result: PipelineResult) -> Table:
    table = Table(title="Steps", title_justify="left")
    table.add_column("step")
    table.add_column("result")
    table.add_column("time", justify="right")
    for outcome in result.outcomes:
        style = _STATUS_STYLE.get(outcome.status, "")
        seconds = f"{outcome.seconds:.1f} s" if outcome.status != "skipped" else "-"
        status = f"[{style}]{outcome.status}[/]" + (
            f" ({outcome.detail})" if outcome.detail else ""
        )
        table.add_row(outcome.name, status, seconds)
    return table


def provenance_table(result: PipelineResult) -> Table:
    table = Table(title="Provenance (as verified)", title_justify="left")
    table.add_column("file")
    table.add_column("verdict")
    for _, header in _PROVENANCE_FACTS:
        table.add_column(header)
    for entry in result.verify_report:
        facts = entry.get("provenance")
        facts = facts if isinstance(facts, dict) else {}
        row = [str(entry.get("file", entry.get("filename", "?"))), str(entry.get("verdict", "?"))]
        row += [str(facts.get(key, "-")) for key, _ in _PROVENANCE_FACTS]
        table.add_row(*row)
    return table


def print_summary(result: PipelineResult, console: Console | None = None) -> None:
    from release._manifest import files_table, load_manifest

    console = console or Console()
    console.print(files_table(load_manifest(result.out)))
    if result.verify_report:
        console.print(provenance_table(result))
    console.print(steps_table(result))
    console.print(f"Everything is in {result.out}")
