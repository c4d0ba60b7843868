"""The simulated commands as executables on PATH (`install_commands`).

Each invocation takes an exclusive flock on $CARPHA_SIM_DIR/lock, loads the
cluster, runs the command for host $CARPHA_SIM_HOST, saves the state
atomically and exits with the command's status. A command that would hang
forever saves, releases the lock and then really hangs (until its caller's
timeout kills it).
"""

from __future__ import annotations

import fcntl
import os
import signal
import stat
import sys

from ..host.runner import CommandMissing

from . import commands  # noqa: F401  (registers them with the executor)
from .executor import COMMANDS, SIM_EXIT, Hang, run

SCRIPT = """#!{python}
# carpha.sim: simulated FreeBSD `{name}` (state in $CARPHA_SIM_DIR).
import sys
sys.path.insert(0, {lib!r})
from carpha.sim.executables import main
sys.exit(main(sys.argv))
"""


def install_commands(bin_dir: str, names=None) -> list:
    """Write one executable per simulated command into bin_dir."""
    lib = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.makedirs(bin_dir, exist_ok=True)
    written = []
    for name in sorted(names or COMMANDS):
        path = os.path.join(bin_dir, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(SCRIPT.format(python=sys.executable, name=name, lib=lib))
        os.chmod(path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        written.append(path)
    return written


def main(argv) -> int:
    from .cluster import Cluster
    directory = os.environ.get("CARPHA_SIM_DIR")
    host_name = os.environ.get("CARPHA_SIM_HOST")
    if not directory or not host_name:
        sys.stderr.write("carpha.sim: CARPHA_SIM_DIR and CARPHA_SIM_HOST must be set\n")
        return SIM_EXIT
    lock_fd = os.open(os.path.join(directory, "lock"),
                      os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    hang = False
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        cluster = Cluster.load(directory)
        host = cluster.hosts.get(host_name)
        if host is None or not host.up:
            sys.stderr.write(f"carpha.sim: host {host_name} is not running\n")
            return SIM_EXIT
        try:
            rc, out, err = run(host, argv, float("inf"), dict(os.environ))
        except CommandMissing:
            sys.stderr.write(f"carpha.sim: {argv[0]}: not simulated\n")
            return 127
        except Hang:
            hang = True
            rc, out, err = 0, "", ""
        cluster.save(directory)
    finally:
        fcntl.flock(lock_fd, fcntl.LOCK_UN)
        os.close(lock_fd)
    if hang:
        # Blocked in the kernel (disk wait): only a kill ends it.
        while True:
            signal.pause()
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.stdout.flush()
    return rc
