"""carpha.sim - a simulated cluster of FreeBSD hosts for tests.

Public API:
    SimClock                 simulated time (usable with carpha.clock.use)
    Cluster                  hosts, links, failure injection, event loop
    Host                     one host: setup helpers, execute(), runner()
    install_commands(dir)    the simulated commands as executables on PATH
    two_node_cluster()       the carpha reference layout, built by commands

The behaviour modelled, and what could not be verified, is documented in
the module docstrings (net, storage, geom, gatedev, ggate, ufs, commands/*).
"""

from .clock import SimClock
from .cluster import Cluster
from .executables import install_commands
from .host import Host
from .scenario import two_node_cluster

__all__ = ["SimClock", "Cluster", "Host", "install_commands", "two_node_cluster"]
