"""Logging: syslog as `carpha` (always) plus stderr when interactive.

Uses the `syslog` C module rather than logging.handlers.SysLogHandler: it is
cheap to import (the devd hook imports this) and talks to the local syslogd
the way FreeBSD's logger(1) does. Every action logs what it changed."""

import logging
import os
import sys
import syslog

TAG = "carpha"
LOGGER_NAME = "carpha"

FACILITIES = {
    name: getattr(syslog, "LOG_" + name.upper())
    for name in ("auth", "authpriv", "cron", "daemon", "kern", "lpr", "mail", "news",
                 "syslog", "user", "uucp", "local0", "local1", "local2", "local3",
                 "local4", "local5", "local6", "local7")
    if hasattr(syslog, "LOG_" + name.upper())
}

_PRIORITIES = [
    (logging.ERROR, syslog.LOG_ERR),
    (logging.WARNING, syslog.LOG_WARNING),
    (logging.INFO, syslog.LOG_NOTICE),   # notice: FreeBSD's default syslog.conf logs it
    (logging.DEBUG, syslog.LOG_DEBUG),
]


class SyslogHandler(logging.Handler):
    def __init__(self, facility: str = "daemon"):
        super().__init__()
        syslog.openlog(TAG, syslog.LOG_PID, FACILITIES.get(facility, syslog.LOG_DAEMON))

    def emit(self, record: logging.LogRecord) -> None:
        priority = next(p for level, p in _PRIORITIES if record.levelno >= level)
        try:
            syslog.syslog(priority, self.format(record))
        except Exception:  # logging must never break an action
            self.handleError(record)


def setup(facility: str = "daemon", *, interactive: "bool | None" = None,
          verbose: bool = False, use_syslog: bool = True) -> logging.Logger:
    """Configure the `carpha` logger once per process and return it."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    if use_syslog and os.environ.get("CARPHA_NO_SYSLOG") != "1":
        handler = SyslogHandler(facility)
        handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        logger.addHandler(handler)
    if interactive is None:
        interactive = sys.stderr.isatty()
    if interactive:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("carpha: %(message)s"))
        stream.setLevel(logging.DEBUG if verbose else logging.INFO)
        logger.addHandler(stream)
    return logger


def get() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)
