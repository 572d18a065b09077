"""Reading kube-apiserver's audit log (no binaries needed): the shapes the real server writes.

The RBAC tests on the real plane judge the operator by these records, so the reader is checked
on its own: one record per request, the authorizer's refusals told apart from admission's 403s,
and a line still being written left alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dask_kubernetes.local.controlplane import audit

SA = "system:serviceaccount:dask-operator:dko"


def _event(audit_id: str, stage: str, verb: str, code: int, **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": audit_id,
        "stage": stage,
        "verb": verb,
        "user": {"username": SA},
        "userAgent": "kopf/1.45.2",
        "objectRef": {"resource": "pods", "namespace": "ns", "apiVersion": "v1"},
        "responseStatus": {"code": code},
    }
    event.update(extra)
    return event


def _write(path: Path, events: list[dict[str, Any]], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events) + tail)
    return path


def test_one_record_per_request_named_as_rbac_names_things(tmp_path: Path) -> None:
    status = {
        "resource": "daskclusters",
        "subresource": "status",
        "apiGroup": "kubernetes.dask.org",
    }
    log = _write(
        tmp_path / "audit.log",
        [
            _event("w", "ResponseStarted", "watch", 200),
            _event("p", "ResponseComplete", "patch", 200, objectRef=status | {"name": "c"}),
            _event("w", "ResponseComplete", "watch", 200),
            _event("d", "ResponseComplete", "get", 200, objectRef=None),  # discovery
        ],
    )
    records = audit.read(log)
    assert [(r.verb, r.api_group, r.rbac_resource, r.name) for r in records] == [
        ("watch", "", "pods", ""),
        ("patch", "kubernetes.dask.org", "daskclusters/status", "c"),
        ("get", "", "", ""),
    ]
    assert {(r.user, r.user_agent, r.code) for r in records} == {(SA, "kopf/1.45.2", 200)}


def test_only_the_authorizers_forbid_is_a_refusal(tmp_path: Path) -> None:
    forbid = {"authorization.k8s.io/decision": "forbid"}
    allow = {"authorization.k8s.io/decision": "allow"}
    log = _write(
        tmp_path / "audit.log",
        [
            _event("rbac", "ResponseComplete", "create", 403, annotations=forbid),
            # Allowed by RBAC, refused by admission (the namespace is being deleted): also 403.
            _event("admission", "ResponseComplete", "create", 403, annotations=allow),
            _event("ok", "ResponseComplete", "list", 200, annotations=allow),
        ],
    )
    refused = audit.refused_by_authorizer(log)
    assert [(r.verb, r.code) for r in refused] == [("create", 403)]
    assert len([r for r in audit.read(log) if r.code == 403]) == 2


def test_a_line_being_written_waits_for_the_next_read(tmp_path: Path) -> None:
    done = _event("a", "ResponseComplete", "list", 200)
    log = _write(tmp_path / "audit.log", [done], tail=json.dumps(done)[:40])
    assert [r.verb for r in audit.read(log)] == ["list"]
    assert audit.read(tmp_path / "absent.log") == []


def test_the_policy_logs_metadata_only_and_leaves_out_the_planes_own_components(
    tmp_path: Path,
) -> None:
    flags = audit.apiserver_flags(tmp_path)
    assert f"--audit-log-path={tmp_path / 'audit.log'}" in flags
    assert "--audit-log-mode=blocking" in flags
    policy = yaml.safe_load((tmp_path / "policy.yaml").read_text())
    levels = [rule["level"] for rule in policy["rules"]]
    assert levels == ["None", "Metadata"]  # never a request or response body: no secret logged
    assert "system:kube-controller-manager" in policy["rules"][0]["users"]
