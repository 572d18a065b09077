"""The container-node stage of `python -m release test`: release.yml's kind-job suite, run here.

Why: release.yml runs `python -m pytest tests/e2e tests/operator -m e2e` against kind with the
operator image it built, the last gate before an upload. This stage takes that pytest command
from the workflow itself (the `kind-e2e` job's step that runs pytest), so the modules the gate
runs are the modules that run here, and adds `--control-plane=real --node=containers`: the
real plane with the real kubelet and containerd, the operator installed by `helm install` of our
chart from the operator image built here, KubeCluster's and the operator suite's pods in the Dask
image built here (tests/conftest.py). Then the
shipped-operator checks (tests/shipped) and the chart's gateway as a Pod from the operator image
(tests/gateway/test_gateway_pod.py). Where the node binaries, the images or root are missing,
those tests skip saying why: the stage never fails for a missing build.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from dask_kubernetes_release.core.errors import CheckFailed
from dask_kubernetes_release.core.yamldoc import load_mapping

WORKFLOW = Path(".github") / "workflows" / "release.yml"
KIND_JOB = "kind-e2e"
NODE_ARGS = ("--control-plane=real", "--node=containers")
#: Beside the gate's module: what only the container node can show (tests/shipped), and the
#: chart's gateway as shipped (its Pod from the operator image, its clusters from the Dask image;
#: on kind it would skip: it reads the local plane's audit log).
EXTRA_PATHS = ("tests/shipped", "tests/gateway/test_gateway_pod.py")


def kind_job_pytest(root: Path) -> list[str]:
    """The arguments after `python -m pytest` in the kind job's one pytest step."""
    workflow = load_mapping(root / WORKFLOW)
    job: Any = workflow.get("jobs", {}).get(KIND_JOB)
    if not isinstance(job, dict):
        raise CheckFailed(f"{WORKFLOW}: no job {KIND_JOB!r}")
    found = []
    for step in job.get("steps", []):
        for line in str(step.get("run", "")).splitlines():
            if not line.strip().startswith("python -m pytest"):
                continue  # other lines may be shell continuations shlex cannot split alone
            words = shlex.split(line, comments=True)
            if words[:3] == ["python", "-m", "pytest"]:
                found.append(words[3:])
    if len(found) != 1:
        raise CheckFailed(f"{WORKFLOW}: job {KIND_JOB} runs pytest {len(found)} times, not once")
    return found[0]


def stage_arguments(root: Path) -> list[str]:
    """pytest's arguments for the stage: the kind job's, EXTRA_PATHS, and this node."""
    return [*kind_job_pytest(root), *EXTRA_PATHS, *NODE_ARGS]
