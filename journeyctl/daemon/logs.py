"""The daemon's logs on stderr: readable lines, or JSON lines (`--log-format json`) for a log
pipeline. Extra structured fields ride on a record as `extra={"fields": {...}}`. `Watch` keeps a
failing loop from flooding them."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

import orjson

from journeyctl.timefmt import rfc3339


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": rfc3339(record.created, millis=True),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def setup(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    for name in ("journeyctl", "uvicorn", "apscheduler"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False
        # APScheduler logs every job run at INFO: several a second here.
        logger.setLevel(logging.WARNING if name == "apscheduler" else level)


class Watch:
    """The health of one long-running part of the daemon (the engine loop, the dispatcher):
    its failures, logged once each, the backoff before it tries again, and whether it is
    healthy enough for /healthz to say so.

    A failure that keeps happening (the store locked or broken, a bug hit on every pass) would
    otherwise log a traceback per attempt, several a second: here each distinct failure is
    logged with its traceback once, then again only after `relog` seconds, and the attempts
    back off from `first` doubling to `cap` seconds.
    """

    def __init__(self, name: str, logger: logging.Logger, *, first: float = 0.5,
                 cap: float = 5.0, unhealthy_after: int = 3, relog: float = 300.0) -> None:
        self.name = name
        self.log = logger
        self.first = first
        self.cap = cap
        self.unhealthy_after = unhealthy_after
        self.relog = relog
        self.failures = 0  # in a row
        self.last_error: str | None = None
        self.dead: str | None = None  # why the task ended, when it ended by surprise
        self._logged: dict[str, float] = {}  # failure -> when it was last logged

    def failed(self, exc: BaseException, what: str | None = None) -> float:
        """Count a failure, log it if it is new, and return the seconds to wait before the
        next attempt."""
        self.failures += 1
        error = _describe(exc)
        self.last_error = error
        delay = min(self.cap, self.first * 2 ** min(self.failures - 1, 30))
        now = time.monotonic()
        if len(self._logged) > 100:  # failures naming ids are all distinct: keep it bounded
            self._logged.clear()
        if now - self._logged.get(error, -self.relog) >= self.relog:
            self._logged[error] = now
            self.log.error("%s failed: %s; trying again in %.1fs (logged once; /healthz "
                           "reports it while it lasts)", what or self.name, error, delay,
                           exc_info=exc, extra={"fields": {"part": self.name}})
        return delay

    def succeeded(self) -> None:
        if self.failures:
            self.log.info("%s works again after %d failure%s", self.name, self.failures,
                          "" if self.failures == 1 else "s",
                          extra={"fields": {"part": self.name}})
            self.failures = 0
            self.last_error = None

    def watch(self, task: asyncio.Task[Any]) -> asyncio.Task[Any]:
        """Notice `task` ending other than by the daemon stopping it (it is not expected to
        end before shutdown): logged at once, and /healthz reports it."""

        def ended(task: asyncio.Task[Any]) -> None:
            if task.cancelled():
                self.dead = "cancelled"
            elif task.exception() is not None:
                exc = task.exception()
                assert exc is not None
                self.dead = _describe(exc)
                self.log.error("%s stopped: %s", self.name, self.dead, exc_info=exc,
                               extra={"fields": {"part": self.name}})
            else:
                self.dead = "stopped"

        task.add_done_callback(ended)
        return task

    def problem(self) -> str | None:
        """Why this part is unhealthy, or None."""
        if self.dead is not None:
            return f"{self.name} is not running ({self.dead})"
        if self.failures >= self.unhealthy_after:
            return f"{self.name} failed {self.failures} times in a row: {self.last_error}"
        return None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__
