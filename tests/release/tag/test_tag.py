"""`python -m release tag`: every check, on throwaway clones of this repository with a local
bare "remote". Real git throughout; the CRD check runs a stand-in `crds` module written into the
clone, because the real one belongs to the operator and its own tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dask_kubernetes_release.cli import main as release_main
from dask_kubernetes_release.tag.version import CalVer

ROOT = Path(__file__).resolve().parents[3]
VERSION = "2099.1.0"

CRDS_STUB = '''"""Test stand-in: fails when the chart holds an OUT_OF_SYNC marker."""
import sys
from pathlib import Path

if (Path(sys.argv[2]) / "OUT_OF_SYNC").exists():
    print("CRD daskclusters.kubernetes.dask.org differs from the chart's copy", file=sys.stderr)
    sys.exit(1)
'''


def git(repo: Path, *argv: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *argv], capture_output=True, text=True)
    assert proc.returncode == 0, f"git {argv}: {proc.stderr}"
    return proc.stdout.strip()


@dataclass
class Release:
    repo: Path
    remote: Path

    def write(self, relative: str, text: str) -> None:
        path = self.repo / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def commit(self, message: str, *, push: bool = True) -> None:
        git(self.repo, "add", "-A")
        git(self.repo, "commit", "-q", "-m", message)
        if push:
            git(self.repo, "push", "-q", "origin", "main")

    def tag(self, version: str = VERSION, *extra: str) -> int:
        return release_main(["tag", version, "--repo", str(self.repo), *extra])

    def tags(self) -> list[str]:
        return git(self.repo, "tag", "--list").split()


def changelog(version: str, body: str = "### Fixed\n\n- Something real.\n") -> str:
    return (
        f"# Changelog\n\n## [Unreleased]\n\n## [{version}] - 2099-01-05\n\n{body}\n"
        "## [2026.1.0]\n\n- Old.\n"
    )


PLACEHOLDER = "0.0.0"


def chart(version: str, app_version: str | None = None) -> str:
    app = app_version or version
    return (
        f'apiVersion: v2\nname: dask-kubernetes-operator\nversion: {version}\nappVersion: "{app}"\n'
    )


def go_mod(year: int) -> str:
    return f"module github.com/dask/dask-kubernetes/go/v{year}\n\ngo 1.26.0\n"


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the maintainer's own git config (signing, hooks) out of the tests."""
    config = tmp_path / "gitconfig"
    config.write_text(
        "[user]\n\tname = Release Tester\n\temail = tester@example.invalid\n"
        '[init]\n\tdefaultBranch = main\n[protocol "file"]\n\tallow = always\n'
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return config


@pytest.fixture
def release(tmp_path: Path, isolated_git: Path) -> Iterator[Release]:
    """A clone of the last commit, ready to tag VERSION, level with its bare remote."""
    repo, remote = tmp_path / "work", tmp_path / "remote.git"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
    git(repo, "checkout", "-q", "-B", "main")
    for old in git(repo, "tag", "--list").split():
        git(repo, "tag", "-d", old)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    git(repo, "remote", "set-url", "origin", str(remote))
    rel = Release(repo, remote)
    rel.write("CHANGELOG.md", changelog(VERSION))
    rel.write("charts/dask-kubernetes-operator/Chart.yaml", chart(PLACEHOLDER))
    operator = repo / "src" / "dask_kubernetes" / "operator"
    if not (operator / "__init__.py").exists():
        rel.write("src/dask_kubernetes/operator/__init__.py", "")
    for existing in operator.glob("crds*"):
        subprocess.run(["rm", "-rf", str(existing)], check=True)
    rel.write("src/dask_kubernetes/operator/crds.py", CRDS_STUB)
    rel.write("go/go.mod", go_mod(CalVer.parse(VERSION).year))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "prepare release")
    git(repo, "push", "-q", "-u", "origin", "main")
    git(repo, "remote", "set-head", "origin", "main")
    yield rel


def test_all_checks_pass_and_an_annotated_tag_is_created_but_not_pushed(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    assert release.tag() == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out
    assert out.count("  ok    ") == 8
    assert f"git push origin {VERSION} go/v{VERSION}" in out
    assert git(release.repo, "cat-file", "-t", VERSION) == "tag"
    message = git(release.repo, "tag", "--list", "--format=%(contents)", VERSION)
    assert message.startswith(f"dask-kubernetes {VERSION}")
    assert "Something real." in message
    assert git(release.remote, "tag", "--list") == ""


def test_dry_run_runs_every_check_and_creates_no_tag(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    assert release.tag(VERSION, "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.count("  ok    ") == 8, out
    assert f"Dry run: every check passed; no tag {VERSION} was created." in out
    assert "git push" not in out
    assert release.tags() == []
    assert git(release.remote, "tag", "--list") == ""
    assert release.tag() == 0, "the real run after a dry run still tags"
    assert sorted(release.tags()) == sorted([VERSION, f"go/v{VERSION}"])


def test_dry_run_reports_a_failing_check_exits_1_and_creates_no_tag(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    release.write("CHANGELOG.md", changelog("2098.12.0"))
    release.commit("wrong changelog")
    assert release.tag(VERSION, "--dry-run") == 1
    captured = capsys.readouterr()
    reason = f"CHANGELOG.md has no '## [{VERSION}]' entry"
    assert reason in captured.out and reason in captured.err
    assert captured.err.count("\n") == 1
    assert release.tags() == []


@pytest.mark.parametrize(
    "bad", ["2099.01.0", "v2099.1.0", "99.1.0", "2099.13.0", "2099.1", "latest", "2099.1.0.1"]
)
def test_malformed_version_is_a_usage_error(
    release: Release, capsys: pytest.CaptureFixture[str], bad: str
) -> None:
    assert release.tag(bad) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "YYYY.M.P" in err
    assert release.tags() == []


def test_malformed_version_exits_2_with_one_line_and_no_traceback(release: Release) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "release", "tag", "2099.01.0", "--repo", str(release.repo)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"DASK_K8S_NO_BOOTSTRAP": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: '2099.01.0' is not a CalVer release number YYYY.M.P "
        "(e.g. 2026.11.0, no leading zeros)"
    ]


def test_a_failed_check_exits_1_on_one_stderr_line(release: Release) -> None:
    git(release.repo, "tag", "-a", "2099.2.0", "-m", "later")
    proc = subprocess.run(
        [sys.executable, "-m", "release", "tag", VERSION, "--repo", str(release.repo)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"DASK_K8S_NO_BOOTSTRAP": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: not tagging {VERSION}: newer than the latest tag: {VERSION} is not newer "
        "than the latest tag 2099.2.0"
    ]
    assert "Traceback" not in proc.stderr


def assert_refused(release: Release, capsys: pytest.CaptureFixture[str], reason: str) -> None:
    before = release.tags()
    assert release.tag() == 1
    captured = capsys.readouterr()
    assert reason in captured.err, captured.err
    assert reason in captured.out
    assert release.tags() == before, "a refused release must not leave a tag"


@pytest.mark.parametrize("existing", [VERSION, "2099.1.1", "2100.1.0"])
def test_version_must_be_newer_than_the_latest_tag(
    release: Release, capsys: pytest.CaptureFixture[str], existing: str
) -> None:
    git(release.repo, "tag", existing)
    git(release.repo, "tag", "not-a-release")
    assert_refused(release, capsys, f"is not newer than the latest tag {existing}")


def test_calver_orders_numerically_not_as_text() -> None:
    assert CalVer.parse("2026.10.0") > CalVer.parse("2026.9.3")
    assert CalVer.parse("2026.1.10") > CalVer.parse("2026.1.9")


def test_untracked_file_makes_the_tree_dirty(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    release.write("stray.txt", "x")
    assert_refused(release, capsys, "uncommitted change(s), e.g. stray.txt")


def test_modified_tracked_file_makes_the_tree_dirty(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    release.write("CHANGELOG.md", changelog(VERSION) + "\nmore\n")
    assert_refused(
        release,
        capsys,
        "clean work tree: work tree has 1 uncommitted change(s), e.g. CHANGELOG.md;",
    )


def test_must_be_on_the_default_branch(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    git(release.repo, "checkout", "-q", "-b", "feature")
    assert_refused(release, capsys, "on branch feature, not the default branch main")


def test_detached_head_is_refused(release: Release, capsys: pytest.CaptureFixture[str]) -> None:
    git(release.repo, "checkout", "-q", "--detach")
    assert_refused(release, capsys, "HEAD is detached; check out main first")


def test_behind_the_remote_is_refused(
    release: Release, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "colleague"
    subprocess.run(["git", "clone", "-q", str(release.remote), str(other)], check=True)
    (other / "fix.txt").write_text("a colleague's fix\n")
    git(other, "add", "fix.txt")
    git(other, "commit", "-q", "-m", "fix")
    git(other, "push", "-q", "origin", "main")
    assert_refused(release, capsys, "main is 1 commit(s) behind origin/main; pull first")


def test_ahead_of_the_remote_is_refused(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    release.write("local.txt", "not pushed\n")
    release.commit("local only", push=False)
    assert_refused(release, capsys, "main is 1 commit(s) ahead of origin/main; push first")


def test_without_a_remote_the_remote_check_is_skipped(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    git(release.repo, "remote", "remove", "origin")
    assert release.tag() == 0
    assert "no remote 'origin' configured" in capsys.readouterr().out
    assert VERSION in release.tags()


def test_changelog_needs_an_entry_for_the_version(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    release.write("CHANGELOG.md", changelog("2098.12.0"))
    release.commit("wrong changelog")
    assert_refused(release, capsys, f"CHANGELOG.md has no '## [{VERSION}]' entry")


def test_changelog_entry_must_not_be_empty(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    release.write("CHANGELOG.md", changelog(VERSION, body=""))
    release.commit("empty entry")
    assert_refused(release, capsys, f"CHANGELOG.md's '## [{VERSION}]' entry is empty")


def test_crds_out_of_sync_is_refused(release: Release, capsys: pytest.CaptureFixture[str]) -> None:
    release.write("charts/dask-kubernetes-operator/OUT_OF_SYNC", "")
    release.commit("drift")
    assert_refused(
        release, capsys, "CRDs and chart out of sync: CRD daskclusters.kubernetes.dask.org"
    )


def test_missing_crds_module_is_a_clear_failure(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    (release.repo / "src/dask_kubernetes/operator/crds.py").unlink()
    release.commit("no crds module")
    assert_refused(
        release, capsys, "cannot check CRDs: module dask_kubernetes.operator.crds is missing"
    )


@pytest.mark.parametrize(
    ("chart_text", "reason"),
    [
        # A maintainer "bumping" the chart by hand is drift from the one source (the tag).
        (chart(VERSION), "Chart.yaml version is 2099.1.0, not the placeholder 0.0.0"),
        (chart(PLACEHOLDER, VERSION), "Chart.yaml appVersion is 2099.1.0, not the placeholder"),
        (chart("2098.12.0", PLACEHOLDER), "Chart.yaml version is 2098.12.0, not the placeholder"),
        ("apiVersion: v2\nname: x\n", "Chart.yaml version is unset, not the placeholder 0.0.0"),
        ("version: [unclosed\n", "Chart.yaml is not valid YAML"),
    ],
)
def test_chart_must_hold_the_version_placeholder(
    release: Release, capsys: pytest.CaptureFixture[str], chart_text: str, reason: str
) -> None:
    release.write("charts/dask-kubernetes-operator/Chart.yaml", chart_text)
    release.commit("chart drift")
    assert_refused(release, capsys, reason)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('  tag: "2098.12.0"', "values.yaml pins image.tag '2098.12.0'"),
        ('  digest: "sha256:' + "a" * 64 + '"', "values.yaml pins image.digest 'sha256:aaaa"),
    ],
)
def test_chart_values_must_not_pin_an_image_of_their_own(
    release: Release, capsys: pytest.CaptureFixture[str], line: str, reason: str
) -> None:
    values = release.repo / "charts/dask-kubernetes-operator/values.yaml"
    key = line.split(":")[0]
    text = "\n".join(
        line if ln.startswith(f"{key}:") else ln for ln in values.read_text().split("\n")
    )
    assert text != values.read_text()
    release.write("charts/dask-kubernetes-operator/values.yaml", text)
    release.commit("values drift")
    assert_refused(release, capsys, reason)


def test_all_failures_are_reported_together(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    release.write("CHANGELOG.md", changelog("2098.12.0"))
    release.write("charts/dask-kubernetes-operator/Chart.yaml", chart("2098.12.0"))
    release.commit("two problems")
    assert release.tag() == 1
    err = capsys.readouterr().err
    assert "changelog entry:" in err and "chart version:" in err


def test_the_go_module_is_tagged_on_the_same_commit(release: Release) -> None:
    """Go finds go/'s module by `go/vVERSION` tags; both tags name the release commit."""
    assert release.tag() == 0
    assert sorted(release.tags()) == sorted([VERSION, f"go/v{VERSION}"])
    assert git(release.repo, "cat-file", "-t", f"go/v{VERSION}") == "tag"
    commits = {git(release.repo, "rev-parse", f"{tag}^{{commit}}") for tag in release.tags()}
    assert commits == {git(release.repo, "rev-parse", "HEAD")}
    message = git(release.repo, "tag", "--list", "--format=%(contents)", f"go/v{VERSION}")
    assert message == f"github.com/dask/dask-kubernetes/go/v2099 {VERSION}"


def test_a_go_module_of_another_year_is_refused(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    """`go get` refuses go/v2099.1.0 for a module path ending /v2098: nothing is tagged."""
    release.write("go/go.mod", go_mod(2098))
    release.commit("go.mod of last year")
    assert release.tag() == 1
    err = capsys.readouterr().err
    assert "Go module version: go/go.mod is module github.com/dask/dask-kubernetes/go/v2098" in err
    assert "ending in /v2099" in err
    assert release.tags() == []


def test_without_a_go_module_only_the_release_is_tagged(
    release: Release, capsys: pytest.CaptureFixture[str]
) -> None:
    subprocess.run(["git", "-C", str(release.repo), "rm", "-q", "-r", "go"], check=True)
    release.commit("no Go module")
    assert release.tag() == 0
    assert "no go/go.mod: no Go module to tag" in capsys.readouterr().out
    assert release.tags() == [VERSION]


def test_tag_is_signed_when_signing_is_configured(
    release: Release, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    key = tmp_path / "signing_key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tester", "-f", str(key)],
        check=True,
    )
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"tester@example.invalid {(tmp_path / 'signing_key.pub').read_text()}")
    git(release.repo, "config", "gpg.format", "ssh")
    git(release.repo, "config", "user.signingkey", str(key))
    git(release.repo, "config", "tag.gpgSign", "true")
    git(release.repo, "config", "gpg.ssh.allowedSignersFile", str(allowed))
    assert release.tag() == 0
    assert "Created signed annotated tag" in capsys.readouterr().out
    assert "-----BEGIN SSH SIGNATURE-----" in git(release.repo, "cat-file", "-p", VERSION)
    verified = subprocess.run(
        ["git", "-C", str(release.repo), "tag", "-v", VERSION], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stderr
    assert 'Good "git" signature for tester@example.invalid' in verified.stderr


def test_a_repo_that_is_not_git_is_a_usage_error(
    tmp_path: Path, isolated_git: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for repo in (tmp_path / "missing", tmp_path):
        assert release_main(["tag", VERSION, "--repo", str(repo)]) == 2
        assert "is not a git work tree" in capsys.readouterr().err
