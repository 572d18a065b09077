"""The one CLI module: `python -m release COMMAND [OPTIONS]`.

Each command lives in its family's command module exposing `configure(parser)` and
`run(args) -> int`; this module only maps names to them and turns failures into one-line errors
with exit codes (2 unusable input, 1 failed check). A command module that cannot be imported is
an error naming it, never a command that silently disappears.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.printable import printable

CONSOLE_SCRIPT = "dask-kubernetes-release"  # release/pyproject.toml's [project.scripts]

# command -> (module, one-line help). Only the selected command's module is imported.
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("dask_kubernetes_release.build.command", "build a reproducible sdist and wheel"),
    "manifest": (
        "dask_kubernetes_release.manifest.command",
        "write manifest.json, SHA256SUMS and requirements.txt",
    ),
    "lock": (
        "dask_kubernetes_release.lock.command",
        "lock the dependency closure with hashes: requirements.txt, pylock.toml, SBOM",
    ),
    "rebuild": (
        "dask_kubernetes_release.build.rebuild",
        "rebuild a wheel from its sdist and compare the bytes",
    ),
    "check": (
        "dask_kubernetes_release.manifest.check",
        "re-hash distributions against manifest.json and SHA256SUMS",
    ),
    "chart": (
        "dask_kubernetes_release.build.chart",
        "package the Helm chart reproducibly for the release in DIR",
    ),
    "keygen": ("dask_kubernetes_release.attest.keygen", "write a local signing key pair"),
    "attest": (
        "dask_kubernetes_release.attest.command",
        "write in-toto attestations for every distribution",
    ),
    "verify": (
        "dask_kubernetes_release.verify.command",
        "verify distributions against their attestations, offline",
    ),
    "inspect": (
        "dask_kubernetes_release.verify.inspect",
        "show what evidence claims (does NOT verify it)",
    ),
    "pipeline": (
        "dask_kubernetes_release.pipeline.command",
        "rehearse the whole release workflow locally",
    ),
    "tag": ("dask_kubernetes_release.tag.command", "check everything, then create the release tag"),
    "test": ("dask_kubernetes_release.pipeline.testsuite", "run the whole test suite"),
}


def load_command(command: str) -> ModuleType:
    """The command's module; UsageError naming the module and the ImportError if it won't load."""
    module_name = COMMANDS[command][0]
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and not str(exc.name).startswith(__package__):
            hint = (
                "; the maintainer commands need `pip install 'dask-kubernetes-release[maintainer]'`"
                " (or `python3 -m release` from a clone)"
            )
        raise UsageError(
            f"command {command!r} is unavailable: {module_name} failed to import "
            f"({type(exc).__name__}: {exc}){hint}"
        ) from None


def _prog() -> str:
    """The installed console script names itself; from a clone it is `python -m release`."""
    name = Path(sys.argv[0]).name
    return CONSOLE_SCRIPT if name == CONSOLE_SCRIPT else "python -m release"


def build_parser(selected: str | None = None) -> argparse.ArgumentParser:
    """Every command is listed; only the selected one's module is imported (they are heavy)."""
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Build, hash, attest, verify and tag dask-kubernetes releases.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("bootstrap", help="set up .venv from the hash-locked requirements")
    for command, (_, help_text) in COMMANDS.items():
        module = load_command(command) if command == selected else None
        if module is None:
            sub.add_parser(command, help=help_text)
            continue
        cmd_parser = sub.add_parser(
            command,
            help=help_text,
            description=(module.__doc__ or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(cmd_parser)
        # A command whose module sets PASSTHROUGH gets unknown arguments as `args.extra`.
        cmd_parser.set_defaults(_run=module.run, _passthrough=getattr(module, "PASSTHROUGH", False))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    selected = next((word for word in argv if not word.startswith("-")), None)
    try:
        parser = build_parser(selected if selected in COMMANDS else None)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "_passthrough", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    if not hasattr(args, "_run"):
        parser.error(f"command {args.command!r} is not available in this checkout")
    try:
        return int(args._run(args))
    except (UsageError, CheckFailed) as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        message = f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        print(printable(message), file=sys.stderr)
        return 2
