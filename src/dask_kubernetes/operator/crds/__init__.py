"""The Dask CRDs: the YAML files beside this module are the one source of truth.

The Helm chart carries generated copies (see `_chart_sync`); everything else loads them from here.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from dask_kubernetes.common.yaml import load_mapping

__all__ = ["CRD_FILES", "crd_text", "load_crd", "load_crds", "openapi_schema"]

#: Source file stem for each CRD, in dependency order (clusters before what refers to them).
CRD_FILES: tuple[str, ...] = ("daskcluster", "daskworkergroup", "daskjob", "daskautoscaler")


def crd_text(stem: str) -> str:
    """The CRD exactly as written in the source YAML (so copies can be compared byte for byte)."""
    return files(__name__).joinpath(f"{stem}.yaml").read_text(encoding="utf-8")


def load_crd(stem: str) -> dict[str, Any]:
    return load_mapping(crd_text(stem), f"{stem}.yaml")


def load_crds() -> list[dict[str, Any]]:
    return [load_crd(stem) for stem in CRD_FILES]


def openapi_schema(stem: str) -> dict[str, Any]:
    """The `openAPIV3Schema` of the (single) served version of a CRD."""
    schema: dict[str, Any] = load_crd(stem)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema
