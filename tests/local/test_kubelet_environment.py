"""Container environments: env, envFrom, the downward API, ConfigMap/Secret references."""

from __future__ import annotations

import base64

import pytest

from dask_kubernetes.local.kubelet.environment import (
    MissingEnvSourceError,
    SourceData,
    container_environment,
    referenced_sources,
)

POD = {
    "metadata": {"name": "sched", "namespace": "ns1", "uid": "u-1", "labels": {"role": "s"}},
    "spec": {"nodeName": "local"},
    "status": {"podIP": "127.9.0.2"},
}


def test_values_downward_api_and_expansion() -> None:
    container = {
        "env": [
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "ROLE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['role']"}}},
            {"name": "ADDR", "value": "tcp://$(IP):8786"},
            {"name": "LATER", "value": "$(NOT_YET)"},
            {"name": "NOT_YET", "value": "x"},
        ]
    }
    env = container_environment(POD, container, SourceData())
    assert env == {
        "POD": "sched",
        "NS": "ns1",
        "IP": "127.9.0.2",
        "ROLE": "s",
        "ADDR": "tcp://127.9.0.2:8786",
        "LATER": "$(NOT_YET)",  # only earlier variables expand, as in Kubernetes
        "NOT_YET": "x",
    }


def test_env_from_configmap_and_secret_with_prefix_and_key_refs() -> None:
    container = {
        "envFrom": [
            {"configMapRef": {"name": "cm"}, "prefix": "CM_"},
            {"secretRef": {"name": "sec"}},
        ],
        "env": [
            {"name": "ONE", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "a"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "token"}}},
            {
                "name": "OPTIONAL",
                "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nope", "optional": True}},
            },
        ],
    }
    assert referenced_sources(container) == {("configmaps", "cm"), ("secrets", "sec")}
    sources = SourceData(
        {
            ("configmaps", "cm"): {"data": {"a": "1", "b": "2"}},
            ("secrets", "sec"): {"data": {"token": base64.b64encode(b"s3cret").decode()}},
        }
    )
    env = container_environment(POD, container, sources)
    assert env == {"CM_a": "1", "CM_b": "2", "token": "s3cret", "ONE": "1", "TOKEN": "s3cret"}


def test_missing_required_source_is_an_error() -> None:
    container = {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}
    with pytest.raises(MissingEnvSourceError, match="secret 's' has no key 'k'"):
        container_environment(POD, container, SourceData())
    optional = {"envFrom": [{"configMapRef": {"name": "gone", "optional": True}}]}
    assert container_environment(POD, optional, SourceData()) == {}
