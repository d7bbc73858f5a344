"""The error boundary of the CLI: every exception ends here as a message and an exit code.

0 ok, 1 user error (located diagnostics), 2 usage error (or, for `plan --detailed-exitcode`,
changes), 3 internal error (traceback written to a log file, never shown), 130 interrupted,
141 the reader of stdout left (`journeyctl ... | head`).
"""

from __future__ import annotations

import datetime as dt
import os
import select
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from journeyctl.diagnostics import JourneyctlError

EXIT_OK, EXIT_USER, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# 128 + SIGPIPE: what a shell reports for a tool killed by SIGPIPE, so that `set -o pipefail`
# fails a pipeline whose output journeyctl could not finish writing, as it does for any tool
EXIT_READER_LEFT = 141


def run_guarded(command: Callable[[], Any]) -> int:
    """Run a command's body; whatever it raises becomes a message and an exit code."""
    try:
        result = command()
        sys.stdout.flush()  # a write left in the buffer fails here, not after the guard
        return result if isinstance(result, int) else EXIT_OK
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):
            # rich's Console.on_broken_pipe: it has already sent stdout to /dev/null and exits
            # 1 by itself; a reader that left is 141 whatever printed
            return EXIT_READER_LEFT
        raise
    except KeyboardInterrupt:
        print("journeyctl: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except JourneyctlError as exc:
        from journeyctl.diagnostics_render import print_text

        print_text(exc.diagnostics, {}, sys.stderr)
        return EXIT_USER
    except BrokenPipeError as exc:
        if not stdout_is_gone():
            return _internal(exc)  # some other pipe broke: a bug, not the reader leaving
        # `journeyctl graph x | head`: the reader left, nothing to report; what is still in
        # the buffer goes nowhere, so that Python does not complain of it at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_READER_LEFT
    except Exception as exc:
        return _internal(exc)


def _internal(exc: Exception) -> int:
    log = write_crash_log(exc)
    if getattr(exc, "by_signal", False):  # stopped from outside: not our bug, still no result
        print(f"journeyctl: stopped: {exc}. Nothing was written; the details are in {log}",
              file=sys.stderr)
        return EXIT_INTERNAL
    print(f"journeyctl: internal error ({type(exc).__name__}: {exc}). This is a bug in "
          f"journeyctl, not in your project; the traceback is in {log}", file=sys.stderr)
    return EXIT_INTERNAL


def stdout_is_gone() -> bool:
    """Whether nobody reads stdout any more: a pipe or socket whose reading end is closed
    (poll says POLLERR or POLLHUP for it; a write would fail with EPIPE)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced, closed, or not a real file
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def write_crash_log(exc: BaseException) -> Path:
    folder = Path(os.environ.get("JOURNEYCTL_LOG_DIR") or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"journeyctl-crash-{stamp}-{os.getpid()}.log"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(f"journeyctl {sys.argv[1:]!r}\n")
        traceback.print_exception(exc, file=handle)
    return path
