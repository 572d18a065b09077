"""Fault injection (errors, cut watches, delays) and the audit log of requests."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import kr8s
from api_support import open_api
from kubernetes import client, config, watch

from dask_kubernetes.local.apiserver import Faults


def test_error_rate_is_deterministic_per_seed() -> None:
    first, second = Faults(error_rate=0.5, seed=7), Faults(error_rate=0.5, seed=7)
    draws = [first.error_for("get") for _ in range(50)]
    assert draws == [second.error_for("get") for _ in range(50)]
    assert {500, 409} <= set(draws) and None in draws
    assert Faults(error_rate=1.0).error_for("watch") is None
    only_patch = Faults(error_rate=1.0, verbs=frozenset({"patch"}))
    assert only_patch.error_for("get") is None and only_patch.error_for("patch") in (500, 409)
    per_verb = Faults(verb_rates={"update": 1.0}, error_codes=(409,))
    assert per_verb.error_for("update") == 409 and per_verb.error_for("get") is None
    per_verb.clear()
    assert per_verb.error_for("update") is None


def test_faults_scoped_to_users_spare_everyone_else() -> None:
    scoped = Faults(error_rate=1.0, users=frozenset({"operator"}))
    assert scoped.error_for("create", "kubelet") is None
    assert scoped.error_for("create", "") is None
    assert scoped.error_for("create", "operator") in (500, 409)
    scoped.clear()
    assert scoped.error_for("create", "operator") is None


def test_injected_errors_are_status_bodies(private_server: Any, private_kubeconfig: Path) -> None:
    server = private_server.server
    private_server.call(lambda: server.faults.configure(error_rate=1.0, error_codes=(500,)))
    url = f"{server.url}/api/v1/namespaces/default/configmaps"
    try:
        open_api(server, url, timeout=5)
    except urllib.error.HTTPError as error:
        body = json.load(error)
        assert (error.code, body["kind"], body["code"]) == (500, "Status", 500)
    else:
        raise AssertionError("expected an injected 500")
    private_server.call(server.faults.clear)
    with open_api(server, url, timeout=5) as response:
        assert response.status == 200


def test_watch_closed_after_n_events(private_server: Any, private_kubeconfig: Path) -> None:
    server = private_server.server
    api = config.new_client_from_config(str(private_kubeconfig))
    core = client.CoreV1Api(api)
    for index in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{index}"}})
    private_server.call(lambda: server.faults.configure(watch_close_after_events=2))
    events = list(
        watch.Watch().stream(core.list_namespaced_config_map, "default", timeout_seconds=5)
    )
    assert len(events) == 2
    api.close()


def test_delay_is_added(private_server: Any) -> None:
    server = private_server.server
    private_server.call(lambda: server.faults.configure(delay_seconds=0.3))
    started = time.monotonic()
    open_api(server, f"{server.url}/api/v1/namespaces", timeout=5).close()
    assert time.monotonic() - started >= 0.3


def test_audit_records_rbac_verbs(private_server: Any, private_kubeconfig: Path) -> None:
    server = private_server.server
    api = kr8s.api(kubeconfig=str(private_kubeconfig))
    from kr8s.objects import Pod

    pod = Pod(
        {"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
        namespace="default",
        api=api,
    )
    pod.create()
    pod.patch({"metadata": {"labels": {"x": "y"}}})
    list(api.get("pods", namespace="default"))
    pod.delete()
    records = {(r.verb, r.api_group, r.resource, r.subresource, r.namespace) for r in server.audit}
    assert ("create", "", "pods", "", "default") in records
    assert ("patch", "", "pods", "", "default") in records
    assert ("list", "", "pods", "", "default") in records
    assert ("delete", "", "pods", "", "default") in records
    creates = [r for r in server.audit if r.verb == "create"]
    assert all("kr8s" in r.user_agent for r in creates)
    assert all(r.code == 201 for r in creates)
