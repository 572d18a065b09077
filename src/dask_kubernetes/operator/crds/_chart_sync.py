"""Keep the Helm chart's CRD copies and version in step with the source of truth.

The chart cannot import Python, so it ships copies; generating them (never hand-editing) and
checking them in tests and at tag time is what stops drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dask_kubernetes.common.files import write_atomically
from dask_kubernetes.common.yaml import MappingError, load_mapping
from dask_kubernetes.operator.crds import CRD_FILES, crd_text

GENERATED_HEADER = (
    "# Generated from src/dask_kubernetes/operator/crds/{stem}.yaml by\n"
    "# `python -m dask_kubernetes.operator.crds generate`. Do not edit by hand.\n"
)


class ChartError(Exception):
    """The chart directory is unusable (bad input, not drift)."""


@dataclass(frozen=True)
class Drift:
    """One reason the chart is out of sync, as a single human-readable line."""

    reason: str


def expected_copy(stem: str) -> str:
    return GENERATED_HEADER.format(stem=stem) + crd_text(stem)


def chart_crd_path(chart: Path, stem: str) -> Path:
    return chart / "crds" / f"{stem}.yaml"


def _read_chart_meta(chart: Path) -> dict[str, object]:
    chart_yaml = chart / "Chart.yaml"
    if not chart_yaml.is_file():
        raise ChartError(f"{chart} is not a Helm chart (no Chart.yaml)")
    try:
        return load_mapping(chart_yaml)
    except MappingError as exc:
        raise ChartError(str(exc)) from exc


def find_drift(chart: Path, version: str | None = None) -> list[Drift]:
    """Everything that differs between the chart and the source; empty when in sync."""
    meta = _read_chart_meta(chart)
    drift: list[Drift] = []
    chart_version, app_version = str(meta.get("version")), str(meta.get("appVersion"))
    if chart_version != app_version:
        drift.append(Drift(f"Chart.yaml version {chart_version} != appVersion {app_version}"))
    if version is not None and chart_version != version:
        drift.append(Drift(f"Chart.yaml version {chart_version} != release version {version}"))
    for stem in CRD_FILES:
        path = chart_crd_path(chart, stem)
        if not path.is_file():
            drift.append(Drift(f"{path} is missing"))
        elif path.read_text(encoding="utf-8") != expected_copy(stem):
            drift.append(Drift(f"{path} differs from the source CRD {stem}.yaml"))
    known = {f"{stem}.yaml" for stem in CRD_FILES}
    crd_dir = chart / "crds"
    if crd_dir.is_dir():
        drift.extend(
            Drift(f"{extra} is not generated from a source CRD")
            for extra in sorted(crd_dir.glob("*.yaml"))
            if extra.name not in known
        )
    return drift


def set_chart_version(chart: Path, version: str) -> None:
    """Rewrite `version` and `appVersion` lines in place, keeping the rest of Chart.yaml as is."""
    chart_yaml = chart / "Chart.yaml"
    lines = chart_yaml.read_text(encoding="utf-8").splitlines(keepends=True)
    rewritten = []
    for line in lines:
        if line.startswith("version:"):
            line = f"version: {version}\n"
        elif line.startswith("appVersion:"):
            line = f'appVersion: "{version}"\n'
        rewritten.append(line)
    write_atomically(chart_yaml, "".join(rewritten))


def generate(chart: Path, version: str | None = None) -> list[Path]:
    """Write the chart's CRD copies (and version, when given); return the files written."""
    _read_chart_meta(chart)
    written = []
    for stem in CRD_FILES:
        path = chart_crd_path(chart, stem)
        write_atomically(path, expected_copy(stem))
        written.append(path)
    if version is not None:
        set_chart_version(chart, version)
        written.append(chart / "Chart.yaml")
    return written
