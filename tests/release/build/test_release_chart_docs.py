"""The admin docs install the chart from where release.yml pushes it, and verify it first."""

from __future__ import annotations

import re
from pathlib import Path

from dask_kubernetes_release.build.chart import IMAGE_REPOSITORY, OCI_REPOSITORY

ROOT = Path(__file__).resolve().parents[3]


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def test_readme_admin_section_verifies_then_installs_from_the_oci_location() -> None:
    section = _section((ROOT / "README.md").read_text(), "## For platform admins")
    pull = f"helm pull {OCI_REPOSITORY}/dask-kubernetes-operator --version"
    install = f"helm install dask-operator {OCI_REPOSITORY}/dask-kubernetes-operator --version"
    assert pull in section and install in section
    verify = section.index('python3 -m release verify "dask-kubernetes-operator-$VERSION.tgz"')
    assert section.index(pull) < verify < section.index("helm install dask-operator")
    assert f'gh attestation verify "oci://{IMAGE_REPOSITORY}@sha256:' in section
    assert IMAGE_REPOSITORY in section


def test_workflow_pushes_where_the_docs_say() -> None:
    workflow = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    assert re.search(rf"helm push chart/\*\.tgz {re.escape(OCI_REPOSITORY)}\n", workflow)
    assert f"IMAGE_REPOSITORY: {IMAGE_REPOSITORY}\n" in workflow
    verifying = (ROOT / "docs" / "VERIFYING.md").read_text()
    assert f'gh attestation verify "oci://{IMAGE_REPOSITORY}@$DIGEST"' in verifying
