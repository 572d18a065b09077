"""release.yml's shape: triggers, the job graph, least privilege and the digest re-checks.

Why a test and not only linters: zizmor and actionlint know GitHub Actions, not this release's
rules (who may mint an OIDC token, what must be re-checked before it is signed or uploaded).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import pytest

JOBS = {
    "build",
    "test",
    "kind-e2e",
    "image",
    "attest",
    "chart",
    "publish",
    "publish-toolkit",
    "github-release",
}
ORDER = [
    "build",
    "test",
    "image",
    "attest",
    "chart",
    "publish",
    "publish-toolkit",
    "github-release",
]
CANONICAL = "github.repository == 'dask/dask-kubernetes'"


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    result = job.get("steps", [])
    assert isinstance(result, list)
    return result


def needs(job: dict[str, Any]) -> set[str]:
    value = job.get("needs", [])
    return {value} if isinstance(value, str) else set(value)


def ancestors(jobs: dict[str, Any], name: str) -> set[str]:
    seen: set[str] = set()
    todo = list(needs(jobs[name]))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(needs(jobs[current]))
    return seen


def filter_to_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's filter pattern syntax for the characters this workflow uses."""
    out = ""
    for char in pattern:
        out += {".": r"\.", "*": "[^/]*"}.get(char, char)
    return re.compile(out + "$")


def test_triggers_are_calver_tags_and_manual_dry_runs(release_workflow: dict[str, Any]) -> None:
    on = release_workflow["on"]
    assert set(on) == {"push", "workflow_dispatch"}
    assert set(on["push"]) == {"tags"}, "no branch pushes, only tags"
    patterns = [filter_to_regex(p) for p in on["push"]["tags"]]
    for tag in ("2026.11.0", "2027.1.12", "2026.12.3"):
        assert any(p.match(tag) for p in patterns), tag
    for tag in ("v2026.11.0", "2026.11", "latest", "1.2.3", "2026.11.0-rc1", "2026.x.0"):
        assert not any(p.match(tag) for p in patterns), tag


def test_jobs_run_in_release_order(release_workflow: dict[str, Any]) -> None:
    jobs = release_workflow["jobs"]
    assert set(jobs) == JOBS
    for earlier, later in itertools.pairwise(ORDER):
        assert earlier in ancestors(jobs, later), f"{later} must come after {earlier}"
    assert {"build"} <= ancestors(jobs, "kind-e2e")
    assert {"test", "kind-e2e"} <= needs(jobs["attest"]), "attest only what passed every test"
    assert {"test", "kind-e2e"} <= needs(jobs["image"]), "push only an image of a tested wheel"
    assert "image" in needs(jobs["attest"]), "the chart is packaged with the pushed digest"
    assert needs(jobs["build"]) == set()


def test_unit_suite_covers_python_310_to_313(release_workflow: dict[str, Any]) -> None:
    job = release_workflow["jobs"]["test"]
    assert job["strategy"]["matrix"]["python"] == ["3.10", "3.11", "3.12", "3.13"]
    assert any('-m "not e2e"' in step.get("run", "") for step in steps(job))


def test_operator_is_tested_on_kind_for_two_kubernetes_minors(
    release_workflow: dict[str, Any],
) -> None:
    job = release_workflow["jobs"]["kind-e2e"]
    include = job["strategy"]["matrix"]["include"]
    minors = {entry["kubernetes"] for entry in include}
    assert len(minors) >= 2
    for entry in include:
        image = entry["node-image"]
        assert re.fullmatch(r"kindest/node:v(\d+\.\d+)\.\d+@sha256:[0-9a-f]{64}", image), image
        assert image.split(":v")[1].startswith(entry["kubernetes"] + ".")
    uses = [step.get("uses", "") for step in steps(job)]
    runs = "\n".join(step.get("run", "") for step in steps(job))
    assert any(u.startswith("helm/kind-action@") for u in uses)
    kind_step = next(s for s in steps(job) if s.get("uses", "").startswith("helm/kind-action@"))
    assert kind_step["with"]["node_image"] == "${{ matrix.node-image }}"
    for needed in (
        "docker build --file release/docker/Dockerfile",
        "kind load docker-image",
        "helm lint --strict",
        "python -m dask_kubernetes.operator.crds check",
        "| kubectl apply --dry-run=server --validate=strict",
        "helm install",
        "image.pullPolicy=Never",
        "python -m pytest tests/e2e",
        "DASK_KUBERNETES_TEST_KUBECONFIG",
    ):
        assert needed in runs, needed
    assert runs.index("kind load docker-image") < runs.index("helm install")
    assert runs.index("helm install") < runs.index("python -m pytest tests/e2e")


def test_permissions_are_least_privilege(release_workflow: dict[str, Any]) -> None:
    assert release_workflow["permissions"] == {}
    jobs = release_workflow["jobs"]
    for name, job in jobs.items():
        assert "permissions" in job, f"{name} must state its permissions"
        writes = {scope for scope, level in job["permissions"].items() if level == "write"}
        expected = {
            "image": {"packages", "id-token", "attestations"},
            "attest": {"id-token"},
            "chart": {"packages"},
            "publish": {"id-token"},
            "publish-toolkit": {"id-token"},
            "github-release": {"contents"},
        }.get(name, set())
        assert writes == expected, f"{name} writes {writes}, expected {expected}"


def test_publish_uses_trusted_publishing_only_for_canonical_tags(
    release_workflow: dict[str, Any], workflows_dir: Path
) -> None:
    for name in ("image", "chart", "publish", "publish-toolkit", "github-release"):
        job = release_workflow["jobs"][name]
        condition = job["if"]
        assert "github.event_name == 'push'" in condition, "never on workflow_dispatch"
        assert "startsWith(github.ref, 'refs/tags/')" in condition
        assert CANONICAL in condition
        assert " || " not in condition, "a disjunction could let a dry run through"
    # Two PyPI projects, one upload job each (pypi-publish supports one upload per job).
    pins = set()
    for name, packages in (("publish", "upload/"), ("publish-toolkit", "upload-toolkit/")):
        publish = release_workflow["jobs"][name]
        assert publish["environment"]["name"] == "pypi"
        uses = [s.get("uses", "") for s in steps(publish)]
        action = [s for s in steps(publish) if s.get("uses", "").startswith("pypa/gh-action-pypi-")]
        assert len(action) == 1 and uses.count(action[0]["uses"]) == 1, name
        pins.add(action[0]["uses"])
        inputs = action[0].get("with", {})
        assert not {"password", "user", "username", "token"} & set(inputs)
        assert inputs.get("attestations") is True
        assert inputs.get("packages-dir") == packages
    assert len(pins) == 1, "both projects are published by one pinned action"
    runs = "\n".join(s.get("run", "") for s in steps(release_workflow["jobs"]["publish-toolkit"]))
    assert "cp dist/toolkit/*.tar.gz dist/toolkit/*.whl upload-toolkit/" in runs
    text = (workflows_dir / "release.yml").read_text()
    assert "secrets." not in text, "no stored secret (API token) anywhere"


def recheck_index(job_steps: list[dict[str, Any]]) -> int:
    for index, step in enumerate(job_steps):
        run = step.get("run", "")
        env = step.get("env", {})
        if "python -m release check dist" in run and "sha256sum --check --strict" in run:
            assert env.get("MANIFEST_SHA256") == "${{ needs.build.outputs.manifest-sha256 }}"
            assert env.get("SUMS_SHA256") == "${{ needs.build.outputs.sums-sha256 }}"
            assert '"$MANIFEST_SHA256" dist/manifest.json' in run
            assert '"$SUMS_SHA256" dist/SHA256SUMS' in run
            assert '"$TOOLKIT_SUMS_SHA256" dist/toolkit/SHA256SUMS' in run
            assert "python -m release check dist/toolkit" in run
            return index
    raise AssertionError("no re-check of the downloaded distributions")


@pytest.mark.parametrize(
    ("job_name", "consumer"),
    [
        ("test", "python -m pytest"),
        ("kind-e2e", "docker build"),
        ("image", "docker build"),
        ("attest", "python -m release attest dist --sigstore"),
        ("publish", "pypa/gh-action-pypi-publish@"),
        ("publish-toolkit", "pypa/gh-action-pypi-publish@"),
        ("github-release", "gh release create"),
    ],
)
def test_downloaded_distributions_are_rechecked_before_use(
    release_workflow: dict[str, Any], job_name: str, consumer: str
) -> None:
    job_steps = steps(release_workflow["jobs"][job_name])
    downloads = [
        i
        for i, s in enumerate(job_steps)
        if s.get("uses", "").startswith("actions/download-artifact@")
    ]
    assert downloads, f"{job_name} downloads the dist artifact"
    check = recheck_index(job_steps)
    use = next(
        i
        for i, s in enumerate(job_steps)
        if consumer in s.get("run", "") or s.get("uses", "").startswith(consumer)
    )
    assert max(downloads) < check < use, f"{job_name}: download, re-check, then use"
    assert "build" in needs(release_workflow["jobs"][job_name])


def test_build_records_the_digests_it_is_checked_against(
    release_workflow: dict[str, Any],
) -> None:
    build = release_workflow["jobs"]["build"]
    runs = "\n".join(step.get("run", "") for step in steps(build))
    for command in (
        "python -m release build --out dist",
        "python -m release manifest dist",
        "python -m release check dist",
        "python -m release build --toolkit --out dist/toolkit",
        "python -m release manifest dist/toolkit",
        "python -m release lock dist/toolkit",
        "python -m release check dist/toolkit",
    ):
        assert command in runs, command
    assert "helm package" not in runs, "the chart is packaged after the image digest exists"
    outputs = build["outputs"]
    for key in ("manifest-sha256", "sums-sha256", "toolchain-sha256"):
        assert outputs[key] == f"${{{{ steps.digests.outputs.{key} }}}}"
        assert outputs[f"toolkit-{key}"] == f"${{{{ steps.digests.outputs.toolkit-{key} }}}}"
    uploads = [s for s in steps(build) if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert {u["with"]["name"] for u in uploads} == {"dist"}


def test_github_release_attaches_the_evidence(release_workflow: dict[str, Any]) -> None:
    job = release_workflow["jobs"]["github-release"]
    runs = "\n".join(step.get("run", "") for step in steps(job))
    for asset in (
        "dist/manifest.json",
        "dist/SHA256SUMS",
        "dist/requirements.txt",
        "attestations-out/*",
        "dist/*.tgz",
        "toolkit-assets/*",
        "dist/toolkit/*.tar.gz dist/toolkit/*.whl toolkit-attestations-out/*",
    ):
        assert asset in runs, asset
    assert '"$TOOLKIT_ATTESTATIONS_SHA256"' in runs
    assert runs.index("cp toolkit-attestations-out/* dist/toolkit/") < runs.index(
        "python -m release manifest dist/toolkit"
    )
    assert "verify dist/toolkit \\\n" in runs, "the verifier is verified (files and locks)"
    assert '"$CHART_SHA256"' in runs and '"$ATTESTATIONS_SHA256"' in runs
    # The attached manifest.json and SHA256SUMS cover the chart: written after it joins dist/.
    assert runs.index("cp attestations-out/* chart/*.tgz dist/") < runs.index(
        "python -m release manifest dist"
    )
    assert runs.index("python -m release manifest dist") < runs.index("gh release create")
    assert "verify dist \\\n" in runs, "the chart and the lock files are verified too"


def test_attest_is_the_only_signing_step_before_publish(
    release_workflow: dict[str, Any],
) -> None:
    attest = release_workflow["jobs"]["attest"]
    runs = "\n".join(step.get("run", "") for step in steps(attest))
    assert "python -m release attest dist --sigstore" in runs
    assert "python -m release attest dist/toolkit --sigstore" in runs
    assert "python -m release verify" in runs
    assert "python -m release verify dist/toolkit \\\n" in runs
    for name, job in release_workflow["jobs"].items():
        if name != "attest":
            assert "release attest" not in str(job.get("steps", ""))


def test_concurrency_is_per_ref_and_never_cancels_a_release(
    release_workflow: dict[str, Any],
) -> None:
    workflow = release_workflow
    assert "github.ref" in workflow["concurrency"]["group"]
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_image_is_built_from_the_checked_wheel_pushed_and_attested_by_digest(
    release_workflow: dict[str, Any],
) -> None:
    job = release_workflow["jobs"]["image"]
    assert job["environment"]["name"] == "pypi"
    assert job["outputs"]["digest"] == "${{ steps.push.outputs.digest }}"
    push = next(s for s in steps(job) if s.get("id") == "push")
    for needed in (
        "python -m release chart dist --print-version",
        "docker build --file release/docker/Dockerfile",
        'docker push "$IMAGE_REPOSITORY:$version"',
        '[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]',
        'echo "digest=$digest" >> "$GITHUB_OUTPUT"',
    ):
        assert needed in push["run"], needed
    attest = [
        s for s in steps(job) if s.get("uses", "").startswith("actions/attest-build-provenance@")
    ]
    assert len(attest) == 1
    assert attest[0]["with"] == {
        "subject-name": job["env"]["IMAGE_REPOSITORY"],
        "subject-digest": "${{ steps.push.outputs.digest }}",
        "push-to-registry": True,
    }
    names = [s.get("id") or s.get("uses") or s.get("name") for s in steps(job)]
    assert names.index("push") < names.index(attest[0]["uses"])
    logout = next(s for s in steps(job) if "docker logout" in s.get("run", ""))
    assert logout["if"] == "always()"


def test_chart_is_packaged_with_the_pushed_digest_attested_and_pushed_to_one_place(
    release_workflow: dict[str, Any],
) -> None:
    from dask_kubernetes_release.build.chart import OCI_REPOSITORY

    jobs = release_workflow["jobs"]
    attest_steps = steps(jobs["attest"])
    package = next(s for s in attest_steps if "python -m release chart" in s.get("run", ""))
    assert package["env"] == {"IMAGE_DIGEST": "${{ needs.image.outputs.digest }}"}
    assert package["run"] == 'python -m release chart dist --image-digest "$IMAGE_DIGEST"'
    runs = [s.get("run", "") for s in attest_steps]
    index = runs.index(package["run"])
    assert "python -m release attest dist --sigstore" in runs[index + 1], "attested after packaging"
    assert jobs["attest"]["outputs"]["chart-sha256"] == "${{ steps.digests.outputs.chart-sha256 }}"
    chart_runs = "\n".join(s.get("run", "") for s in steps(jobs["chart"]))
    assert f"helm push chart/*.tgz {OCI_REPOSITORY}" in chart_runs
    assert "chart" in needs(jobs["publish"]), "PyPI only after the image and chart are out"
