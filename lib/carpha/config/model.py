"""What a configuration is: the frozen dataclasses the readers build (their
defaults are the ones examples/three-servers.yaml documents), and
ConfigError, raised when the file cannot be one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple, Union

from ..exits import CONFIG, CarphaError

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]


class ConfigError(CarphaError):
    """The configuration cannot be used; `problems` holds one line per problem."""

    exit_code = CONFIG

    def __init__(self, problems: "Union[str, List[str]]", exit_code: "Optional[int]" = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems), exit_code)


@dataclass(frozen=True)
class Node:
    name: str
    address: IPAddress


@dataclass(frozen=True)
class Witness:
    kind: str                       # lease | ping | none
    node: Optional[str] = None      # None when kind is none
    path: Optional[str] = None      # lease only
    interval_seconds: float = 2
    takeover_after_seconds: float = 30
    fence_after_seconds: float = 8
    fence_step_seconds: float = 1   # timeout of each forced fencing step


@dataclass(frozen=True)
class Watchdog:
    """The hardware-watchdog profile (carpha.safety.watchdog); absent: none, the
    software fence alone."""
    timeout_power: int = 31          # 2^N ns asked of /dev/fido (watchdog.h); 31 = 2.1 s
    evidence_seconds: float = 1      # pet only on round-trip evidence younger than this
    wait_multiple: float = 1         # k: the standby waits k x the peer's measured interval
    slack_seconds: float = 0.1       # added to the margin
    device: str = "/dev/fido"
    calibration_port: int = 3081     # UDP, where `carpha watchdog listen` hears the beats

    @property
    def power(self) -> int:
        return self.timeout_power

    def margin_seconds(self, witness) -> float:
        """B + 2 x interval + slack: see carpha.safety.watchdog."""
        return self.evidence_seconds + 2 * witness.interval_seconds + self.slack_seconds


@dataclass(frozen=True)
class Timeouts:
    query_seconds: float = 10
    change_seconds: float = 30
    storage_seconds: float = 60     # gmirror, ggatec, ggated, kldload
    fsck_seconds: float = 3600
    mount_seconds: float = 60
    jail_seconds: float = 300
    service_seconds: float = 120


@dataclass(frozen=True)
class Paths:
    state_dir: str = "/var/db/carpha"
    run_dir: str = "/var/run/carpha"
    jail_conf: str = "/etc/jail.conf"
    command_path: str = "/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin"


@dataclass(frozen=True)
class Garp:
    count: int = 5
    repeat_count: int = 5
    repeat_after_seconds: float = 5


@dataclass(frozen=True)
class Damping:
    settle_seconds: float = 2           # re-check MASTER this long before touching storage
    flap_limit: int = 6                 # more transitions than this ...
    flap_window_seconds: float = 60     # ... within this window hold the group


@dataclass(frozen=True)
class Maintenance:
    default_seconds: float = 14400      # `maintenance on` without --for expires after this


@dataclass(frozen=True)
class Hooks:
    """Notify hooks (carpha.engine.notify): argv lists run after each event."""
    on_promote: Tuple[str, ...] = ()
    on_demote: Tuple[str, ...] = ()
    on_fence: Tuple[str, ...] = ()
    on_refusal: Tuple[str, ...] = ()
    timeout_seconds: float = 30


@dataclass(frozen=True)
class CarpBinding:
    interface: str
    vhid: int
    # The vhid's own address as rc.conf configures it (optional): carpha
    # never adds or removes it; the simulator builds it, status shows it.
    address: Optional[IPInterface] = None

    @property
    def subsystem(self) -> str:
        """As devd reports it: `1@em0`."""
        return f"{self.vhid}@{self.interface}"


@dataclass(frozen=True)
class Alias:
    interface: str
    interface_address: IPInterface

    @property
    def ip(self) -> IPAddress:
        return self.interface_address.ip

    @property
    def version(self) -> int:
        return self.interface_address.version

    def __str__(self) -> str:
        return f"{self.interface} {self.interface_address}"


@dataclass(frozen=True)
class Ggate:
    port: int = 3080
    unit: int = 0
    # ggatec -t; 0: no sweep, a write to a dead peer waits until carpha drops
    # the peer's half on purpose (ggate_timeout_problems).
    timeout_seconds: int = 0
    # How long the peer's half must have requests waiting (ggatec list's
    # queue_count above 0 at every heartbeat) before it is dropped.
    drop_after_seconds: int = 6


@dataclass(frozen=True)
class Storage:
    kind: str                                   # gmirror-ggate | local-gmirror | none
    mirror: Optional[str] = None
    providers: Dict[str, str] = field(default_factory=dict)    # node -> name under /dev
    ggate: Optional[Ggate] = None


@dataclass(frozen=True)
class Filesystem:
    device: str
    mountpoint: str
    fstype: str = "ufs"
    fsck: str = "preen"                         # preen | yes | none
    options: Tuple[str, ...] = ()


@dataclass(frozen=True)
class Group:
    name: str
    nodes: Tuple[str, ...]
    preferred_node: str
    carp: CarpBinding
    addresses: Tuple[Alias, ...]
    storage: Storage
    filesystems: Tuple[Filesystem, ...] = ()
    jails: Tuple[str, ...] = ()
    services: Tuple[str, ...] = ()
    # A multi-vhid group's other vhids (`carp:` as a list): the group moves
    # as one, served only where every vhid is MASTER (carpha.safety.vhids).
    more_carp: Tuple[CarpBinding, ...] = ()

    @property
    def bindings(self) -> Tuple[CarpBinding, ...]:
        return (self.carp,) + self.more_carp if self.carp is not None else self.more_carp

    @property
    def journal(self) -> str:
        """Where its runs are journaled: its CARP binding's journal; a NAS
        group's go to the devices journal (carpha.engine.nas, journal.DEVICES)."""
        return self.carp.subsystem if self.carp is not None else "devices"

    @property
    def subsystems(self) -> Tuple[str, ...]:
        return tuple(b.subsystem for b in self.bindings)

    def peer_of(self, node: str) -> Optional[str]:
        """The other node of a two-node group, None otherwise."""
        if node not in self.nodes or len(self.nodes) != 2:
            return None
        return self.nodes[1] if self.nodes[0] == node else self.nodes[0]


@dataclass(frozen=True)
class Config:
    path: str
    node: str
    nodes: Dict[str, Node]
    witness: Witness
    timeouts: Timeouts
    paths: Paths
    syslog_facility: str
    garp: Garp
    groups: Dict[str, Group]
    warnings: Tuple[str, ...] = ()
    damping: Damping = field(default_factory=Damping)
    maintenance: Maintenance = field(default_factory=Maintenance)
    watchdog: Optional[Watchdog] = None
    hooks: Hooks = field(default_factory=Hooks)

    def group_for_subsystem(self, subsystem: str) -> Optional[Group]:
        """The group whose CARP binding devd names `subsystem` (`1@em0`)."""
        for group in self.groups.values():
            if subsystem in group.subsystems:
                return group
        return None

    def groups_served_by(self, node: Optional[str] = None) -> Tuple[Group, ...]:
        """Groups that `node` (default: this node) can be master of."""
        node = self.node if node is None else node
        return tuple(g for g in self.groups.values() if node in g.nodes)
