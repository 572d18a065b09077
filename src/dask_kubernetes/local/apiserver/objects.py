"""The object semantics of a real API server, with no HTTP in sight: create, get, list, update,
patch, delete — uid, generation, resourceVersion conflicts, finalizers, status and scale
subresources, CRD schemas."""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dask_kubernetes.common import clock
from dask_kubernetes.local.apimachinery.errors import (
    APIError,
    already_exists,
    conflict,
    invalid,
    not_found,
)
from dask_kubernetes.local.apimachinery.selectors import Selection

from . import kinds, schema
from .ipalloc import ClusterIPAllocator, NodePortAllocator
from .patch import apply_patch
from .resources import ResourceRegistry, ResourceType
from .store import Store

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_IMMUTABLE_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")

EVERYTHING = Selection()
FIELD_VALIDATION_MODES = ("Ignore", "Warn", "Strict")
NAMESPACES = ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, status=True)


@dataclass(frozen=True)
class DeleteOptions:
    """The parts of `DeleteOptions` the server honours."""

    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    preconditions: dict[str, Any] | None = None

    @classmethod
    def parse(cls, body: dict[str, Any] | None, query: dict[str, str]) -> DeleteOptions:
        body = body or {}
        grace = body.get("gracePeriodSeconds", query.get("gracePeriodSeconds"))
        policy = body.get("propagationPolicy", query.get("propagationPolicy"))
        if body.get("orphanDependents") is True or query.get("orphanDependents") == "true":
            policy = "Orphan"
        return cls(
            int(grace) if grace is not None else None, policy, body.get("preconditions") or None
        )


def _content(obj: dict[str, Any], resource: ResourceType) -> dict[str, Any]:
    """What `generation` tracks: all but metadata (and status, when it is a subresource)."""
    skipped = {"metadata", "apiVersion", "kind"} | ({"status"} if resource.status else set())
    return {k: v for k, v in obj.items() if k not in skipped}


class ObjectAPI:
    """CRUD over the store for every registered resource type."""

    def __init__(
        self,
        store: Store,
        resources: ResourceRegistry,
        allocator: ClusterIPAllocator,
        node_ports: NodePortAllocator | None = None,
    ) -> None:
        self.store = store
        self.resources = resources
        self.allocator = allocator
        self.node_ports = node_ports if node_ports is not None else NodePortAllocator()
        self._collection_listeners: list[Callable[[], None]] = []
        self.field_validation = "Warn"
        self.warnings: list[str] = []
        """Warnings for the response (`Warning: 299` headers), as `fieldValidation=Warn` gives."""

    def on_collectable(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every deletion (or a deletionTimestamp set), and after the
        creation of an object with owners (its owner may already be gone: created by a controller
        that had not yet seen the deletion, it must be collected too, as kube-controller-manager
        collects a dependent whose owner does not exist): how the garbage collector, started
        beside the API server, learns that there may be work."""
        self._collection_listeners.append(listener)

    def _collectable(self) -> None:
        for listener in self._collection_listeners:
            listener()

    def validating(self, mode: str) -> ObjectAPI:
        """This API for one request with its `fieldValidation` mode: unknown fields of custom
        resources are dropped silently (Ignore), with a warning (Warn) or rejected (Strict)."""
        if mode not in FIELD_VALIDATION_MODES:
            supported = ", ".join(f'"{m}"' for m in sorted(("", *FIELD_VALIDATION_MODES)))
            message = f'Unsupported value: "{mode}": supported values: {supported}'
            cause = {
                "reason": "FieldValueNotSupported",
                "message": message,
                "field": "fieldValidation",
            }
            raise invalid("CreateOptions", "meta.k8s.io", "", [cause])
        scoped = copy.copy(self)
        scoped.field_validation = mode
        scoped.warnings = []
        return scoped

    def dry_run(self) -> ObjectAPI:
        """The same API over copies: the request runs fully, and nothing is persisted."""
        return ObjectAPI(
            self.store.snapshot(),
            copy.deepcopy(self.resources),
            copy.deepcopy(self.allocator),
            node_ports=copy.deepcopy(self.node_ports),
        )

    # -- reading ---------------------------------------------------------------------------

    def _shape(self, resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        obj["apiVersion"] = resource.api_version
        obj["kind"] = resource.kind
        return obj

    def get(self, resource: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        found = self.store.get(resource.storage_key, namespace, name)
        if found is None:
            raise not_found(resource.group, resource.plural, name)
        return self._shape(resource, found)

    def list(
        self, resource: ResourceType, namespace: str | None, selection: Selection = EVERYTHING
    ) -> dict[str, Any]:
        items = [
            self._shape(resource, obj)
            for obj in self.store.select(resource.storage_key, namespace, selection.matches)
        ]
        return {
            "apiVersion": resource.api_version,
            "kind": f"{resource.kind}List",
            "metadata": {"resourceVersion": str(self.store.revision)},
            "items": items,
        }

    # -- writing ---------------------------------------------------------------------------

    def _check_namespace(self, resource: ResourceType, namespace: str) -> None:
        if not resource.namespaced:
            return
        found = self.store.get(NAMESPACES.storage_key, "", namespace)
        if found is None:
            raise not_found("", "namespaces", namespace)
        if found["metadata"].get("deletionTimestamp"):
            raise APIError(
                403,
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated",
            )

    def _admit(self, resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        name = obj["metadata"].get("name", "")
        if not _NAME_RE.match(name) or len(name) > 253:
            raise invalid(
                resource.kind,
                resource.group,
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "metadata.name",
                        "message": f'Invalid value: "{name}": a lowercase RFC 1123 subdomain '
                        "must consist of lower case alphanumeric characters, '-' or '.'",
                    }
                ],
            )
        if not resource.custom:
            return obj
        self._check_unknown_fields(resource, obj)
        admitted, causes = schema.admit(obj, resource.schema)
        causes += _scale_replicas_causes(resource, obj)
        if causes:
            raise invalid(resource.kind, resource.group, name, causes)
        return admitted

    def _check_unknown_fields(self, resource: ResourceType, obj: dict[str, Any]) -> None:
        if self.field_validation == "Ignore" or not resource.schema:
            return
        unknown = [
            f'unknown field "{path}"' for path in schema.unknown_fields(obj, resource.schema)
        ]
        if not unknown:
            return
        if self.field_validation == "Strict":
            raise APIError(
                400,
                f'{resource.kind} in version "{resource.version}" cannot be handled as a '
                f"{resource.kind}: strict decoding error: {', '.join(unknown)}",
            )
        self.warnings += unknown

    def create(
        self, resource: ResourceType, namespace: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise APIError(400, "the request body must be an object")
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{uuid.uuid4().hex[:5]}"
        if not meta.get("name"):
            raise APIError(422, "metadata.name: Required value: name or generateName is required")
        if resource.namespaced:
            if meta.get("namespace") and meta["namespace"] != namespace:
                raise APIError(
                    400,
                    "the namespace of the provided object does not match the namespace "
                    "sent on the request",
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        self._check_namespace(resource, namespace)
        key_ns = namespace if resource.namespaced else ""
        if self.store.get(resource.storage_key, key_ns, meta["name"]) is not None:
            raise already_exists(resource.group, resource.plural, meta["name"])
        for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta.pop("managedFields", None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = clock.now()
        meta["generation"] = 1
        self._shape(resource, obj)
        if resource.custom and resource.status:
            obj.pop("status", None)
        obj = self._admit(resource, obj)
        self._prepare_create(resource, obj)
        created = self.store.write(resource.storage_key, obj, "ADDED")
        if created["metadata"].get("ownerReferences"):
            self._collectable()
        return self._shape(resource, created)

    def _prepare_create(self, resource: ResourceType, obj: dict[str, Any]) -> None:
        if kinds.is_core(resource, "pods"):
            kinds.prepare_pod(obj)
        elif kinds.is_core(resource, "services"):
            kinds.prepare_service(obj, self.allocator, self.node_ports)
        elif kinds.is_core(resource, "events"):
            kinds.normalize_event_times(obj)
        elif kinds.is_core(resource, "namespaces"):
            kinds.prepare_namespace(obj)
        elif kinds.is_crd(resource):
            kinds.prepare_crd(obj)
            self.resources.register_crd(obj)
        elif kinds.is_workload(resource):
            kinds.default_workload(resource, obj)

    def update(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        body: dict[str, Any],
        subresource: str = "",
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise APIError(400, "the request body must be an object")
        current = self.get(resource, namespace, name)
        wanted = body.get("metadata", {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise conflict(resource.group, resource.plural, name)
        if body.get("metadata", {}).get("name", name) != name:
            raise APIError(400, "the name of the object does not match the name on the URL")
        return self.replace(resource, current, copy.deepcopy(body), subresource)

    def replace(
        self,
        resource: ResourceType,
        current: dict[str, Any],
        new: dict[str, Any],
        subresource: str,
    ) -> dict[str, Any]:
        has_status = resource.status
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(current)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif has_status and "status" in current:
            new["status"] = copy.deepcopy(current["status"])
        elif has_status:
            new.pop("status", None)
        meta = new.setdefault("metadata", {})
        old_meta = current["metadata"]
        for field in ("name", "namespace", *_IMMUTABLE_META):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        meta.pop("managedFields", None)
        meta["generation"] = old_meta.get("generation", 1)
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise APIError(
                    422,
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the "
                    "object is being deleted",
                )
        self._shape(resource, new)
        if resource.custom:
            new = self._admit(resource, new)
            meta = new["metadata"]
        if kinds.is_workload(resource) and subresource != "status":
            kinds.default_workload(resource, new)
        if kinds.is_core(resource, "pods") and subresource != "status":
            kinds.default_probes(new.get("spec") or {})
        if kinds.is_core(resource, "events"):
            kinds.normalize_event_times(new)
        if _content(new, resource) != _content(current, resource):
            meta["generation"] = old_meta.get("generation", 1) + 1
        if kinds.is_core(resource, "services"):
            kinds.keep_service_allocations(current, new, self.node_ports)
        if kinds.is_core(resource, "namespaces") and "status" not in new:
            new["status"] = current.get("status", {})
        if new == current:
            return current
        finalized = meta.get("deletionTimestamp") and not meta.get("finalizers")
        is_namespace = kinds.is_core(resource, "namespaces")
        if finalized and meta.get("deletionGracePeriodSeconds") == 0 and not is_namespace:
            self.store.write(resource.storage_key, new, "MODIFIED")
            return self._remove(resource, new)
        stored = self.store.write(resource.storage_key, new, "MODIFIED")
        if kinds.is_crd(resource):
            self.resources.register_crd(stored)
        return self._shape(resource, stored)

    def patch(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        body: Any,
        subresource: str = "",
    ) -> dict[str, Any]:
        current = self.get(resource, namespace, name)
        patched = apply_patch(content_type, current, body, custom=resource.custom)
        if not isinstance(patched, dict):
            raise APIError(422, "the patch produced something other than an object")
        wanted = (patched.get("metadata") or {}).get("resourceVersion")
        if wanted and wanted != current["metadata"]["resourceVersion"]:
            raise conflict(resource.group, resource.plural, name)
        return self.replace(resource, current, patched, subresource)

    # -- binding ---------------------------------------------------------------------------

    def bind(self, namespace: str, name: str, binding: dict[str, Any]) -> dict[str, Any]:
        pods = self.resources.lookup("", "v1", "pods")
        assert pods is not None
        pod = self.get(pods, namespace, name)
        kinds.bind_pod(pod, binding)
        self.store.write(pods.storage_key, pod, "MODIFIED")
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }

    # -- deleting --------------------------------------------------------------------------

    def delete(
        self,
        resource: ResourceType,
        namespace: str,
        name: str,
        options: DeleteOptions = DeleteOptions(),
    ) -> dict[str, Any]:
        current = self.get(resource, namespace, name)
        meta = current["metadata"]
        pre = options.preconditions or {}
        if ("uid" in pre and pre["uid"] != meta["uid"]) or (
            "resourceVersion" in pre and pre["resourceVersion"] != meta["resourceVersion"]
        ):
            raise conflict(resource.group, resource.plural, name)
        if kinds.is_core(resource, "namespaces"):
            return self._terminate_namespace(current)
        if kinds.is_core(resource, "pods") and not kinds.pod_deletes_at_once(current):
            grace = options.grace_period_seconds
            if grace is None:
                grace = int(current["spec"].get("terminationGracePeriodSeconds", 30))
            if grace > 0:
                if meta.get("deletionTimestamp"):
                    return current
                meta["deletionTimestamp"] = clock.after(grace)
                meta["deletionGracePeriodSeconds"] = grace
                return self._shape(
                    resource, self.store.write(resource.storage_key, current, "MODIFIED")
                )
        if options.propagation_policy == "Orphan":
            self._orphan_dependents(meta["uid"])
        finalizers = list(meta.get("finalizers") or [])
        if options.propagation_policy == "Foreground" and not meta.get("deletionTimestamp"):
            finalizers.append("foregroundDeletion")
        if finalizers:
            if meta.get("deletionTimestamp") and finalizers == meta.get("finalizers"):
                return current
            meta["finalizers"] = finalizers
            meta.setdefault("deletionTimestamp", clock.now())
            meta["deletionGracePeriodSeconds"] = 0
            stored = self.store.write(resource.storage_key, current, "MODIFIED")
            self._collectable()
            return self._shape(resource, stored)
        return self._remove(resource, current)

    def _remove(self, resource: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        removed = self.store.remove(resource.storage_key, meta.get("namespace") or "", meta["name"])
        if removed is None:
            raise not_found(resource.group, resource.plural, meta["name"])
        if kinds.is_core(resource, "services"):
            self.allocator.release((removed.get("spec") or {}).get("clusterIP"))
            for port in kinds.node_ports_of(removed):
                self.node_ports.release(port)
        elif kinds.is_crd(resource):
            self._drop_crd_resources(removed)
        self._collectable()
        return self._shape(resource, removed)

    def _drop_crd_resources(self, crd: dict[str, Any]) -> None:
        gone = self.resources.unregister_crd(crd["metadata"]["name"])
        for storage in {r.storage_key for r in gone}:
            for obj in self.store.select(storage):
                self.store.remove(
                    storage, obj["metadata"].get("namespace") or "", obj["metadata"]["name"]
                )
            self.store.drop_storage(storage)

    def _orphan_dependents(self, uid: str) -> None:
        for storage, updated in self.store.dependents(uid):
            refs = updated["metadata"].get("ownerReferences") or []
            kept = [r for r in refs if r.get("uid") != uid]
            updated["metadata"]["ownerReferences"] = kept
            if not kept:
                updated["metadata"].pop("ownerReferences")
            self.store.write(storage, updated, "MODIFIED")

    def _terminate_namespace(self, namespace: dict[str, Any]) -> dict[str, Any]:
        if namespace["metadata"].get("deletionTimestamp"):
            return namespace
        namespace["metadata"]["deletionTimestamp"] = clock.now()
        namespace["metadata"]["deletionGracePeriodSeconds"] = 0
        namespace.setdefault("status", {})["phase"] = "Terminating"
        stored = self.store.write(NAMESPACES.storage_key, namespace, "MODIFIED")
        self._collectable()
        return self._shape(NAMESPACES, stored)

    def delete_collection(
        self,
        resource: ResourceType,
        namespace: str | None,
        selection: Selection,
        options: DeleteOptions = DeleteOptions(),
    ) -> dict[str, Any]:
        listing = self.list(resource, namespace, selection)
        for item in listing["items"]:
            meta = item["metadata"]
            try:
                self.delete(resource, meta.get("namespace") or "", meta["name"], options)
            except APIError as error:
                if error.code != 404:
                    raise
        return listing

    def ensure_namespace(self, name: str) -> None:
        if self.store.get(NAMESPACES.storage_key, "", name) is None:
            self.create(NAMESPACES, "", {"metadata": {"name": name}})


def _scale_replicas_causes(resource: ResourceType, obj: dict[str, Any]) -> list[dict[str, str]]:
    """kube-apiserver also checks a scalable custom object's replicas path on its own (after the
    schema, and named with the leading dot of `specReplicasPath`)."""
    if resource.scale is None:
        return []
    path = resource.scale.spec_replicas_path
    value: Any = obj
    for part in path.lstrip(".").split("."):
        if not isinstance(value, dict) or part not in value:
            return []
        value = value[part]
    if not isinstance(value, int) or isinstance(value, bool) or value >= 0:
        return []  # a wrong type is the schema's to report
    message = f"Invalid value: {value}: should be a non-negative integer"
    return [{"reason": "FieldValueInvalid", "message": message, "field": path}]
