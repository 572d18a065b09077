"""What the pipeline shows a maintainer: progress while it runs, then one summary."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from dask_kubernetes_release.core.paths import TOOLKIT_SUBDIR
from dask_kubernetes_release.core.printable import printable
from dask_kubernetes_release.manifest.command import files_table
from dask_kubernetes_release.manifest.records import MANIFEST_NAME, load_manifest
from dask_kubernetes_release.pipeline.steps import Outcome, PipelineResult
from dask_kubernetes_release.verify.report import Verdict

_STATUS_STYLE = {"ok": "green", "failed": "bold red", "skipped": "yellow"}
_PROVENANCE_FACTS = (
    ("signer", "Signed by"),
    ("repository", "Repository"),
    ("publication_workflow", "Workflow"),
    ("ref", "Ref"),
    ("trigger_event", "Trigger"),
    ("runner_environment", "Runner"),
    ("token_issuer", "Token issuer"),
    ("log_index", "Transparency log index"),
)


def _label(name: str, outcome: Outcome) -> str:
    style = _STATUS_STYLE.get(outcome.status, "")
    label = f"[{style}]{outcome.status}[/] {name}"
    if outcome.status != "skipped":
        label += f" ({outcome.seconds:.1f} s)"
    return label + (f" - {outcome.detail}" if outcome.detail else "")


@contextmanager
def live_progress(
    console: Console | None = None,
) -> Iterator[Callable[[str, Outcome | None], None]]:
    """Yield a callback: (step, None) when a step starts, (step, outcome) when it ends.

    A terminal gets spinners; a log (CI, a pipe) gets one plain line per start and end.
    """
    console = console or Console(stderr=True)
    if not console.is_terminal:

        def log_step(name: str, outcome: Outcome | None) -> None:
            console.print(f"... {name}" if outcome is None else _label(name, outcome))

        yield log_step
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        tasks: dict[str, TaskID] = {}

        def on_step(name: str, outcome: Outcome | None) -> None:
            if outcome is None:
                tasks[name] = progress.add_task(name, total=1)
                return
            progress.update(tasks[name], description=_label(name, outcome), completed=1)
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


def provenance_table(verdict: Verdict) -> Table:
    """The facts `verify` vouched for, one file per table (names are long)."""
    status = "OK" if verdict.ok else "FAIL"
    table = Table(title=f"{status} {verdict.filename}", title_justify="left")
    table.add_column("provenance")
    table.add_column("value")
    facts = verdict.facts.pypi_provenance() if verdict.facts else {}
    for key, label in _PROVENANCE_FACTS:
        value = facts.get(key)
        if value is not None:
            table.add_row(label, Text(printable(str(value))))  # Text: no markup, no escapes
    return table


def print_summary(result: PipelineResult, console: Console | None = None) -> None:
    # Digests must never be cut: print wide when stdout is not a terminal.
    console = console or Console(width=None if sys.stdout.isatty() else 400, soft_wrap=True)
    console.print(files_table(result.manifest or load_manifest(result.out)))
    for verdict in result.verdicts:
        console.print(provenance_table(verdict))
    toolkit = result.out / TOOLKIT_SUBDIR
    if result.toolkit_manifest is not None or (toolkit / MANIFEST_NAME).is_file():
        console.print(files_table(result.toolkit_manifest or load_manifest(toolkit)))
        for verdict in result.toolkit_verdicts:
            console.print(provenance_table(verdict))
    console.print(steps_table(result))
    console.print(f"Everything is in {result.out}")
