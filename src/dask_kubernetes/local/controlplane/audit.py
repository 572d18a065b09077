"""The real API server's audit log, read as the stand-in's `AuditRecord`s.

"The operator uses only what the chart grants" and "this is the call RBAC refused" are claims about
requests the real authorizer judged, so they are read from kube-apiserver's own audit log (JSON
lines, Metadata level) rather than from a client's view. The records are the same type the
emulator's audit produces, so one comparison (tests/operator/operator_rbac.py) serves both planes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from dask_kubernetes.common.files import write_atomically
from dask_kubernetes.local.apimachinery.audit import AuditRecord

#: The control plane's own chatter is not what any test asks about; everyone else at Metadata
#: level (who, what, answer code; never a request or response body, so never a secret).
_QUIET_USERS = ["system:kube-controller-manager", "system:kube-scheduler", "system:apiserver"]
POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "None", "users": _QUIET_USERS}, {"level": "Metadata"}],
}


def apiserver_flags(directory: Path) -> list[str]:
    """Write the policy under `directory` and return the flags that log to `directory`/audit.log.

    The log backend's default mode is blocking: a request's record is on disk before its answer,
    so a test that saw the answer can read the record without waiting.
    """
    policy = directory / "policy.yaml"
    write_atomically(policy, yaml.safe_dump(POLICY, sort_keys=False))
    return [
        f"--audit-policy-file={policy}",
        f"--audit-log-path={log_path(directory)}",
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
        "--audit-log-maxsize=0",  # never rotate: a test reads one file from the start
    ]


def log_path(directory: Path) -> Path:
    return directory / "audit.log"


def _record(event: dict[str, Any]) -> AuditRecord:
    ref = event.get("objectRef") or {}
    return AuditRecord(
        verb=str(event.get("verb", "")),
        api_group=str(ref.get("apiGroup", "")),
        resource=str(ref.get("resource", "")),
        subresource=str(ref.get("subresource", "")),
        namespace=str(ref.get("namespace", "")),
        name=str(ref.get("name", "")),
        user_agent=str(event.get("userAgent", "")),
        code=int((event.get("responseStatus") or {}).get("code", 0)),
        user=str((event.get("user") or {}).get("username", "")),
    )


def _events(path: Path) -> list[dict[str, Any]]:
    """One event per request, in order; a watch's ResponseStarted stands in until it completes.

    A line still being written (no newline yet) is left for the next read.
    """
    if not path.exists():
        return []
    text = path.read_text(errors="replace")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    by_id: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        if line.strip():
            event = json.loads(line)
            by_id[str(event.get("auditID", len(by_id)))] = event
    return list(by_id.values())


def read(path: Path) -> list[AuditRecord]:
    """Every request in the log, as the stand-in's audit names it."""
    return [_record(event) for event in _events(path)]


#: The annotation the authorizer leaves on each event: "allow" or "forbid".
_DECISION = "authorization.k8s.io/decision"


def refused_by_authorizer(path: Path) -> list[AuditRecord]:
    """Requests RBAC refused. Not every 403 is one: admission also answers 403 (e.g. creating in
    a namespace that is being deleted), and that says nothing about the rules."""
    return [
        _record(event)
        for event in _events(path)
        if (event.get("annotations") or {}).get(_DECISION) == "forbid"
    ]
