"""The resource types the server knows: built-ins, plus CRD-defined ones registered at runtime."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ScaleSpec:
    """Where a CRD's `scale` subresource reads and writes replicas."""

    spec_replicas_path: str
    status_replicas_path: str
    label_selector_path: str | None = None


@dataclass(frozen=True)
class ResourceType:
    """One served resource (group, version, plural) and what the server needs to serve it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    status: bool = False
    scale: ScaleSpec | None = None
    subresources: tuple[str, ...] = ()
    schema: dict[str, Any] | None = None
    printer_columns: tuple[dict[str, Any], ...] = ()
    custom: bool = False
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(VERBS)
    """What discovery advertises and the server serves; a review (`create` only) is not stored."""

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Versions of one resource share storage (no conversion: one stored shape)."""
        return (self.group, self.plural)


def _scalable_app(plural: str, kind: str, short_name: str) -> ResourceType:
    """An `apps/v1` workload with `status` and `scale` subresources."""
    return ResourceType(
        "apps",
        "v1",
        plural,
        kind,
        short_names=(short_name,),
        status=True,
        scale=ScaleSpec(".spec.replicas", ".status.replicas", ".spec.selector"),
        categories=("all",),
    )


def _core(plural: str, kind: str, **kwargs: Any) -> ResourceType:
    return ResourceType("", "v1", plural, kind, **kwargs)


BUILTINS: tuple[ResourceType, ...] = (
    _core("namespaces", "Namespace", namespaced=False, short_names=("ns",), status=True),
    _core(
        "pods",
        "Pod",
        short_names=("po",),
        status=True,
        subresources=("log", "portforward", "binding", "proxy", "eviction"),
        categories=("all",),
    ),
    _core(
        "services",
        "Service",
        short_names=("svc",),
        status=True,
        subresources=("proxy",),
        categories=("all",),
    ),
    _core("endpoints", "Endpoints", short_names=("ep",)),
    _core("events", "Event", short_names=("ev",)),
    _core("configmaps", "ConfigMap", short_names=("cm",)),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short_names=("sa",)),
    _core("nodes", "Node", namespaced=False, short_names=("no",), status=True),
    _core("persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",), status=True),
    _scalable_app("deployments", "Deployment", "deploy"),
    _scalable_app("replicasets", "ReplicaSet", "rs"),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease"),
    ResourceType("events.k8s.io", "v1", "events", "Event", short_names=("ev",)),
    ResourceType(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        short_names=("pdb",),
        status=True,
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
        status=True,
    ),
    ResourceType(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        verbs=("create",),
    ),
    *(
        ResourceType("rbac.authorization.k8s.io", "v1", plural, kind, namespaced=namespaced)
        for plural, kind, namespaced in (
            ("roles", "Role", True),
            ("rolebindings", "RoleBinding", True),
            ("clusterroles", "ClusterRole", False),
            ("clusterrolebindings", "ClusterRoleBinding", False),
        )
    ),
)


def _path_of(jsonpath: str | None) -> str | None:
    return jsonpath if jsonpath else None


def from_crd(crd: dict[str, Any]) -> list[ResourceType]:
    """The served versions a CustomResourceDefinition declares."""
    spec = crd["spec"]
    names = spec["names"]
    result = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = subresources.get("scale")
        result.append(
            ResourceType(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                status="status" in subresources,
                scale=ScaleSpec(
                    scale["specReplicasPath"],
                    scale["statusReplicasPath"],
                    _path_of(scale.get("labelSelectorPath")),
                )
                if scale is not None
                else None,
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
                custom=True,
                categories=tuple(names.get("categories") or ()),
            )
        )
    return result


@dataclass
class ResourceRegistry:
    """Lookup by (group, version, plural) and the grouping discovery needs."""

    _types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _crd_owned: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for resource in BUILTINS:
            self.add(resource)

    def add(self, resource: ResourceType) -> None:
        self._types[(resource.group, resource.version, resource.plural)] = resource

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def groups(self) -> dict[str, list[str]]:
        """Group name → served versions (preferred first), in a stable order."""
        result: dict[str, list[str]] = {}
        for resource in self._types.values():
            versions = result.setdefault(resource.group, [])
            if resource.version not in versions:
                versions.append(resource.version)
        return result

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [r for r in self._types.values() if r.group == group and r.version == version]

    def versions_of(self, group: str, plural: str) -> list[ResourceType]:
        return [r for r in self._types.values() if r.group == group and r.plural == plural]

    def register_crd(self, crd: dict[str, Any]) -> list[ResourceType]:
        name = crd["metadata"]["name"]
        self.unregister_crd(name)
        resources = from_crd(crd)
        for resource in resources:
            self.add(resource)
        self._crd_owned[name] = [(r.group, r.version, r.plural) for r in resources]
        return resources

    def unregister_crd(self, name: str) -> list[ResourceType]:
        removed = [
            self._types.pop(key) for key in self._crd_owned.pop(name, []) if key in self._types
        ]
        return removed
