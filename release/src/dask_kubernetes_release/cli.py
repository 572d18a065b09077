"""The one CLI module: `python -m release COMMAND [OPTIONS]`.

Each command lives in its family's command module exposing `configure(parser)` and
`run(args) -> int`; this module only maps names to them and turns failures into one-line errors
with exit codes (2 unusable input, 1 failed check). A command module that cannot be imported is
an error naming it, never a command that silently disappears; asked only for its `--help`, the
CLI still answers (exit 0) and says what is missing. This module imports nothing but the
standard library: `python3 -m release --help` / `--version` answer before any environment exists.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from dask_kubernetes_release.core.errors import CheckFailed, UsageError
from dask_kubernetes_release.core.printable import printable

CONSOLE_SCRIPT = "dask-kubernetes-release"  # release/pyproject.toml's [project.scripts]
DISTRIBUTION = "dask-kubernetes-release"  # release/pyproject.toml's [project] name
HELP_OPTIONS = ("-h", "--help")

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
    "image": (
        "dask_kubernetes_release.image.command",
        "build a reproducible OCI image archive (pause, busybox, coredns, operator, dask)",
    ),
    "tag": ("dask_kubernetes_release.tag.command", "check everything, then create the release tag"),
    "test": ("dask_kubernetes_release.pipeline.testsuite", "run the whole test suite"),
}


def _missing_package(exc: ImportError) -> str | None:
    """The third-party package a command module needs and lacks, else None (a bug of ours)."""
    if isinstance(exc, ModuleNotFoundError) and exc.name and not exc.name.startswith(__package__):
        return exc.name.split(".")[0]
    return None


def _install_hint() -> str:
    if _prog() == CONSOLE_SCRIPT:
        return f"`pip install '{DISTRIBUTION}[maintainer]'`"
    return "`python3 -m release bootstrap` (every command but --help and --version runs it itself)"


def load_command(command: str) -> ModuleType:
    """The command's module; UsageError naming the module and the ImportError if it won't load."""
    module_name = COMMANDS[command][0]
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        hint = ""
        if _missing_package(exc):
            hint = (
                "; the maintainer commands need `pip install 'dask-kubernetes-release[maintainer]'`"
                " (or `python3 -m release` from a clone)"
            )
        raise UsageError(
            f"command {command!r} is unavailable: {module_name} failed to import "
            f"({type(exc).__name__}: {exc}){hint}"
        ) from None


def _help_without(command: str) -> str | None:
    """For `COMMAND --help` when its module needs a package that is not installed: the help that
    can be given (what it does, what is missing, how to get it). None when the module imports."""
    module_name, help_text = COMMANDS[command]
    try:
        importlib.import_module(module_name)
    except ImportError as exc:
        missing = _missing_package(exc)
        if missing is None:
            return None  # not a missing dependency: load_command reports it as an error
        why = (
            f"Its options cannot be listed: {module_name} needs the package {missing!r}, which "
            f"is not installed here. Install what it needs with {_install_hint()}, then ask again."
        )
        return f"{help_text}.\n\n{textwrap.fill(why, width=79)}"
    return None


def _before_passthrough(argv: Sequence[str]) -> list[str]:
    argv = list(argv)
    return argv[: argv.index("--")] if "--" in argv else argv


def only_asks(argv: Sequence[str]) -> bool:
    """`--help`/`-h`/`--version` (before any `--`), or no command: answered without running
    anything, so `python3 -m release` sets up no environment for them (release/bootstrap.py)."""
    words = _before_passthrough(argv)
    return not words or any(word in (*HELP_OPTIONS, "--version") for word in words)


def toolkit_version() -> str:
    """The installed distribution's version (hatch-vcs: from the release tag)."""
    import importlib.metadata

    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed: this is the source in a clone; see `git describe`)"


class _PrintVersion(argparse.Action):
    """`--version`, looked up only when asked (importlib.metadata is not free)."""

    def __init__(self, option_strings: list[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(f"{DISTRIBUTION} {toolkit_version()}")
        parser.exit()


def _prog() -> str:
    """The installed console script names itself; from a clone it is `python -m release`."""
    name = Path(sys.argv[0]).name
    return CONSOLE_SCRIPT if name == CONSOLE_SCRIPT else "python -m release"


def build_parser(selected: str | None = None, *, for_help: bool = False) -> argparse.ArgumentParser:
    """Every command is listed; only the selected one's module is imported (they are heavy).

    `for_help`: a selected module that does not import still gets its help, saying why."""
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Build, hash, attest, verify and tag dask-kubernetes releases.",
    )
    parser.add_argument("--version", action=_PrintVersion, help="print the toolkit's version")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("bootstrap", help="set up .venv from the hash-locked requirements")
    for command, (_, help_text) in COMMANDS.items():
        limited = _help_without(command) if for_help and command == selected else None
        if limited is not None:
            sub.add_parser(
                command,
                help=help_text,
                description=limited,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            continue
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
    asks_help = any(word in HELP_OPTIONS for word in _before_passthrough(argv))
    try:
        parser = build_parser(selected if selected in COMMANDS else None, for_help=asks_help)
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
    except ModuleNotFoundError as exc:
        missing = _missing_package(exc)
        if missing is None:
            raise
        print(
            f"error: {args.command} needs the package {missing!r}, which is not installed here; "
            f"install what it needs with {_install_hint()}",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        message = f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        print(printable(message), file=sys.stderr)
        return 2
