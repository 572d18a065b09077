"""Decoding the protobuf bodies of `kubectl create <kind>` (bytes captured from kubectl 1.32)."""

from __future__ import annotations

import pytest

from dask_kubernetes.local.apimachinery.errors import APIError
from dask_kubernetes.local.apiserver.protobuf import decode

CONFIGMAP = (
    b'k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x12%\n\x13\n\x03cm1\x12\x00\x1a\x00"\x00*\x002\x00'
    b'8\x00B\x00\x12\x06\n\x01a\x12\x01b\x12\x06\n\x01c\x12\x01d\x1a\x00"\x00'
)
SERVICE = (
    b'k8s\x00\n\r\n\x02v1\x12\x07Service\x12i\n\x1f\n\x03svc\x12\x00\x1a\x00"\x00*\x002\x00'
    b'8\x00B\x00Z\n\n\x03app\x12\x03svc\x12B\n\x1b\n\x0780-8080\x12\x03TCP\x18P"\x07\x08\x00'
    b'\x10\x90?\x1a\x00(\x00\x12\n\n\x03app\x12\x03svc\x1a\x00"\tClusterIP:\x00B\x00R\x00Z\x00'
    b'`\x00h\x00\x1a\x02\n\x00\x1a\x00"\x00'
)


def test_configmap() -> None:
    assert decode(CONFIGMAP) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm1"},
        "data": {"a": "b", "c": "d"},
    }


def test_service_ports_and_int_or_string() -> None:
    service = decode(SERVICE)
    assert service["metadata"] == {"name": "svc", "labels": {"app": "svc"}}
    assert service["spec"] == {
        "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        "selector": {"app": "svc"},
        "type": "ClusterIP",
    }


def test_unsupported_kinds_and_garbage_are_415_or_400() -> None:
    pod = b"k8s\x00\n\t\n\x02v1\x12\x03Pod\x12\x00"
    with pytest.raises(APIError) as unsupported:
        decode(pod)
    assert unsupported.value.code == 415
    with pytest.raises(APIError) as unwrapped:
        decode(b"\x0a\x00")
    assert unwrapped.value.code == 415
    with pytest.raises(APIError) as truncated:
        decode(b"k8s\x00\n\xff")
    assert truncated.value.code == 400


#: What `helm uninstall` (3.17) sends with each DELETE: an empty DeleteOptions.
HELM_DELETE_OPTIONS = b'k8s\x00\n\x13\n\x02v1\x12\rDeleteOptions\x12\x00\x1a\x00"\x00'


def test_delete_options_from_typed_clients() -> None:
    assert decode(HELM_DELETE_OPTIONS) == {"apiVersion": "v1", "kind": "DeleteOptions"}
    # gracePeriodSeconds=5, propagationPolicy=Foreground, dryRun=[All]
    raw = b'\x08\x05"\nForeground*\x03All'
    body = b"k8s\x00\n\x13\n\x02v1\x12\rDeleteOptions\x12" + bytes([len(raw)]) + raw
    assert decode(body) == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 5,
        "propagationPolicy": "Foreground",
        "dryRun": ["All"],
    }
