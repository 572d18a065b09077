"""The container node's rendered configuration says what docs/design/container-node.md says: no
root, no binaries needed (the files are rendered, parsed back and checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml

from dask_kubernetes.local.containernode import cni, toml
from dask_kubernetes.local.containernode.binaries import (
    NodeBinaries,
    NodeBinariesMissing,
    find_node_binaries,
)
from dask_kubernetes.local.containernode.containerd import CRI_IMAGES, CRI_RUNTIME, Containerd
from dask_kubernetes.local.containernode.coredns import CoreDNSSettings
from dask_kubernetes.local.containernode.kubelet import KubeletSettings
from dask_kubernetes.local.containernode.kubeproxy import KubeProxySettings
from dask_kubernetes.local.containernode.layout import CLUSTER_DNS, NodeLayout
from dask_kubernetes.local.containernode.mountns import in_new_namespace
from dask_kubernetes.local.credentials.pki import Pair

ADDRESS = "10.240.0.1"


@pytest.fixture
def layout(tmp_path: Path) -> NodeLayout:
    return NodeLayout(tmp_path / "state", "node-a")


def test_toml_writer_round_trips_dotted_plugin_ids_and_refuses_other_types() -> None:
    document = {"version": 4, "plugins": {"io.containerd.x.v1": {"on": True, "list": ['a"b']}}}
    assert tomllib.loads(toml.dumps(document)) == document
    with pytest.raises(TypeError):
        toml.dumps({"bad": 1.5})


def test_containerd_config_is_cgroupfs_runc_overlayfs_with_everything_in_our_directories(
    layout: NodeLayout,
) -> None:
    binaries = Path("/opt/node/bin")
    config = tomllib.loads(
        Containerd(binaries, Path("/opt/node/cni"), layout, "localhost/pause:1")
        .write_config()
        .read_text()
    )
    assert config["version"] == 4
    assert config["root"].startswith(str(layout.root))
    runtime = config["plugins"][CRI_RUNTIME]
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["options"] == {"SystemdCgroup": False, "BinaryName": str(binaries / "runc")}
    assert runtime["restrict_oom_score_adj"] is True  # no CAP_SYS_RESOURCE here
    assert runtime["netns_mounts_under_state_dir"] is True
    assert runtime["cni"]["bin_dirs"] == ["/opt/node/cni"]
    assert runtime["cni"]["conf_template"] == str(layout.cni_template)
    assert config["plugins"][CRI_IMAGES]["snapshotter"] == "overlayfs"
    assert config["plugins"][CRI_IMAGES]["pinned_images"]["sandbox"] == "localhost/pause:1"
    assert "io.containerd.nri.v1.nri" in config["disabled_plugins"]
    # The socket lives in the node's private /run/containerd: short, and gone with it.
    assert len(config["grpc"]["address"]) < 108


def test_kubelet_config_allows_cgroup_v1_and_trusts_only_the_planes_ca(
    layout: NodeLayout,
) -> None:
    serving = Pair(Path("/pki/serving.crt"), Path("/pki/serving.key"))
    settings = KubeletSettings(
        Path("/bin/kubelet"), layout, ADDRESS, Path("/pki/ca.crt"), serving, "/dk/ns-node-a"
    )
    config = yaml.safe_load(settings.write_config().read_text())
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs" and config["cgroupRoot"] == "/dk/ns-node-a"
    assert config["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True},
        "x509": {"clientCAFile": "/pki/ca.crt"},
    }
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["readOnlyPort"] == 0 and "staticPodPath" not in config
    assert config["clusterDNS"] == [CLUSTER_DNS]
    assert config["tlsCertFile"] == "/pki/serving.crt"
    assert config["podLogsDir"].startswith(str(layout.root))
    argv = settings.argv()
    assert f"--node-ip={ADDRESS}" in argv and "--hostname-override=node-a" in argv


def test_kube_proxy_touches_only_the_node_address_and_no_host_sysctl(layout: NodeLayout) -> None:
    layout.root.mkdir(parents=True)
    settings = KubeProxySettings(Path("/bin/kube-proxy"), layout, ADDRESS, "10.244.0.0/16")
    config = yaml.safe_load(settings.write_config().read_text())
    assert config["mode"] == "iptables"
    assert config["nodePortAddresses"] == [f"{ADDRESS}/32"]
    assert config["conntrack"]["maxPerCore"] == 0 and config["conntrack"]["min"] == 0
    assert config["clusterCIDR"] == "10.244.0.0/16"


def test_cni_template_bridges_the_nodes_pod_cidr_with_state_in_our_directory(
    layout: NodeLayout,
) -> None:
    rendered = json.loads(cni.write_template(layout).read_text())
    bridge, portmap = rendered["plugins"]
    assert bridge["type"] == "bridge" and bridge["isGateway"] and not bridge["ipMasq"]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "{{.PodCIDR}}"}]]
    assert bridge["ipam"]["dataDir"] == str(layout.cni_ipam_dir)
    assert portmap["type"] == "portmap"
    assert len(cni.bridge_name("a-very-long-node-name")) <= 15


def test_coredns_serves_the_cluster_zone_on_the_node_and_reserves_the_dns_service_ip(
    layout: NodeLayout,
) -> None:
    settings = CoreDNSSettings(Path("/bin/coredns"), layout, ADDRESS)
    corefile = settings.corefile()
    assert f"bind {ADDRESS}" in corefile and "kubernetes cluster.local" in corefile
    assert "forward" not in corefile  # nothing leaves the namespace
    kinds = {o["kind"]: o for o in settings.objects()}
    assert kinds["Service"]["spec"]["clusterIP"] == CLUSTER_DNS
    assert "selector" not in kinds["Service"]["spec"]
    assert kinds["EndpointSlice"]["endpoints"][0]["addresses"] == [ADDRESS]
    verbs = {verb for rule in kinds["ClusterRole"]["rules"] for verb in rule["verbs"]}
    assert verbs == {"list", "watch"}


def test_the_mount_namespace_wrapper_quotes_paths_and_execs_the_program(tmp_path: Path) -> None:
    odd = tmp_path / "with space; rm -rf x"
    argv = in_new_namespace(["containerd", "--config=c"], [(odd, Path("/var/lib/cni"))])
    assert argv[:5] == ["unshare", "--mount", "--propagation", "slave", "--"]
    script = argv[7]
    assert "'" + str(odd) + "'" in script and script.endswith('exec "$@"')
    assert argv[-2:] == ["containerd", "--config=c"]
    # The script is valid sh (parsed, not run).
    assert subprocess.run(["sh", "-n", "-c", script], check=False).returncode == 0


def test_an_explicit_directory_without_the_binaries_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "kubelet").write_text("")
    with pytest.raises(NodeBinariesMissing) as refused:
        find_node_binaries(tmp_path)
    message = str(refused.value)
    assert "\n" not in message and "containerd" in message and "cni/bridge" in message


def test_the_cache_layout_finds_the_plugins_beside_bin(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "cni" / "bin").mkdir(parents=True)
    for name in ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr"):
        (tmp_path / "bin" / name).write_text("")
    for name in ("runc", "coredns"):
        (tmp_path / "bin" / name).write_text("")
    for name in ("bridge", "host-local", "loopback", "portmap"):
        (tmp_path / "cni" / "bin" / name).write_text("")
    found = NodeBinaries.from_directory(tmp_path / "bin")
    assert found.cni == tmp_path / "cni" / "bin"


def test_the_cli_refuses_a_container_node_without_the_real_plane_in_one_line() -> None:
    dask = str(Path(sys.executable).with_name("dask"))
    result = subprocess.run(
        [dask, "kubernetes", "local", "--node", "containers"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--control-plane real" in lines[0]
    assert "Traceback" not in result.stderr
