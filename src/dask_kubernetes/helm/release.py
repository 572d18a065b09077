"""Read a Helm release from the Kubernetes API, so no `helm` binary is needed at run time.

Helm 3's default storage keeps each revision of a release in a Secret named
`sh.helm.release.v1.<name>.v<revision>` (type `helm.sh/release.v1`, labels `owner=helm`,
`name=<name>`, `version=<revision>`, `status=deployed|superseded|...`). Its `data.release` is,
under the Secret's own base64, the release JSON gzipped and base64-encoded again by Helm.
The names of the chart's objects follow the dask/dask chart's `dask.fullname` helper.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from dataclasses import dataclass
from typing import Any

from kr8s.asyncio.objects import Secret

from dask_kubernetes.operator.kubecluster.errors import KubeClusterError
from dask_kubernetes.operator.kubecluster.kr8s_api import Api, list_objects

RELEASE_SECRET_TYPE = "helm.sh/release.v1"  # noqa: S105 - a Secret type, not a password
GZIP_MAGIC = b"\x1f\x8b"
# Helm's `trunc 63 | trimSuffix "-"`: Kubernetes names are DNS labels.
NAME_LIMIT = 63


class HelmReleaseError(KubeClusterError):
    """Base class of HelmCluster's own failures."""


class ReleaseNotFoundError(HelmReleaseError, RuntimeError):
    """No deployed Helm release of that name in that namespace (upstream raised RuntimeError)."""


class SchedulerUnreachableError(HelmReleaseError, RuntimeError):
    """The release exists but its scheduler cannot be reached from here."""


@dataclass(frozen=True)
class HelmRelease:
    """What HelmCluster needs from one deployed revision of a release."""

    name: str
    namespace: str
    revision: int
    chart_name: str
    chart_version: str
    values: dict[str, Any]

    @property
    def fullname(self) -> str:
        """The chart's `dask.fullname`: the prefix of every object it creates."""
        override = self.values.get("fullnameOverride")
        if override:
            return _dns_trim(str(override))
        chart = str(self.values.get("nameOverride") or self.chart_name)
        if chart in self.name:
            return _dns_trim(self.name)
        return _dns_trim(f"{self.name}-{chart}")

    @property
    def app_label(self) -> str:
        """The chart's `dask.name`: the `app` label on its pods."""
        return _dns_trim(str(self.values.get("nameOverride") or self.chart_name))

    def worker_group_names(self) -> list[str]:
        """`additional_worker_groups` names, as the release was installed."""
        groups = self.values.get("additional_worker_groups") or []
        return [str(g["name"]) for g in groups if isinstance(g, dict) and g.get("name")]


def _dns_trim(name: str) -> str:
    return name[:NAME_LIMIT].rstrip("-")


def decode_release(data: str) -> dict[str, Any]:
    """The release JSON from a Secret's `data.release` (Secret base64, Helm base64, gzip)."""
    try:
        payload = base64.b64decode(base64.b64decode(data, validate=True), validate=True)
        if payload[:2] == GZIP_MAGIC:
            payload = gzip.decompress(payload)
        decoded = json.loads(payload)
    except (binascii.Error, OSError, EOFError, ValueError) as exc:
        raise HelmReleaseError(f"cannot decode a Helm release Secret: {exc}") from None
    if not isinstance(decoded, dict):
        raise HelmReleaseError("a Helm release Secret does not hold a release object")
    return decoded


def release_from_json(release: dict[str, Any]) -> HelmRelease:
    metadata = (release.get("chart") or {}).get("metadata") or {}
    return HelmRelease(
        name=str(release.get("name", "")),
        namespace=str(release.get("namespace", "")),
        revision=int(release.get("version", 0)),
        chart_name=str(metadata.get("name", "")),
        chart_version=str(metadata.get("version", "")),
        values=dict(release.get("config") or {}),
    )


async def read_release(api: Api, name: str, namespace: str) -> HelmRelease:
    """The newest deployed revision of release `name`, or ReleaseNotFoundError."""
    secrets = await list_objects(
        Secret, namespace, api, label_selector=f"owner=helm,name={name},status=deployed"
    )
    ours = [s for s in secrets if s.raw.get("type") == RELEASE_SECRET_TYPE]
    if not ours:
        raise ReleaseNotFoundError(
            f"No deployed Helm release {name!r} in namespace {namespace!r} "
            "(looked for its helm.sh/release.v1 Secret)"
        )
    newest = max(ours, key=lambda s: int(s.raw["metadata"]["labels"].get("version", "0")))
    return release_from_json(decode_release(newest.raw["data"]["release"]))
