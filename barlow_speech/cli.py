"""`barlow-speech <command>`: one entry point, each sub-command implemented in the module that owns it.

Sub-commands are imported lazily so `barlow-speech --help` stays fast and a missing optional
dependency of one command does not break the others.

User errors (a bad value, a missing file, a failed upload: ValueError, FileNotFoundError, HubPublishError) end
in one line, `barlow-speech <command>: error: <message>`, and exit code 2; so does a folder that cannot be written
(a full disk, a read-only or forbidden folder: OSError ENOSPC, EDQUOT, EROFS, EACCES, EPERM), naming the path and the
cause. `barlow-speech --debug <command> ...` shows the traceback instead. Any other exception is a bug and keeps its
traceback.
"""

from __future__ import annotations

import errno
import importlib
import sys
from collections.abc import Sequence

# command -> ("module", "function", one-line help); each function takes argv (list[str]) and returns an exit code.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("barlow_speech.demo", "main", "pretrain a small BT on the synthetic corpus, probe it, write a report"),
    "pretrain": (
        "barlow_speech.training.pretrain",
        "main",
        "Barlow Twins pretraining (HfArgumentParser, --config file)",
    ),
    "prepare": ("barlow_speech.data.prepare", "main", "decode a dataset once and cache its 1-s segments"),
    "probe": ("barlow_speech.evaluation.cli", "probe_main", "linear evaluation at label fractions (Table 2)"),
    "disentangle": ("barlow_speech.evaluation.cli", "disentangle_main", "disentanglement metrics (Table 3)"),
    "report": ("barlow_speech.evaluation.cli", "report_main", "tables and figures of a run as Markdown + PNG"),
    "reproduce": (
        "barlow_speech.evaluation.cli",
        "reproduce_main",
        "the paper's tables and figures, resumable stages",
    ),
    "analyze": (
        "barlow_speech.evaluation.cli",
        "analyze_main",
        "layer-wise MI, probe accuracy, CKA / PWCCA (layers | mi)",
    ),
    "push": ("barlow_speech.hub", "main", "publish a checkpoint with remote code and a model card"),
    "export": ("barlow_speech.export", "main", "the encoder as ONNX or a torch.export program"),
}


def _usage() -> str:
    lines = ["usage: barlow-speech [--debug] <command> [options]", "", "commands:"]
    lines += [f"  {name:<12} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += [
        "",
        "Run `barlow-speech <command> --help` for the options of one command.",
        "--debug shows the traceback of an error instead of its one-line message.",
    ]
    return "\n".join(lines)


def _user_errors() -> tuple[type[Exception], ...]:
    """Exceptions whose message says what to change: reported in one line. Imported late (hub pulls in torch)."""
    from .hub import HubPublishError

    return (ValueError, FileNotFoundError, HubPublishError)


# errno of a write the user can fix -> the cause and the fix
WRITE_ERRORS = {
    errno.ENOSPC: "no space left on device; free space or choose another output folder (--output_dir)",
    errno.EDQUOT: "disk quota exceeded; free space or choose another output folder (--output_dir)",
    errno.EROFS: "read-only file system; choose another output folder (--output_dir)",
    errno.EACCES: "permission denied; make the folder writable or choose another output folder (--output_dir)",
    errno.EPERM: "operation not permitted; make the folder writable or choose another output folder (--output_dir)",
}


def _user_message(error: Exception) -> str | None:
    """The one-line message of a user error, None for a bug."""
    if isinstance(error, _user_errors()):
        return str(error)
    if isinstance(error, OSError) and error.errno in WRITE_ERRORS:
        return f"{error.filename or 'writing'}: {WRITE_ERRORS[error.errno]}."
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = argv[:1] == ["--debug"]
    if debug:
        argv = argv[1:]
    if not argv or argv[0] in {"-h", "--help"}:
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(
            f"barlow-speech: unknown command {name!r}; choose one of {sorted(COMMANDS)}.\n\n{_usage()}",
            file=sys.stderr,
        )
        return 2
    module_name, func_name, _ = COMMANDS[name]
    func = getattr(importlib.import_module(module_name), func_name)
    try:
        return int(func(rest) or 0)
    except Exception as error:
        message = None if debug else _user_message(error)
        if message is None:
            raise
        print(f"barlow-speech {name}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
