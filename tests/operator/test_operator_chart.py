"""The Helm chart, as far as it can be checked without helm: values, schema, templates, sync."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from dask_kubernetes.operator.crds._chart_sync import find_drift, generate

CHART = Path(__file__).resolve().parents[2] / "charts" / "dask-kubernetes-operator"


def _values() -> dict[str, object]:
    values: dict[str, object] = yaml.safe_load((CHART / "values.yaml").read_text())
    return values


def _schema() -> dict[str, object]:
    schema: dict[str, object] = json.loads((CHART / "values.schema.json").read_text())
    return schema


def test_values_match_schema() -> None:
    jsonschema.validate(_values(), _schema())


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("securityContext", "readOnlyRootFilesystem"), False),
        (("podSecurityContext", "runAsNonRoot"), False),
        (("replicas",), "two"),
        (("rbac", "clusterWide"), "yes"),
    ],
)
def test_schema_refuses_unsafe_values(path: tuple[str, ...], bad: object) -> None:
    values = _values()
    node = values
    for key in path[:-1]:
        node = node[key]  # type: ignore[index,assignment]
    node[path[-1]] = bad  # type: ignore[index]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(values, _schema())


def test_chart_version_is_app_version() -> None:
    meta = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert str(meta["version"]) == str(meta["appVersion"])


def test_deployment_template_is_hardened() -> None:
    text = (CHART / "templates" / "deployment.yaml").read_text()
    for needle in ("securityContext", "livenessProbe", "readinessProbe", "resources", "/healthz"):
        assert needle in text
    values = _values()
    assert values["securityContext"]["readOnlyRootFilesystem"] is True  # type: ignore[index]
    assert values["podSecurityContext"]["runAsNonRoot"] is True  # type: ignore[index]


def test_templates_present() -> None:
    names = {p.name for p in (CHART / "templates").iterdir()}
    assert {"deployment.yaml", "rbac.yaml", "serviceaccount.yaml", "NOTES.txt"} <= names


@pytest.mark.parametrize("name", sorted(p.name for p in (CHART / "files").glob("rbac-*.yaml")))
def test_rbac_rules_are_plain_yaml_without_wildcards(name: str) -> None:
    rules = yaml.safe_load((CHART / "files" / name).read_text())
    assert rules and all({"apiGroups", "resources", "verbs"} <= set(r) for r in rules)
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]


def _crds(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dask_kubernetes.operator.crds", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_cli_in_sync() -> None:
    proc = _crds("check", str(CHART))
    assert proc.returncode == 0, proc.stderr


def test_check_cli_reports_drift_in_one_line(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    crd = chart / "crds" / "daskjob.yaml"
    crd.write_text(crd.read_text() + "# hand edit\n")
    proc = _crds("check", str(chart))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "daskjob.yaml" in proc.stderr
    assert _crds("generate", str(chart)).returncode == 0
    assert find_drift(chart) == []


def test_check_cli_version_drift(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    proc = _crds("check", str(chart), "--version", "2026.9.1")
    assert proc.returncode == 1 and "2026.9.1" in proc.stderr
    generate(chart, "2026.9.1")
    assert find_drift(chart, "2026.9.1") == []
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert meta["version"] == meta["appVersion"] == "2026.9.1"


def test_check_cli_flags_missing_and_extra(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    (chart / "crds" / "daskautoscaler.yaml").unlink()
    (chart / "crds" / "stray.yaml").write_text("{}\n")
    reasons = " ".join(d.reason for d in find_drift(chart))
    assert "daskautoscaler.yaml is missing" in reasons and "stray.yaml" in reasons


@pytest.mark.parametrize("args", [("check", "/nonexistent"), ("frobnicate", "x"), ("check",)])
def test_check_cli_bad_input(args: tuple[str, ...]) -> None:
    proc = _crds(*args)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_generate_leaves_no_temp_files(tmp_path: Path) -> None:
    chart = tmp_path / "chart"
    shutil.copytree(CHART, chart)
    shutil.rmtree(chart / "crds")
    generate(chart)
    assert sorted(p.name for p in (chart / "crds").iterdir()) == [
        "daskautoscaler.yaml",
        "daskcluster.yaml",
        "daskjob.yaml",
        "daskworkergroup.yaml",
    ]
