"""`release verify --help` is a how-to a security team can follow."""

from __future__ import annotations

from collections.abc import Callable


def test_help_reads_as_a_how_to(release: Callable[..., object]) -> None:
    result = release("verify", "--help")
    assert result.code == 0  # type: ignore[attr-defined]
    text = result.out  # type: ignore[attr-defined]
    for needle in (
        "offline",
        "Quick start",
        "pypi.org/integrity",
        "--repository OWNER/NAME --workflow FILE.yml",
        "--identity SAN",
        "--staging",
        "attestations/policy.toml",
        "OK <file>  <owner/repo> <workflow>@<commit> <ref> (log index N)",
        "FAIL <file>:",
        "exit 0",
        "docs/VERIFYING.md",
    ):
        assert needle in text, needle
    # RawDescriptionHelpFormatter keeps the layout: the example command stays on its own line.
    assert (
        "\n  python -m release verify <file> --repository OWNER/NAME --workflow release.yml\n"
        in text
    )
