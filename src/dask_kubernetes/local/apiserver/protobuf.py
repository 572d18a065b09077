"""Decode the protobuf bodies kubectl's imperative `create` commands send (they use the typed,
protobuf client) for the few kinds a user creates that way: Namespace, ConfigMap, Secret,
Service and Deployment, the SelfSubjectAccessReview of `kubectl auth can-i`, and the
DeleteOptions helm sends. Other kinds answer 415, and JSON
always works."""

from __future__ import annotations

import base64
from typing import Any

from dask_kubernetes.local.apimachinery.errors import APIError

MAGIC = b"k8s\x00"

# A schema maps field numbers to (JSON name, kind, nested schema). Fields not listed are skipped.
Schema = dict[int, tuple[str, str, Any]]

_TIME: Schema = {}
_MAP: Schema = {1: ("key", "string", None), 2: ("value", "string", None)}
_BYTES_MAP: Schema = {1: ("key", "string", None), 2: ("value", "bytes", None)}
_OWNER: Schema = {
    1: ("kind", "string", None),
    3: ("name", "string", None),
    4: ("uid", "string", None),
    5: ("apiVersion", "string", None),
    6: ("controller", "bool", None),
    7: ("blockOwnerDeletion", "bool", None),
}
_META: Schema = {
    1: ("name", "string", None),
    2: ("generateName", "string", None),
    3: ("namespace", "string", None),
    11: ("labels", "map", _MAP),
    12: ("annotations", "map", _MAP),
    13: ("ownerReferences", "messages", _OWNER),
    14: ("finalizers", "strings", None),
}
_INT_OR_STRING: Schema = {
    1: ("type", "int", None),
    2: ("intVal", "int", None),
    3: ("strVal", "string", None),
}
_SELECTOR: Schema = {1: ("matchLabels", "map", _MAP)}
_ENV: Schema = {1: ("name", "string", None), 2: ("value", "string", None)}
_CONTAINER_PORT: Schema = {
    1: ("name", "string", None),
    3: ("containerPort", "int", None),
    4: ("protocol", "string", None),
}
_CONTAINER: Schema = {
    1: ("name", "string", None),
    2: ("image", "string", None),
    3: ("command", "strings", None),
    4: ("args", "strings", None),
    5: ("workingDir", "string", None),
    6: ("ports", "messages", _CONTAINER_PORT),
    7: ("env", "messages", _ENV),
    14: ("imagePullPolicy", "string", None),
}
_POD_SPEC: Schema = {
    2: ("containers", "messages", _CONTAINER),
    3: ("restartPolicy", "string", None),
    8: ("serviceAccountName", "string", None),
}
_TEMPLATE: Schema = {1: ("metadata", "message", _META), 2: ("spec", "message", _POD_SPEC)}
_DEPLOYMENT_SPEC: Schema = {
    1: ("replicas", "int", None),
    2: ("selector", "message", _SELECTOR),
    3: ("template", "message", _TEMPLATE),
}
_SERVICE_PORT: Schema = {
    1: ("name", "string", None),
    2: ("protocol", "string", None),
    3: ("port", "int", None),
    4: ("targetPort", "intorstring", _INT_OR_STRING),
    5: ("nodePort", "nonzero", None),
}
_SERVICE_SPEC: Schema = {
    1: ("ports", "messages", _SERVICE_PORT),
    2: ("selector", "map", _MAP),
    3: ("clusterIP", "string", None),
    4: ("type", "string", None),
}
_RESOURCE_ATTRIBUTES: Schema = {
    1: ("namespace", "string", None),
    2: ("verb", "string", None),
    3: ("group", "string", None),
    4: ("version", "string", None),
    5: ("resource", "string", None),
    6: ("subresource", "string", None),
    7: ("name", "string", None),
}
_NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string", None), 2: ("verb", "string", None)}
KINDS: dict[str, Schema] = {
    "Namespace": {
        1: ("metadata", "message", _META),
        2: ("spec", "message", {1: ("finalizers", "strings", None)}),
    },
    "ConfigMap": {
        1: ("metadata", "message", _META),
        2: ("data", "map", _MAP),
        3: ("binaryData", "map", _BYTES_MAP),
        4: ("immutable", "bool", None),
    },
    "Secret": {
        1: ("metadata", "message", _META),
        2: ("data", "map", _BYTES_MAP),
        3: ("type", "string", None),
        4: ("stringData", "map", _MAP),
        5: ("immutable", "bool", None),
    },
    "Service": {1: ("metadata", "message", _META), 2: ("spec", "message", _SERVICE_SPEC)},
    "Deployment": {1: ("metadata", "message", _META), 2: ("spec", "message", _DEPLOYMENT_SPEC)},
    "SelfSubjectAccessReview": {
        1: ("metadata", "message", _META),
        2: (
            "spec",
            "message",
            {
                1: ("resourceAttributes", "message", _RESOURCE_ATTRIBUTES),
                2: ("nonResourceAttributes", "message", _NON_RESOURCE_ATTRIBUTES),
            },
        ),
    },
    # The body of a DELETE from typed clients (helm's release cleanup).
    "DeleteOptions": {
        1: ("gracePeriodSeconds", "int", None),
        2: (
            "preconditions",
            "message",
            {1: ("uid", "string", None), 2: ("resourceVersion", "string", None)},
        ),
        3: ("orphanDependents", "bool", None),
        4: ("propagationPolicy", "string", None),
        5: ("dryRun", "strings", None),
    },
}
_UNKNOWN: Schema = {
    1: ("typeMeta", "message", {1: ("apiVersion", "string", None), 2: ("kind", "string", None)}),
    2: ("raw", "raw", None),
}


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if position >= len(data):
            raise APIError(400, "truncated protobuf body")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, position


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message: ints for varints, bytes otherwise."""
    fields: list[tuple[int, int, Any]] = []
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
            fields.append((number, wire, value))
        elif wire == 2:
            length, position = _varint(data, position)
            fields.append((number, wire, data[position : position + length]))
            position += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            fields.append((number, wire, data[position : position + size]))
            position += size
        else:
            raise APIError(400, f"unsupported protobuf wire type {wire}")
    return fields


def decode_message(data: bytes, schema: Schema) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for number, _, value in _fields(data):
        if number not in schema:
            continue
        name, kind, nested = schema[number]
        if kind == "string":
            if value:
                result[name] = value.decode()
        elif kind == "bytes":
            result[name] = base64.b64encode(value).decode()
        elif kind == "raw" or kind == "int" or (kind == "nonzero" and value):
            result[name] = value
        elif kind == "bool":
            if value:
                result[name] = True
        elif kind == "strings":
            result.setdefault(name, []).append(value.decode())
        elif kind == "message":
            decoded = decode_message(value, nested)
            if decoded:
                result[name] = decoded
        elif kind == "messages":
            result.setdefault(name, []).append(decode_message(value, nested))
        elif kind == "map":
            entry = decode_message(value, nested)
            result.setdefault(name, {})[entry.get("key", "")] = entry.get("value", "")
        elif kind == "intorstring":
            entry = decode_message(value, nested)
            result[name] = (
                entry.get("strVal", "") if entry.get("type") == 1 else entry.get("intVal", 0)
            )
    return result


def decode(body: bytes) -> dict[str, Any]:
    """The JSON form of a `k8s\\0`-enveloped protobuf object of a supported kind."""
    if not body.startswith(MAGIC):
        raise APIError(415, "unsupported media type: a protobuf body without the k8s envelope")
    envelope = decode_message(body[len(MAGIC) :], _UNKNOWN)
    type_meta = envelope.get("typeMeta") or {}
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise APIError(
            415, f"unsupported media type: protobuf {kind or 'objects'} are not decoded; send JSON"
        )
    obj = decode_message(envelope.get("raw", b""), KINDS[kind])
    return {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}
