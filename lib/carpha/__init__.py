"""carpha: automated CARP failover for small FreeBSD clusters."""

__version__ = "0.1.0"
