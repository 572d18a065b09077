# mypy: disable-error-code="no-untyped-call"
# (distributed.Client is unannotated.)
"""Two clusters with the same name in two namespaces, running at the same time."""

from __future__ import annotations

from typing import Any

import pytest
from distributed import Client
from e2e_helpers import IMAGE, RESOURCE_TIMEOUT

from dask_kubernetes.operator.kubecluster import KubeCluster

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(300)]


def test_same_name_in_two_namespaces(
    operator_cluster: Any, namespace: str, second_namespace: str
) -> None:
    options: dict[str, Any] = {"name": "twin", "image": IMAGE, "n_workers": 1, "quiet": True}
    with (
        KubeCluster(namespace=namespace, resource_timeout=RESOURCE_TIMEOUT, **options) as one,
        KubeCluster(
            namespace=second_namespace, resource_timeout=RESOURCE_TIMEOUT, **options
        ) as two,
        Client(one) as client_one,
        Client(two) as client_two,
    ):
        assert one.scheduler_address != two.scheduler_address
        assert client_one.submit(lambda x: x + 1, 1).result() == 2
        assert client_two.submit(lambda x: x + 2, 1).result() == 3
        assert client_one.scheduler_info()["id"] != client_two.scheduler_info()["id"]
