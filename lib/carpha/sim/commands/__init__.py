"""The simulated FreeBSD commands; importing this package registers them
with carpha.sim.executor (one module per family of tools)."""

from . import carpha, fs, ggate, gmirror, jails, network, system  # noqa: F401
