"""The dask-kubernetes operator as a separate process, as it would run in a cluster.

Its CRDs are installed first through the API, as the Helm chart would install them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path

from dask_kubernetes.local.client.api_client import ApiClient
from dask_kubernetes.local.kubelet.process import ContainerProcess
from dask_kubernetes.local.kubelet.process_scan import STATE_DIR_MARKER

_OPERATOR_STOP_GRACE = 5.0
_CRDS_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def install_operator_crds(
    api_url: str,
    *,
    token: str | None = None,
    ca_pem: bytes | None = None,
    client_cert: tuple[Path, Path] | None = None,
    timeout: float = 30.0,
) -> None:
    """Create the Dask CRDs (keeping existing ones) and wait until their group is served."""
    from dask_kubernetes.operator.crds import load_crds
    from dask_kubernetes.operator.vocabulary import API_VERSION

    client = ApiClient(api_url, token=token, ca_pem=ca_pem, client_cert=client_cert)
    try:
        for crd in load_crds():
            await client.create(_CRDS_PATH, crd, exist_ok=True)
        deadline = asyncio.get_running_loop().time() + timeout
        while await client.get(f"/apis/{API_VERSION}") is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{API_VERSION} is not served after installing its CRDs")
            await asyncio.sleep(0.05)
    finally:
        await client.close()


class OperatorProcess:
    """`python -m dask_kubernetes.operator` with its own kubeconfig; output in a log file."""

    def __init__(self, kubeconfig: str, state_dir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.state_dir = state_dir
        self.log_path = state_dir / "logs" / "operator.log"
        self._process: ContainerProcess | None = None

    async def start(self) -> None:
        env = dict(os.environ)
        env |= {
            "KUBECONFIG": self.kubeconfig,
            "PYTHONUNBUFFERED": "1",
            STATE_DIR_MARKER: str(self.state_dir),
        }
        argv = [sys.executable, "-m", "dask_kubernetes.operator"]
        self._process = await ContainerProcess.start(argv, env, self.state_dir, self.log_path)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def stop(self) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                await self._process.stop(_OPERATOR_STOP_GRACE)
            self._process = None
