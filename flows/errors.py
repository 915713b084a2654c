"""Tracebacks go to one log file and a user reads one line; `hanflow --debug` shows them on the terminal.

The log (`$HANFLOW_ERROR_LOG`, else `$XDG_CACHE_HOME/hanflow/error.log`, else `~/.cache/hanflow/error.log`)
holds the last command that logged a traceback: the first write of a process starts it afresh, so it
never grows without bound. Prefect's task and flow failure tracebacks still reach the Prefect API
(the dashboard): only its console handler is filtered.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOG_ENV = "HANFLOW_ERROR_LOG"
_state = {"started": False, "debug": False}


def set_debug(debug: bool) -> None:
    _state["debug"] = bool(debug)


def debug() -> bool:
    return _state["debug"]


def log_path() -> Path:
    if os.environ.get(LOG_ENV):
        return Path(os.environ[LOG_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hanflow" / "error.log"


def write_log(text: str) -> Path | None:
    """Add text to the error log (the first write of this process truncates it); None when it cannot be written."""
    path = log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a" if _state["started"] else "w", encoding="utf-8") as f:
            if not _state["started"]:
                f.write(
                    f"# hanflow {' '.join(sys.argv[1:])}  (pid {os.getpid()}, {time.strftime('%Y-%m-%d %H:%M:%S')})\n"
                )
            f.write(text.rstrip("\n") + "\n")
    except OSError:
        return None
    _state["started"] = True
    return path


def log_exception(err: BaseException) -> Path | None:
    """Write err's traceback to the log (and to stderr with --debug); returns the log's path."""
    text = "".join(traceback.format_exception(type(err), err, err.__traceback__))
    if debug():
        sys.stderr.write(text)
    return write_log(text)


def where(path: Path | None) -> str:
    """The hint an error line ends with when a traceback was logged."""
    if path is None:
        return "rerun with `hanflow --debug ...` for the traceback"
    return f"traceback in {path}; `hanflow --debug ...` shows it here"


class TracebacksToLog(logging.Filter):
    """On a console handler: records that carry a traceback, and Prefect's "Finished in state Failed(<the
    error>)" lines (the same message that hanflow's `error:` line gives), go to the log file instead."""

    _format = logging.Formatter("%(asctime)s %(levelname)s %(name)s - %(message)s")
    _repeats = ("Finished in state Failed(", "Finished in state Crashed(")

    def filter(self, record: logging.LogRecord) -> bool:
        traceback_attached = bool(record.exc_info and record.exc_info[0]) or bool(record.exc_text)
        if not traceback_attached and not str(record.msg).startswith(self._repeats):
            return True
        write_log(self._format.format(record))
        return False


@contextmanager
def quiet_prefect_console() -> Iterator[None]:
    """While a command runs flows: Prefect's failure tracebacks ("Task run failed with exception ...") and its
    "Finished in state Failed(...)" lines go to the log, not the terminal. A no-op with --debug."""
    if debug():
        yield
        return
    import prefect.main  # noqa: F401  (sets up Prefect's logging: its console handler must exist first)
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    handlers = {id(h): h for logger in loggers for h in logger.handlers if isinstance(h, PrefectConsoleHandler)}
    quiet = TracebacksToLog()
    for handler in handlers.values():
        handler.addFilter(quiet)
    try:
        yield
    finally:
        for handler in handlers.values():
            handler.removeFilter(quiet)
