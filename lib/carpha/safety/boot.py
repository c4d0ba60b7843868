"""This boot's identity: one answer for the whole boot, whoever asks and
however often the clock is stepped (reference 10).

`boot_id(runner, config)` is the one function that decides it; boot-hold,
the worker's demotion accounting, the heartbeat, fences and takeover all
go through it. Not kern.boottime: sys/kern/kern_tc.c tc_setclock() stores
the new time minus the uptime as the boot time, so every step (ntpd,
ntpdate, date(1), a resume) moves it, and carpha then forgot the demotion
it had added at boot.

- `kern.boot_id` where the kernel has it: sys/kern/kern_mib.c
  sysctl_bootid() (14.x-era revision) returns 16 bytes drawn once per
  boot. sysctl prints that opaque struct only with -x; the whole of its
  output is kept as an opaque token (the exact format is [unverified] for
  14.x), fixed for the boot because the bytes are;
- a kernel without the OID ("unknown oid"): a random token in
  `<run_dir>/boot-id`. The run dir lives under /var/run, whose files
  libexec/rc/rc.d/cleanvar deletes at boot (`find -x /var/run -type f
  -delete`, once per boot) before FILESYSTEMS, which rc.d/carpha_boot
  requires; so the first caller of each boot writes a new one
  (files.create_once: temp file, fsync, link into place). With
  cleanvar_enable=NO and a persistent /var/run it would outlive the boot.

Anything else (the OID exists but gives nothing yet: ENXIO until the
random device is seeded; sysctl failing; the marker unwritable) raises
BootIdUnknown. A caller degrades the one decision that needed the boot;
guessing could count carpha's demotion share twice or not at all."""

from __future__ import annotations

import os
import re

from ..exits import TEMPFAIL, CarphaError
from ..store.files import create_once, ensure_private_dir, read_text
from ..freebsd import commands as cmd
from ..host.runner import CommandError

MARKER = "boot-id"
_TOKEN = re.compile(r"^[0-9a-f]{32}$")


class BootIdUnknown(CarphaError):
    exit_code = TEMPFAIL


def boot_id(runner, config) -> str:
    """This boot's identity (see the module docstring); raises BootIdUnknown."""
    argv = cmd.sysctl_boot_id()
    try:
        result = runner.query(argv, timeout=config.timeouts.query_seconds, check=False)
    except CommandError as error:
        raise BootIdUnknown(str(error)) from None
    token = kernel_token(result.returncode, result.stdout, result.stderr)
    if token is not None:
        return f"kern.boot_id {token}"
    return f"marker {marker_token(config.paths.run_dir)}"


def kernel_token(returncode: int, stdout: str, stderr: str):
    """kern.boot_id as `sysctl -n -x` printed it; None when this kernel has
    no such OID (sysctl.c parse(): "unknown oid '%s'", exit 1)."""
    if returncode == 0 and stdout.strip():
        return stdout.strip()
    if returncode != 0 and "unknown oid" in stderr:
        return None
    if returncode == 0:
        # show_var() prints nothing when the fetch fails: sysctl_bootid()
        # returns ENXIO until is_random_seeded().
        raise BootIdUnknown("sysctl -n -x kern.boot_id printed nothing "
                            "(the kernel gives it once the random device is seeded)")
    detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
    raise BootIdUnknown(f"sysctl -n -x kern.boot_id: exit {returncode}: {detail}")


def marker_token(run_dir: str) -> str:
    """The token in <run_dir>/boot-id, written by the first caller of this
    boot (the boot empties /var/run, rc.d/cleanvar)."""
    path = os.path.join(run_dir, MARKER)
    try:
        ensure_private_dir(run_dir)
        text = read_text(path)
        if text is None:
            import secrets    # here: once a boot, and its hmac/hashlib/random cost ~7 ms at every worker start
            text = create_once(path, secrets.token_hex(16) + "\n")
    except (OSError, CarphaError) as error:
        raise BootIdUnknown(f"{path}: {error}") from None
    token = text.strip()
    if not _TOKEN.match(token):
        raise BootIdUnknown(f"{path} holds no boot token; remove it")
    return token
