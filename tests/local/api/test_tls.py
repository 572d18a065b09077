"""HTTPS with a throwaway CA: clients verify the chain from the CA file the server wrote."""

from __future__ import annotations

import ssl
import urllib.request
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from dask_kubernetes.local.apiserver import APIServer


@pytest.mark.asyncio
async def test_https_with_a_verifiable_ca(tmp_path: Path) -> None:
    server = APIServer(state_dir=tmp_path / "state", tls=True)
    await server.start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        assert server.ca_file is not None and server.ca_file.exists()
        kubeconfig = tmp_path / "config"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "local",
                            "cluster": {
                                "server": server.url,
                                "certificate-authority": str(server.ca_file),
                            },
                        }
                    ],
                    "users": [{"name": "local", "user": {"token": server.admin_token}}],
                    "contexts": [
                        {"name": "local", "context": {"cluster": "local", "user": "local"}}
                    ],
                    "current-context": "local",
                }
            )
        )

        def read_version() -> str:
            api = config.new_client_from_config(str(kubeconfig))
            try:
                return str(client.VersionApi(api).get_code().major)
            finally:
                api.close()

        import asyncio

        assert await asyncio.to_thread(read_version) == "1"

        def untrusted() -> None:
            urllib.request.urlopen(
                f"{server.url}/version", timeout=5, context=ssl.create_default_context()
            )

        with pytest.raises(urllib.error.URLError):
            await asyncio.to_thread(untrusted)
    finally:
        await server.stop()
