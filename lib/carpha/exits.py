"""Exit codes (sysexits(3)); every entry point maps its outcome to one of these."""

OK = 0
FAILED = 1          # only `carpha simulate`: an invariant did not hold
USAGE = 64          # EX_USAGE: bad usage or argv
DATAERR = 65        # EX_DATAERR: unparseable data
UNAVAILABLE = 69    # EX_UNAVAILABLE: a needed peer or witness is unavailable
SOFTWARE = 70       # EX_SOFTWARE: an action failed verification
TEMPFAIL = 75       # EX_TEMPFAIL: try later (lock busy, damped, refused by a guard)
NOPERM = 77         # EX_NOPERM
CONFIG = 78         # EX_CONFIG


class CarphaError(Exception):
    """An error with the exit code it maps to; the message is one line."""

    exit_code = SOFTWARE

    def __init__(self, message: str, exit_code: "int | None" = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
