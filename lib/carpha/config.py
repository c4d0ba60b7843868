"""Configuration: one YAML file -> validated, frozen dataclasses.

Contract:
- `load(path)` opens the file once (O_NOFOLLOW, regular files only) and, when
  running as root, refuses a file not owned by root or writable by group or
  others (exit 77): the file names devices root will mirror, fsck and mount.
- `loads(text)` parses text without any permission check (tests, simulator).
- Every problem is found in one pass and raised together in one ConfigError
  (exit 78), one line each: `<path>:<line>: <key.path>: <why>`. The line is
  the offending value's, or the parent key's when a key is missing.
- Values come from PyYAML's SafeLoader, read off the composed node tree: that
  keeps line numbers and shows duplicate keys, which `yaml.safe_load` silently
  collapses to the last one. Anchors, aliases and `<<` merges work as usual,
  within bounds.
- Nothing in the file can crash or hang the loader (cron and devd load it
  every minute): at most MAX_CONFIG_BYTES, nesting at most MAX_DEPTH levels,
  and at most MAX_EXPANDED_NODES values once every alias and merge is
  expanded (a chain of merges doubles at each link); an alias to the node
  that contains it is refused. Messages quote at most EXCERPT_CHARACTERS of a
  value and are at most MAX_MESSAGE_CHARACTERS long.
- Unknown keys are errors; absent keys take the defaults that
  examples/three-servers.yaml documents (the dataclass defaults below).
"""

from __future__ import annotations

import difflib
import errno
import ipaddress
import math
import os
import posixpath
import re
import socket
import stat
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Callable, Dict, List, Optional, Tuple, Union

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .exits import CONFIG, NOPERM, CarphaError
from .safety.maintenance import MAX_SECONDS as MAX_MAINTENANCE_SECONDS

DEFAULT_PATH = "/usr/local/etc/carpha.yaml"

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]

WITNESS_KINDS = ("lease", "ping", "none")
STORAGE_KINDS = ("gmirror-ggate", "local-gmirror", "none")
# A local-gmirror group (a NAS's own drives) moves with its drives, by hand,
# not with CARP, and is not guarded by the lease (carpha.engine.nas).
BY_HAND = "local-gmirror"
FSCK_MODES = ("preen", "yes", "none")
FSTYPES = ("ufs",)
# syslog(3) facility names as syslog.conf(5) spells them.
SYSLOG_FACILITIES = (
    "auth", "authpriv", "cron", "daemon", "ftp", "kern",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    "lpr", "mail", "news", "security", "syslog", "user", "uucp",
)
MAX_TIMEOUT_SECONDS = 86400
MAX_SETTLE_SECONDS = 60
# The damping history keeps at most MAX_KEPT transitions; a larger limit
# could never be exceeded.
MAX_FLAP_LIMIT = 1000

# Limits on what the loader accepts (a real config is a few KB, some
# hundred values, 6 levels deep).
MAX_CONFIG_BYTES = 1 << 20
MAX_DEPTH = 32
MAX_EXPANDED_NODES = 20000
EXCERPT_CHARACTERS = 40
MAX_MESSAGE_CHARACTERS = 1000
# Below these a value is a typo (0.0000001), not a setting.
MIN_INTERVAL_SECONDS = 0.5
WATCHDOG_INTERVAL_SECONDS = 0.5      # witness.interval_seconds's default with a watchdog
MIN_FENCE_STEP_SECONDS = 0.1
MIN_TIMEOUT_SECONDS = 1

NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
GROUP_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# IFNAMSIZ is 16 including the NUL.
INTERFACE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,14}")
MAX_VHIDS = 8               # vhids in one multi-vhid group
GEOM_NAME = re.compile(r"[A-Za-z0-9_.-]{1,15}")
PROVIDER_NAME = re.compile(r"[A-Za-z0-9_./-]+")
MOUNT_OPTION = re.compile(r"[a-z0-9_=.-]+")
JAIL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")
SERVICE_NAME = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(CarphaError):
    """The configuration cannot be used; `problems` holds one line per problem."""

    exit_code = CONFIG

    def __init__(self, problems: "Union[str, List[str]]", exit_code: "Optional[int]" = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems), exit_code)


# --- the configuration ------------------------------------------------------


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


MAX_FENCE_STEP_SECONDS = 60


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


def fencing_steps(groups, node: str) -> int:
    """Forced steps a self-fencing node runs at worst (carpha.engine.fence): per
    group, drop each address, `pkill -KILL -j` each jail, stop each service,
    `ggatec destroy -f`, `jail -R` each jail, `umount -f` each filesystem
    and each jail's devfs under it, `gmirror stop -f`; once, `mount -p` and
    the CARP demotion."""
    steps = 2
    for group in groups.values():
        if node in group.nodes and group.storage.kind != BY_HAND:     # never fenced
            steps += (len(group.addresses) + 3 * len(group.jails) + len(group.services)
                      + len(group.filesystems) + (2 if group.storage.kind == "gmirror-ggate" else 0))
    return steps


def fencing_time(witness, groups, node: str) -> float:
    """The fence's own worst case: every forced step at its cap."""
    return fencing_steps(groups, node) * witness.fence_step_seconds


def fencing_bound(witness, groups, node: str) -> float:
    """Seconds from a master's last lease renewal until it has fenced itself
    at worst: fence_after + one heartbeat interval (fencing is checked once
    per beat) + the fence's own worst case."""
    return witness.fence_after_seconds + witness.interval_seconds + fencing_time(witness, groups, node)


def fencing_problems(witness, groups, node: str):
    """A master must be fenced before the peer may take over: fence_after +
    one heartbeat interval (fencing is checked once per beat) + the worst-case
    fencing time must stay below takeover_after. Lease only."""
    if witness.kind != "lease" or None in (witness.fence_after_seconds, witness.interval_seconds,
                                           witness.takeover_after_seconds, witness.fence_step_seconds):
        return []
    steps = fencing_steps(groups, node)
    worst = fencing_time(witness, groups, node)
    total = fencing_bound(witness, groups, node)
    if total < witness.takeover_after_seconds:
        return []
    return [f"{witness.fence_after_seconds:g} + interval {witness.interval_seconds:g} + worst-case fencing "
            f"{worst:g} ({steps} steps x fence_step_seconds {witness.fence_step_seconds:g}) = {total:g} s "
            f"is not below takeover_after_seconds {witness.takeover_after_seconds:g}"]


def fencing_remedies(witness, groups, node: str, written=None) -> str:
    """For a budget fencing_problems() refuses: each knob that alone would
    make it fit, and to what value ('' when it fits). `written`: the witness
    keys the file sets (the others are at their default)."""
    if not fencing_problems(witness, groups, node):
        return ""
    steps = fencing_steps(groups, node)
    total = fencing_bound(witness, groups, node)
    takeover, fence, interval = witness.takeover_after_seconds, witness.fence_after_seconds, witness.interval_seconds

    def knob(verb: str, key: str, now: float) -> str:
        if written is not None and key not in written:
            return f"set witness.{key} (not in the file: default {now:g})"
        return f"{verb} witness.{key} from {now:g}"

    fixes = [f"{knob('raise', 'takeover_after_seconds', takeover)} to more than {total:.4g}"
             f" (by more than {total - takeover:.4g})"]
    room = takeover - fence - interval
    if room > 0 and room / steps > MIN_FENCE_STEP_SECONDS:
        fixes.append(f"{knob('lower', 'fence_step_seconds', witness.fence_step_seconds)} to below"
                     f" {room / steps:.3g} ({steps} steps)")
    fence_room = takeover - interval - fencing_time(witness, groups, node)
    if fence_room > 0:
        fixes.append(f"{knob('lower', 'fence_after_seconds', fence)} to below {fence_room:.4g}")
    fixes.append("or give this node fewer addresses, jails (3 steps each), services or filesystems")
    return "to fix: " + ", ".join(fixes[:-1]) + ", " + fixes[-1]


# g_gate_guard() (sys/geom/gate/g_gate.c @37d84eaa, 13.x; reference 5.2)
# fails requests at least 5 whole seconds of uptime old, at a sweep every
# -t seconds from `ggatec create`: the earliest failure comes just over 4 s
# after issue, whatever -t is.
GGATE_EARLIEST_FAILURE_SECONDS = 4


def ggate_timeout_problems(witness, groups, node: str):
    """(group, problem) for each mirrored group whose ggate requests could
    fail before a fencing master has stopped: gmirror would then kick the
    peer's half and acknowledge writes on the local disk alone, and the
    peer, taking over, would not have them. Lease only; -t 0 (no sweep)
    is always fine: carpha drops the peer's half itself, and only after
    recording it outdated under its own lease."""
    if witness.kind != "lease" or None in (witness.fence_after_seconds, witness.interval_seconds,
                                           witness.fence_step_seconds):
        return []
    bound = fencing_bound(witness, groups, node)
    return [(name, f"{group.storage.ggate.timeout_seconds}: ggatec -t N sweeps every N s and fails requests "
                   f"at least 5 s old, so a write to a dead peer can fail {GGATE_EARLIEST_FAILURE_SECONDS} to "
                   f"N+5 s after issue, below the fencing bound {bound:g} s (fence_after_seconds + "
                   f"interval_seconds + worst-case fencing): an isolated master would acknowledge writes on "
                   f"its own disk alone before fencing, lost when the peer takes over; use 0 (the default: "
                   f"carpha drops a dead peer's half itself once it has recorded it outdated)")
            for name, group in sorted(groups.items())
            if node in group.nodes and group.storage.kind == "gmirror-ggate" and group.storage.ggate
            and group.storage.ggate.timeout_seconds
            and GGATE_EARLIEST_FAILURE_SECONDS < bound]


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


# --- public entry points ----------------------------------------------------


def load(path: str = DEFAULT_PATH, *, node: Optional[str] = None,
         check_permissions: Optional[bool] = None) -> Config:
    """Read and validate the file at `path`. `node` overrides which node this
    is; permissions are checked when `check_permissions` is true, or when it is
    None and we run as root."""
    if check_permissions is None:
        check_permissions = os.geteuid() == 0
    return loads(_read_file(path, check_permissions), path, node=node)


def loads(text: str, source: str = "<string>", *, node: Optional[str] = None) -> Config:
    """Validate configuration text; `source` names it in messages."""
    if len(text) > MAX_CONFIG_BYTES:
        line = text[:MAX_CONFIG_BYTES].count("\n") + 1
        raise ConfigError(_too_large(source, line))
    try:
        return _Reader(source).read(text, node)
    except ConfigError:
        raise
    except RecursionError:
        raise ConfigError(f"{source}:1: nested too deeply to read (more than {MAX_DEPTH} levels)") from None
    except Exception as e:     # a loader bug must still be one line, not a traceback in cron mail
        raise ConfigError(f"{source}:1: internal error while reading the configuration"
                          f" ({type(e).__name__}: {_excerpt(str(e))}); please report it") from None


def _too_large(source: str, line: int) -> str:
    return (f"{source}:{line}: larger than {MAX_CONFIG_BYTES} bytes, the most carpha reads"
            f" (a carpha config is a few KB)")


def _excerpt(text: str) -> str:
    """`text`, or its start and its length when it is long."""
    if len(text) <= EXCERPT_CHARACTERS + 20:
        return text
    return f"{text[:EXCERPT_CHARACTERS]}... ({len(text)} characters)"


def _q(value) -> str:
    """A value quoted for a message: repr(), shortened when long."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= EXCERPT_CHARACTERS + 20:
        return repr(text)
    return f"{text[:EXCERPT_CHARACTERS]!r}... ({len(text)} characters)"


def _listed(names, most: int = 8) -> str:
    names = [_excerpt(str(n)) for n in names]
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f", ... ({len(names)} in all)"


def _read_file(path: str, check_permissions: bool) -> str:
    # O_NONBLOCK: a FIFO put in the config's place must not hang the hook.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        # FreeBSD's open(2) says EMLINK for O_NOFOLLOW on a symlink, Linux ELOOP.
        if e.errno in (errno.ELOOP, errno.EMLINK) and os.path.islink(path):
            raise ConfigError(f"{path}: refusing a symlink; name the file itself", NOPERM) from None
        code = NOPERM if e.errno in (errno.EACCES, errno.EPERM) else CONFIG
        raise ConfigError(f"{path}: cannot open: {e.strerror}", code) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path}: not a regular file")
        if check_permissions:
            refusals = []
            if st.st_uid != 0:
                refusals.append(f"{path}: refusing a config not owned by root (uid {st.st_uid})")
            if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                refusals.append(f"{path}: refusing a config writable by group or others"
                                f" (mode {stat.S_IMODE(st.st_mode):04o})")
            if refusals:
                raise ConfigError(refusals, NOPERM)
        chunks = []
        size = 0
        while size <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(_too_large(path, data[:MAX_CONFIG_BYTES].count(b"\n") + 1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte 0x{data[e.start]:02x})") from None


# --- reading ----------------------------------------------------------------

_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _LimitError(yaml.composer.ComposerError):
    """The text is YAML, but more than carpha reads."""


class _Loader(yaml.SafeLoader):
    """SafeLoader that composes within the limits (module docstring): the
    composer recurses once per level, so depth is checked on the way down,
    before Python's recursion limit; each node's size and height with every
    alias expanded are computed on the way up (children first, so linear in
    the text), which bounds what the reader later walks, merges included."""

    def __init__(self, text: str):
        super().__init__(text)
        self._depth = 0
        self._measure: Dict[int, Tuple[int, int]] = {}      # id(node) -> (size, height)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._measure:
                raise _LimitError(
                    None, None, f"alias *{_excerpt(event.anchor)} refers to a node that contains it",
                    event.start_mark)
            return node
        if self._depth >= MAX_DEPTH:
            raise _LimitError(None, None, f"nested more than {MAX_DEPTH} levels deep",
                                              event.start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = ()
        size, height = 1, 1
        for child in children:
            child_size, child_height = self._measure[id(child)]
            size += child_size
            height = max(height, child_height + 1)
        if size > MAX_EXPANDED_NODES:
            raise _LimitError(
                None, None, f"more than {MAX_EXPANDED_NODES} values once its aliases and merge keys are"
                            f" expanded; write the repeated parts out", node.start_mark)
        if height > MAX_DEPTH:
            raise _LimitError(
                None, None, f"nested more than {MAX_DEPTH} levels deep once its aliases and merge keys"
                            f" are expanded", node.start_mark)
        self._measure[id(node)] = (size, height)
        return node


def _address_problem(address: IPInterface) -> Optional[str]:
    """Why `address` (with its prefix) cannot be a CARP service address, or
    None. Network and broadcast addresses: RFC 919/922 (IPv4; /31 and /32
    have none, RFC 3021); the all-zeros IPv6 interface id is the
    subnet-router anycast address (RFC 4291 2.6.1; /127 and /128 have none,
    RFC 6164)."""
    ip, net = address.ip, address.network
    if net.prefixlen == 0:
        return f"{address}: a /0 prefix claims every address; give the subnet's prefix (/24, /64...)"
    for test, what in (("is_unspecified", "the unspecified address"), ("is_loopback", "a loopback address"),
                       ("is_multicast", "a multicast address"),
                       ("is_link_local", "link-local (169.254.0.0/16, fe80::/10): not reachable beyond the"
                                         " link, and fe80:: addresses need a scope")):
        if getattr(ip, test):
            return f"{ip} is {what}; a service address must be a unicast address of the subnet"
    if ip.version == 4 and net.prefixlen <= 30:
        if ip == net.network_address:
            return f"{ip} is the network address of {net}, not a host address"
        if ip == net.broadcast_address:
            return f"{ip} is the broadcast address of {net}, not a host address"
    if ip.version == 6 and net.prefixlen <= 126 and ip == net.network_address:
        return f"{ip} is the subnet-router anycast address of {net} (RFC 4291), not a host address"
    return None


def _line(node) -> int:
    return node.start_mark.line + 1


def _tag(node) -> str:
    return node.tag.replace("tag:yaml.org,2002:", "!!")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _invalid(value: str, what: str, pattern) -> str:
    return f"{_q(value)} is not a valid {what} (must match ^{pattern.pattern}$)"


def _default(cls, name: str):
    return next(f.default for f in fields(cls) if f.name == name and f.default is not MISSING)


class _Section:
    """One mapping of the file: its keys (after merges) and where it is."""

    def __init__(self, reader: "_Reader", path: str, line: int, entries: dict):
        self.reader = reader
        self.path = path
        self.line = line            # of the key that holds it, for missing keys
        self.entries = entries      # key -> (key node, value node)

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def items(self):
        for key, (key_node, value_node) in self.entries.items():
            yield key, _line(key_node), value_node

    def key_line(self, key: str) -> int:
        return _line(self.entries[key][0]) if key in self.entries else self.line

    def get(self, key: str, read: Callable, default=None, required: bool = False):
        """read(value node, key path) when present; else the default, or a
        problem when required (None means "no usable value")."""
        if key not in self.entries:
            if required:
                self.reader.problem(self.line, _join(self.path, key), "required key is missing")
            return default
        return read(self.entries[key][1], _join(self.path, key))


class _Unique:
    """Remembers where each value was first seen; reports the later ones."""

    def __init__(self, reader: "_Reader"):
        self.reader = reader
        self.first: dict = {}

    def add(self, key, shown: str, line: int, path: str) -> None:
        if key in self.first:
            first_line, first_path = self.first[key]
            self.reader.problem(line, path, f"{shown} is also used by {first_path} (line {first_line})")
        else:
            self.first[key] = (line, path)


class _Reader:
    def __init__(self, source: str):
        self.source = source
        self.problems: List[Tuple[int, str]] = []
        self.warnings: List[Tuple[int, str]] = []
        self.loader = None
        self._merging: set = set()
        self.ips = _Unique(self)            # node addresses and CARP aliases
        self.witness_node_line = 0
        self.witness_keys: set = set()
        self.ggate_lines: Dict[str, int] = {}   # group -> line of its ggate timeout

    # -- reporting

    def _format(self, line: int, path: str, text: str) -> str:
        # Key names come from the file too: shorten each part of the path.
        path = ".".join(_excerpt(part) for part in path.split("."))
        message = f"{self.source}:{line}: " + (f"{path}: " if path else "") + " ".join(text.split("\n"))
        if len(message) > MAX_MESSAGE_CHARACTERS:
            message = message[:MAX_MESSAGE_CHARACTERS - 30] + f"... ({len(message)} characters)"
        return message

    def problem(self, line: int, path: str, text: str) -> None:
        message = self._format(line, path, text)
        # An aliased node is read once per use; say each thing once.
        if all(message != m for _, m in self.problems):
            self.problems.append((line, message))

    def warn(self, line: int, path: str, text: str) -> None:
        self.warnings.append((line, self._format(line, path, text)))

    # -- scalars

    def construct(self, node, path: str):
        """(True, value) for a scalar SafeLoader can build, else (False, None)."""
        if node.tag not in self.loader.yaml_constructors:
            self.problem(_line(node), path, f"unsupported YAML tag {_tag(node)}")
            return False, None
        try:
            return True, self.loader.construct_object(node)
        except yaml.YAMLError as e:
            self.problem(_line(node), path, f"cannot read {_q(node.value)}: {getattr(e, 'problem', None) or e}")
        except (ValueError, TypeError) as e:
            self.problem(_line(node), path, f"cannot read {_q(node.value)} as {node.tag}: {e}")
        return False, None

    def describe(self, node) -> str:
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        try:
            value = self.loader.construct_object(node)
        except Exception:
            return _q(node.value)
        if value is None:
            return "nothing"
        if isinstance(value, bool):
            return f"a boolean ({node.value})"
        if isinstance(value, str):
            return _q(value)
        return _excerpt(str(node.value))

    def typed(self, node, path: str, what: str, accept: Callable) -> Tuple[bool, object]:
        if isinstance(node, ScalarNode):
            ok, value = self.construct(node, path)
            if not ok:
                return False, None
            if accept(value):
                return True, value
        self.problem(_line(node), path, f"expected {what}, got {self.describe(node)}")
        return False, None

    def text(self, node, path: str) -> Optional[str]:
        def accept(v):
            # YAML 1.1 reads `yes`, `on`, `1e3` as booleans and numbers; a
            # name or word is meant as written (`fsck: yes`).
            return v is not None and not isinstance(v, bytes)
        ok, value = self.typed(node, path, "a string", accept)
        if not ok:
            return None
        return value if isinstance(value, str) else node.value

    def integer(self, node, path: str, lo: int, hi: int, notes: Optional[dict] = None) -> Optional[int]:
        ok, value = self.typed(node, path, "an integer",
                               lambda v: isinstance(v, int) and not isinstance(v, bool))
        if not ok:
            return None
        if not lo <= value <= hi:
            note = (notes or {}).get(value, "")
            self.problem(_line(node), path, f"{_excerpt(node.value)} is not in {lo}..{hi}{note}")
            return None
        return value

    def seconds(self, node, path: str, most: Optional[float] = None,
                zero: bool = False, least: Optional[float] = None) -> Optional[float]:
        """A number of seconds: > 0 (>= 0 with `zero`), at least `least`,
        at most `most`."""
        ok, value = self.typed(node, path, "a number of seconds",
                               lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        if not ok:
            return None
        try:
            finite = math.isfinite(value)
        except OverflowError:       # an integer too large for a float
            finite = False
        if not finite:
            self.problem(_line(node), path, f"expected a finite number of seconds, got {_excerpt(node.value)}")
        elif zero and not value >= 0:
            self.problem(_line(node), path, f"{value} is not >= 0")
        elif not zero and not value > 0:
            self.problem(_line(node), path, f"{value} is not > 0")
        elif least is not None and value < least:
            self.problem(_line(node), path, f"{value:g} is below the least useful value, {least:g}")
        elif most is not None and value > most:
            self.problem(_line(node), path, f"{value} is not <= {most}")
        else:
            return value
        return None

    def choice(self, node, path: str, choices, unsupported: Optional[dict] = None) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        if unsupported and value in unsupported:
            self.problem(_line(node), path, unsupported[value])
            return None
        if value not in choices:
            self.problem(_line(node), path, f"{_q(value)} is not one of {', '.join(choices)}")
            return None
        return value

    def name(self, node, path: str, pattern, what: str) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        if not pattern.fullmatch(value):
            self.problem(_line(node), path, _invalid(value, what, pattern))
            return None
        return value

    def abspath(self, node, path: str) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        if not value.startswith("/"):
            self.problem(_line(node), path, f"{_q(value)} is not an absolute path")
        elif ".." in value.split("/"):
            self.problem(_line(node), path, f"{_q(value)} must not contain '..'")
        elif "\0" in value:
            self.problem(_line(node), path, f"{_q(value)} must not contain a NUL byte")
        else:
            return posixpath.normpath(value)
        return None

    # -- collections

    def sequence(self, node, path: str) -> Optional[list]:
        if not isinstance(node, SequenceNode):
            self.problem(_line(node), path, f"expected a list, got {self.describe(node)}")
            return None
        if node.tag != _SEQ_TAG:
            self.problem(_line(node), path, f"unsupported YAML tag {_tag(node)}")
            return None
        return [(f"{path}[{i}]", item) for i, item in enumerate(node.value)]

    def section(self, node, path: str, line: int, allowed=None) -> Optional[_Section]:
        """A mapping's keys; `allowed` None means any key (names of things)."""
        if not isinstance(node, MappingNode):
            self.problem(_line(node), path, f"expected a mapping, got {self.describe(node)}")
            return None
        if node.tag != _MAP_TAG:
            self.problem(_line(node), path, f"unsupported YAML tag {_tag(node)}")
            return None
        entries: dict = {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(_line(key_node), path, f"expected a string key, got {self.describe(key_node)}")
                continue
            key = key_node.value
            if key in entries:
                self.problem(_line(key_node), _join(path, key),
                             f"duplicate key (first at line {_line(entries[key][0])})")
            elif allowed is not None and key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.problem(_line(key_node), _join(path, key), f"unknown key{hint}")
            else:
                entries[key] = (key_node, value_node)
        # YAML merge: keys written here win, then earlier merged mappings.
        for value_node in merges:
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if id(source) in self._merging:
                    continue            # a mapping merged into itself
                self._merging.add(id(source))
                try:
                    merged = self.section(source, path, line, allowed)
                finally:
                    self._merging.discard(id(source))
                for key, entry in (merged.entries.items() if merged else ()):
                    entries.setdefault(key, entry)
        return _Section(self, path, line, entries)

    # -- the file

    def read(self, text: str, node_override: Optional[str]) -> Config:
        try:
            self.loader = _Loader(text)
            root = self.loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            line = mark.line + 1 if mark else 1
            context = e.context
            if context and e.context_mark and e.context_mark.line + 1 != line:
                # The real mistake is often where the context began (an unclosed `{`).
                context += f" at line {e.context_mark.line + 1}"
            why = ", ".join(part for part in (context, e.problem) if part)
            prefix = "refused: " if isinstance(e, _LimitError) else "invalid YAML: "
            raise ConfigError(self._format(line, "", prefix + why)) from None
        except yaml.reader.ReaderError as e:
            line = text[:e.position].count("\n") + 1
            character = e.character if isinstance(e.character, int) else ord(e.character)
            raise ConfigError(f"{self.source}:{line}: invalid YAML: character #x{character:04x}:"
                              f" {e.reason}") from None
        except yaml.YAMLError as e:
            raise ConfigError(self._format(1, "", f"invalid YAML: {_excerpt(str(e))}")) from None
        try:
            config = self._read_top(root, node_override)
        finally:
            self.loader.dispose()
        if self.problems:
            # Stable sort: problems on one line keep the order they were found.
            raise ConfigError([m for _, m in sorted(self.problems, key=lambda p: p[0])])
        return config

    def _read_top(self, root, node_override: Optional[str]) -> Optional[Config]:
        if root is None:
            self.problem(1, "", "expected a mapping of settings, got an empty file")
            return None
        if not isinstance(root, MappingNode):
            self.problem(_line(root), "", f"expected a mapping at the top level, got {self.describe(root)}")
            return None
        top = self.section(root, "", _line(root), {
            "node", "nodes", "witness", "timeouts", "paths", "syslog_facility", "garp", "damping",
            "maintenance", "groups", "watchdog", "hooks"})
        if top is None:
            return None

        nodes = self._read_nodes(top)
        this = self._read_node(top, nodes, node_override)
        witness = self._read_witness(top, nodes)
        timeouts = self._read_fields(top, "timeouts", Timeouts,
                                     lambda n, p: self.seconds(n, p, MAX_TIMEOUT_SECONDS,
                                                               least=MIN_TIMEOUT_SECONDS))
        paths = self._read_paths(top)
        facility = top.get("syslog_facility", lambda n, p: self.choice(n, p, SYSLOG_FACILITIES),
                           default="daemon")
        garp = self._read_garp(top)
        damping = self._read_damping(top)
        maintenance = self._read_fields(top, "maintenance", Maintenance,
                                        lambda n, p: self.seconds(n, p, MAX_MAINTENANCE_SECONDS))
        hooks = self._read_fields(top, "hooks", Hooks, self._hook)
        groups = self._read_groups(top, nodes)
        self._check_witness_node(witness, groups)
        if "watchdog" in top and witness.kind == "lease" and "interval_seconds" not in self.witness_keys:
            # Evidence every half second: the gate's margin is 3 intervals.
            witness = replace(witness, interval_seconds=WATCHDOG_INTERVAL_SECONDS)
        watchdog = self._read_watchdog(top, witness)
        if watchdog is not None and witness.kind == "lease":
            # The reset, not the software fence, bounds the old master: the
            # standby prepares after the margin and serves after its gate.
            witness = replace(witness, takeover_after_seconds=watchdog.margin_seconds(witness))
        if this is not None and groups:
            for problem in fencing_problems(witness, groups, this) if watchdog is None else ():
                self.problem(getattr(self, "witness_fence_line", 0) or 1, "witness.fence_after_seconds",
                             f"{problem}; {fencing_remedies(witness, groups, this, self.witness_keys)}")
            for name, problem in ggate_timeout_problems(witness, groups, this):
                key = f"groups.{name}.storage.ggate.timeout_seconds"
                self.problem(self.ggate_lines.get(name, 1), key, problem)
        warnings = tuple(m for _, m in sorted(self.warnings, key=lambda w: w[0]))
        return Config(path=self.source, node=this, nodes=nodes or {}, witness=witness,
                      timeouts=timeouts, paths=paths, syslog_facility=facility, garp=garp,
                      groups=groups, warnings=warnings, damping=damping, maintenance=maintenance,
                      watchdog=watchdog, hooks=hooks)

    def _read_nodes(self, top: _Section) -> Optional[Dict[str, Node]]:
        section = top.get("nodes", lambda n, p: self.section(n, p, top.key_line("nodes")), required=True)
        if section is None:
            return None
        if len(section) < 2:
            self.problem(section.line, "nodes", f"expected at least 2 nodes, got {len(section)}")
        nodes: Dict[str, Node] = {}
        for name, line, value in section.items():
            path = f"nodes.{name}"
            if not NODE_NAME.fullmatch(name):
                self.problem(line, path, _invalid(name, "node name", NODE_NAME))
            address = None
            entry = self.section(value, path, line, {"address"})
            if entry is not None:
                address = entry.get("address", self._address, required=True)
            if address is not None:
                self.ips.add(address, str(address), entry.key_line("address"), f"{path}.address")
            nodes[name] = Node(name, address)
        return nodes

    def _address(self, node, path: str) -> Optional[IPAddress]:
        value = self.text(node, path)
        if value is None:
            return None
        try:
            return ipaddress.ip_address(value)
        except ValueError:
            self.problem(_line(node), path, f"{_q(value)} is not an IPv4 or IPv6 address")
            return None

    def _not_a_node(self, name: str, nodes) -> str:
        return f"{_excerpt(name)} is not one of the nodes ({_listed(nodes)})"

    def _read_node(self, top: _Section, nodes, override: Optional[str]) -> Optional[str]:
        written = top.get("node", self.text)
        if written is not None and nodes is not None and written not in nodes:
            self.problem(top.key_line("node"), "node", self._not_a_node(written, nodes))
        if override is not None:
            if nodes is not None and override not in nodes:
                self.problem(top.line, "node", f"{override} (given by the caller) is not one of"
                                               f" the nodes ({_listed(nodes)})")
            return override
        if "node" in top:
            return written
        hostname = socket.gethostname().split(".")[0]
        if nodes is not None and hostname not in nodes:
            self.problem(top.line, "node", f"not set, and this host's name {hostname} is not one of"
                                           f" the nodes ({_listed(nodes)})")
        return hostname

    def _read_witness(self, top: _Section, nodes) -> Witness:
        if "witness" not in top:
            self.warn(top.line, "witness.kind",
                      "none: two masters are possible when the nodes cannot hear each other")
            return Witness("none")
        section = top.get("witness", lambda n, p: self.section(n, p, top.key_line("witness"), {
            "kind", "node", "path", "interval_seconds", "takeover_after_seconds", "fence_after_seconds",
            "fence_step_seconds"}))
        if section is None:
            return Witness("none")
        kind = section.get("kind", lambda n, p: self.choice(n, p, WITNESS_KINDS), default="lease")
        timing = {name: section.get(name, self.seconds, default=_default(Witness, name))
                  for name in ("takeover_after_seconds", "fence_after_seconds")}
        # Each beat writes the lease on the witness share: a beat every
        # microsecond is a typo, not a setting.
        timing["interval_seconds"] = section.get(
            "interval_seconds", lambda n, p: self.seconds(n, p, least=MIN_INTERVAL_SECONDS),
            default=_default(Witness, "interval_seconds"))
        timing["fence_step_seconds"] = section.get(
            "fence_step_seconds", lambda n, p: self.seconds(n, p, MAX_FENCE_STEP_SECONDS,
                                                            least=MIN_FENCE_STEP_SECONDS),
            default=_default(Witness, "fence_step_seconds"))
        self.witness_fence_line = section.key_line("fence_after_seconds") or section.line
        self.witness_keys = set(section.entries)
        fence, takeover = timing["fence_after_seconds"], timing["takeover_after_seconds"]
        if fence is not None and takeover is not None and not fence < takeover:
            self.problem(section.key_line("fence_after_seconds"), "witness.fence_after_seconds",
                         f"{fence} is not less than takeover_after_seconds ({takeover})")
        if kind == "none":
            self.warn(section.key_line("kind"), "witness.kind",
                      "none: two masters are possible when the nodes cannot hear each other")
            for key in ("node", "path"):
                if key in section:
                    self.problem(section.key_line(key), f"witness.{key}", "not used with kind none")
            return Witness("none", **timing)
        # kind None (already reported): check what is there, require nothing.
        node = section.get("node", self.text, required=kind is not None)
        self.witness_node_line = section.key_line("node")
        if node is not None and nodes is not None and node not in nodes:
            self.problem(section.key_line("node"), "witness.node", self._not_a_node(node, nodes))
        if kind == "ping" and "path" in section:
            self.problem(section.key_line("path"), "witness.path", "only used with kind lease")
            return Witness(kind, node, None, **timing)
        path = section.get("path", self.abspath, required=kind == "lease")
        return Witness(kind, node, path, **timing)

    def _read_watchdog(self, top: _Section, witness: Witness) -> Optional[Watchdog]:
        if "watchdog" not in top:
            return None

        def read(node, path):
            if path.endswith(".timeout_power"):
                return self.integer(node, path, 20, 40)
            if path.endswith(".calibration_port"):
                return self.integer(node, path, 1, 65535)
            if path.endswith(".device"):
                return self.abspath(node, path)
            if path.endswith(".wait_multiple"):
                value = self.seconds(node, path, 10)
                if value is not None and value < 1:
                    self.problem(_line(node), path, f"{value:g} is below 1: the standby would serve before "
                                                    "the old master's board resets it")
                    return None
                return value
            return self.seconds(node, path, 60, zero=path.endswith(".slack_seconds"))
        watchdog = self._read_fields(top, "watchdog", Watchdog, read)
        line = top.key_line("watchdog")
        if witness.kind != "lease":
            self.problem(line, "watchdog", f"needs witness.kind lease (it is {witness.kind}): the gate "
                                           "counts from the lease")
        elif "takeover_after_seconds" in self.witness_keys:
            self.problem(line, "witness.takeover_after_seconds",
                         "not used with a watchdog: the standby's wait is derived from the calibration")
        elif None not in (watchdog.evidence_seconds, witness.interval_seconds) and \
                not watchdog.evidence_seconds >= 1.5 * witness.interval_seconds:
            self.problem(line, "watchdog.evidence_seconds",
                         f"{watchdog.evidence_seconds:g} is below interval + its I/O bound "
                         f"({1.5 * witness.interval_seconds:g} s): a healthy master would stop petting")
        return watchdog

    def _check_witness_node(self, witness: Witness, groups: Dict[str, "Group"]) -> None:
        for group in groups.values():
            if witness.node is not None and witness.node in group.nodes and group.storage.kind == BY_HAND:
                # The witness cannot tell whether the machine it lives on is down.
                self.warn(self.witness_node_line, "witness.node",
                          f"{witness.node} is also a node of group {group.name} (local-gmirror): the witness "
                          f"cannot tell whether the machine it lives on is down, so {group.name} moves to "
                          f"another node only when an administrator says so (carpha takeover {group.name})")
            elif witness.node is not None and witness.node in group.nodes:
                self.problem(self.witness_node_line, "witness.node",
                             f"{witness.node} is also a node of group {group.name};"
                             " the witness must be a third node")
                return

    def _read_fields(self, top: _Section, key: str, cls, read: Callable):
        """A section whose keys are exactly the fields of `cls`, all optional."""
        names = [f.name for f in fields(cls)]
        section = top.get(key, lambda n, p: self.section(n, p, top.key_line(key), set(names)))
        if section is None:
            return cls()
        return cls(**{name: section.get(name, read, default=_default(cls, name)) for name in names})

    def _hook(self, node, path: str):
        """An argv list: an absolute program, then plain string arguments
        (no shell: the runner runs it as given)."""
        if path.endswith(".timeout_seconds"):
            return self.seconds(node, path, MAX_TIMEOUT_SECONDS, least=MIN_TIMEOUT_SECONDS)
        items = self.sequence(node, path)
        if items is None:
            return ()
        argv = [self.text(item, item_path) for item_path, item in items]
        if any(a is None for a in argv):
            return ()
        if not argv:
            self.problem(_line(node), path, "expected a program and its arguments, got an empty list")
        elif not argv[0].startswith("/"):
            self.problem(_line(node), path, f"{_q(argv[0])} is not an absolute path (the hook runs without a shell "
                                            f"or a search of PATH)")
        elif any("\x00" in a or "\n" in a for a in argv):
            self.problem(_line(node), path, "arguments must not contain NUL or newline characters")
        return tuple(argv)

    def _read_paths(self, top: _Section) -> Paths:
        def read(node, path):
            if path.endswith(".command_path"):
                return self._command_path(node, path)
            return self.abspath(node, path)
        paths = self._read_fields(top, "paths", Paths, read)
        # The devd hook cannot read this file (it must not load YAML): it
        # uses the defaults unless its environment says otherwise.
        for key, variable in (("state_dir", "CARPHA_STATE_DIR"), ("run_dir", "CARPHA_RUN_DIR")):
            value, default = getattr(paths, key), getattr(Paths(), key)
            if value is not None and value != default:
                section = top.get("paths", lambda n, p: n)
                line = next((_line(k) for k, _ in getattr(section, "value", ()) if getattr(k, "value", None) == key),
                            top.line)
                self.warn(line, f"paths.{key}", f"{value} is not the default {default}: set {variable}={value} "
                          f"before the carp-event command in devd/carpha.conf, or the hook and the worker "
                          f"will not meet")
        return paths

    def _command_path(self, node, path: str) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        # An empty element means the current directory to execvp(3).
        bad = [d for d in value.split(":") if not d.startswith("/")]
        if bad:
            self.problem(_line(node), path, f"{_q(bad[0])} is not an absolute directory")
            return None
        return value

    def _read_garp(self, top: _Section) -> Garp:
        def read(node, path):
            if path.endswith(".count"):
                return self.integer(node, path, 1, 100)
            if path.endswith(".repeat_count"):
                return self.integer(node, path, 0, 100)
            return self.seconds(node, path)
        return self._read_fields(top, "garp", Garp, read)

    def _read_damping(self, top: _Section) -> Damping:
        def read(node, path):
            if path.endswith(".settle_seconds"):
                return self.seconds(node, path, MAX_SETTLE_SECONDS, zero=True)
            if path.endswith(".flap_limit"):
                return self.integer(node, path, 1, MAX_FLAP_LIMIT)
            return self.seconds(node, path)
        return self._read_fields(top, "damping", Damping, read)

    # -- groups

    def _read_groups(self, top: _Section, nodes) -> Dict[str, Group]:
        section = top.get("groups", lambda n, p: self.section(n, p, top.key_line("groups")), required=True)
        if section is None:
            return {}
        if len(section) < 1:
            self.problem(section.line, "groups", "expected at least 1 group, got none")
        seen = {kind: _Unique(self) for kind in (
            "carp", "mountpoint", "jail", "service", "port", "unit", "mirror")}
        seen["ip"] = self.ips
        groups: Dict[str, Group] = {}
        for name, line, value in section.items():
            path = f"groups.{name}"
            if not GROUP_NAME.fullmatch(name):
                self.problem(line, path, _invalid(name, "group name", GROUP_NAME))
            groups[name] = self._read_group(name, line, value, nodes, seen)
        return groups

    def _read_group(self, name: str, line: int, value, nodes, seen) -> Group:
        path = f"groups.{name}"
        section = self.section(value, path, line, {
            "nodes", "preferred_node", "carp", "addresses", "storage", "filesystems", "jails", "services"})
        if section is None:
            return Group(name, (), None, None, (), Storage("none"))

        members = section.get("nodes", lambda n, p: self._group_nodes(n, p, nodes), required=True)
        preferred = section.get("preferred_node", self.text, required=True)
        if preferred is not None and members is not None and preferred not in members:
            self.problem(section.key_line("preferred_node"), f"{path}.preferred_node",
                         f"{_excerpt(preferred)} is not one of the group's nodes ({_listed(members)})")

        bindings = section.get("carp", lambda n, p: self._carps(n, p, section.key_line("carp")))
        carp, more_carp = (bindings[0], tuple(bindings[1:])) if bindings else (None, ())
        for index, binding in enumerate(bindings or ()):
            where = f"{path}.carp" + (f"[{index}]" if len(bindings) > 1 else "")
            seen["carp"].add(binding.subsystem, binding.subsystem, section.key_line("carp"), where)

        addresses = section.get("addresses", lambda n, p: self._aliases(n, p, seen["ip"]), required=True)
        if len(bindings or ()) > 1:
            interfaces = {b.interface for b in bindings}
            for index, alias in enumerate(addresses or ()):
                if alias.interface not in interfaces:
                    # which vhid it follows would be anybody's guess
                    self.problem(section.key_line("addresses"), f"{path}.addresses[{index}]",
                                 f"{alias.interface} is not the interface of any of the group's vhids "
                                 f"({_listed(sorted(interfaces))})")
        for at, binding in enumerate(bindings or ()):
            if binding.address is None:
                continue
            own = f"{path}.carp" + (f"[{at}]" if len(bindings) > 1 else "") + ".address"
            for index, alias in enumerate(addresses or ()):
                if alias.ip == binding.address.ip:
                    # claim/release add and remove every listed address.
                    self.problem(section.key_line("addresses"), f"{path}.addresses[{index}]",
                                 f"{alias.ip} is the vhid's own address ({own}), which rc.conf"
                                 f" configures; list only the service aliases carpha adds and removes")
        storage = section.get("storage", lambda n, p: self._storage(
            n, p, section.key_line("storage"), members, nodes, seen), default=Storage("none"))
        if storage.kind == BY_HAND and "carp" in section:
            self.problem(section.key_line("carp"), f"{path}.carp",
                         "a local-gmirror group moves with its drives, not with CARP: no carp")
            bindings, carp, more_carp = None, None, ()
        elif storage.kind != BY_HAND and "carp" not in section:
            self.problem(section.line, f"{path}.carp", "required key is missing")
        filesystems = section.get("filesystems", lambda n, p: self._filesystems(n, p, seen["mountpoint"]),
                                  default=())
        jails = section.get("jails", lambda n, p: self._names(n, p, JAIL_NAME, "jail name", seen["jail"]),
                            default=())
        services = section.get("services", lambda n, p: self._names(
            n, p, SERVICE_NAME, "service name", seen["service"]), default=())
        return Group(name, members or (), preferred, carp, addresses or (), storage,
                     filesystems or (), jails or (), services or (), more_carp)

    def _group_nodes(self, node, path: str, nodes) -> Optional[Tuple[str, ...]]:
        items = self.sequence(node, path)
        if items is None:
            return None
        members: List[str] = []
        for item_path, item in items:
            member = self.text(item, item_path)
            if member is None:
                continue
            if nodes is not None and member not in nodes:
                self.problem(_line(item), item_path, self._not_a_node(member, nodes))
            elif member in members:
                self.problem(_line(item), item_path, f"{member} is listed twice")
                continue
            members.append(member)
        if len(items) < 2:
            self.problem(_line(node), path, f"expected at least 2 nodes, got {len(items)}")
        return tuple(members)

    def _carps(self, node, path: str, line: int) -> Optional[Tuple[CarpBinding, ...]]:
        """`carp:` one vhid (a mapping) or several that move as one (a list
        of 1 to MAX_VHIDS mappings)."""
        if not isinstance(node, SequenceNode):
            binding = self._carp(node, path, line)
            return None if binding is None else (binding,)
        items = self.sequence(node, path)
        if items is None:
            return None
        if not 1 <= len(items) <= MAX_VHIDS:
            self.problem(_line(node), path, f"expected 1 to {MAX_VHIDS} vhids, got {len(items)}")
        bindings = tuple(b for b in (self._carp(item, item_path, _line(item)) for item_path, item in items)
                         if b is not None)
        return bindings if len(bindings) == len(items) else None

    def _carp(self, node, path: str, line: int) -> Optional[CarpBinding]:
        section = self.section(node, path, line, {"interface", "vhid", "address"})
        if section is None:
            return None
        interface = section.get("interface", lambda n, p: self.name(n, p, INTERFACE_NAME, "interface name"),
                                required=True)
        vhid = section.get("vhid", lambda n, p: self.integer(n, p, 1, 255), required=True)
        address = section.get("address", self._carp_address)
        if interface is None or vhid is None:
            return None
        return CarpBinding(interface, vhid, address)

    def _carp_address(self, node, path: str) -> Optional[IPInterface]:
        value = self.text(node, path)
        if value is None:
            return None
        if "/" not in value:
            self.problem(_line(node), path, f"{_q(value)} has no /prefix")
            return None
        try:
            address = ipaddress.ip_interface(value)
        except ValueError:
            self.problem(_line(node), path, f"{_q(value)} is not an IP address with a prefix")
            return None
        why = _address_problem(address)
        if why:
            self.problem(_line(node), path, why)
            return None
        return address

    def _aliases(self, node, path: str, seen_ip: _Unique) -> Optional[Tuple[Alias, ...]]:
        items = self.sequence(node, path)
        if items is None:
            return None
        if not items:
            self.problem(_line(node), path, "expected at least one address, got an empty list")
        aliases = []
        for item_path, item in items:
            alias = self._alias(item, item_path)
            if alias is not None:
                seen_ip.add(alias.ip, str(alias.ip), _line(item), item_path)
                aliases.append(alias)
        return tuple(aliases)

    def _alias(self, node, path: str) -> Optional[Alias]:
        value = self.text(node, path)
        if value is None:
            return None
        parts = value.split()
        if len(parts) != 2:
            self.problem(_line(node), path, f"expected 'INTERFACE ADDRESS/PREFIX', got {_q(value)}")
            return None
        interface, address = parts
        if not INTERFACE_NAME.fullmatch(interface):
            self.problem(_line(node), path, _invalid(interface, "interface name", INTERFACE_NAME))
            return None
        if "/" not in address:
            self.problem(_line(node), path, f"{_q(address)} has no /prefix")
            return None
        try:
            alias = Alias(interface, ipaddress.ip_interface(address))
        except ValueError:
            self.problem(_line(node), path, f"{_q(address)} is not an IPv4 or IPv6 address with a prefix")
            return None
        why = _address_problem(alias.interface_address)
        if why:
            self.problem(_line(node), path, why)
            return None
        return alias

    def _storage(self, node, path: str, line: int, members, nodes, seen) -> Storage:
        section = self.section(node, path, line, {"kind", "mirror", "providers", "ggate"})
        if section is None:
            return Storage("none")
        kind = section.get("kind", lambda n, p: self.choice(
            n, p, STORAGE_KINDS, {"hast": "hast is not supported yet"}), default="gmirror-ggate")
        if kind == BY_HAND:
            for key in ("providers", "ggate"):
                if key in section:
                    self.problem(section.key_line(key), f"{path}.{key}", "only used with kind gmirror-ggate"
                                 " (the kernel assembles a local mirror from whichever drives carry it)")
            mirror = section.get("mirror", lambda n, p: self.name(n, p, GEOM_NAME, "geom name"), required=True)
            if mirror is not None:
                seen["mirror"].add(mirror, mirror, section.key_line("mirror"), f"{path}.mirror")
            return Storage(BY_HAND, mirror)
        if kind != "gmirror-ggate":
            if kind == "none":
                for key in ("mirror", "providers", "ggate"):
                    if key in section:
                        self.problem(section.key_line(key), f"{path}.{key}",
                                     "only used with kind gmirror-ggate")
            return Storage("none")

        kind_line = section.key_line("kind")
        if members is not None and len(members) > 2:
            self.problem(kind_line, f"{path}.kind",
                         f"gmirror-ggate needs exactly 2 nodes in the group, got {len(members)}")
        for member in members or ():
            address = nodes.get(member).address if nodes and member in nodes else None
            if address is not None and address.version != 4:
                # ggatec(8) resolves the peer with inet_addr/gethostbyname.
                self.problem(kind_line, f"{path}.kind", f"gmirror-ggate needs IPv4 node addresses"
                                                        f" (ggatec is IPv4 only), but nodes.{member}.address"
                                                        f" is {address}")

        mirror = section.get("mirror", lambda n, p: self.name(n, p, GEOM_NAME, "geom name"), required=True)
        if mirror is not None:
            seen["mirror"].add(mirror, mirror, section.key_line("mirror"), f"{path}.mirror")
        providers = section.get("providers", lambda n, p: self._providers(
            n, p, section.key_line("providers"), members), required=True)

        ggate = self._ggate(section, path, seen)
        return Storage("gmirror-ggate", mirror, providers or {}, ggate)

    def _ggate(self, storage: _Section, path: str, seen) -> Optional[Ggate]:
        readers = {
            "port": lambda n, p: self.integer(n, p, 1, 65535),
            "unit": lambda n, p: self.integer(n, p, 0, 255),
            "timeout_seconds": lambda n, p: self.integer(n, p, 0, 3600),
            "drop_after_seconds": lambda n, p: self.integer(n, p, 1, 600),
        }
        default = _Section(self, f"{path}.ggate", storage.line, {})
        section = storage.get("ggate", lambda n, p: self.section(
            n, p, storage.key_line("ggate"), set(readers)), default=default)
        if section is None:
            return None
        ggate = Ggate(**{name: section.get(name, read, default=_default(Ggate, name))
                         for name, read in readers.items()})
        self.ggate_lines[path.split(".")[1]] = section.key_line("timeout_seconds") or section.line
        for key in ("port", "unit"):
            value = getattr(ggate, key)
            if value is not None:
                seen[key].add(value, str(value), section.key_line(key), f"{path}.ggate.{key}")
        return ggate

    def _providers(self, node, path: str, line: int, members) -> Optional[Dict[str, str]]:
        section = self.section(node, path, line)
        if section is None:
            return None
        providers: Dict[str, str] = {}
        for member, member_line, value in section.items():
            item_path = f"{path}.{member}"
            if members is not None and member not in members:
                self.problem(member_line, item_path,
                             f"{_excerpt(member)} is not one of the group's nodes ({_listed(members)})")
            provider = self._provider(value, item_path)
            if provider is not None:
                providers[member] = provider
        for member in members or ():
            if member not in section:
                self.problem(line, path, f"no provider for {member}")
        return providers

    def _provider(self, node, path: str) -> Optional[str]:
        value = self.text(node, path)
        if value is None:
            return None
        if value.startswith("/"):
            self.problem(_line(node), path, f"{_q(value)} must be a name under /dev, without /dev/")
        elif not PROVIDER_NAME.fullmatch(value):
            self.problem(_line(node), path, _invalid(value, "provider name", PROVIDER_NAME))
        elif ".." in value.split("/"):
            self.problem(_line(node), path, f"{_q(value)} must not contain '..'")
        else:
            return value
        return None

    def _filesystems(self, node, path: str, seen_mountpoint: _Unique) -> Optional[Tuple[Filesystem, ...]]:
        items = self.sequence(node, path)
        if items is None:
            return None
        result = []
        placed = []     # (mountpoint, line, path) in mount order
        for item_path, item in items:
            section = self.section(item, item_path, _line(item), {
                "device", "mountpoint", "fstype", "fsck", "options"})
            if section is None:
                continue
            device = section.get("device", self.abspath, required=True)
            mountpoint = section.get("mountpoint", self.abspath, required=True)
            fstype = section.get("fstype", self._fstype, default="ufs")
            fsck = section.get("fsck", lambda n, p: self.choice(n, p, FSCK_MODES), default="preen")
            options = section.get("options", lambda n, p: self._names(n, p, MOUNT_OPTION, "mount option"),
                                  default=())
            if mountpoint is not None:
                line = section.key_line("mountpoint")
                seen_mountpoint.add(mountpoint, mountpoint, line, f"{item_path}.mountpoint")
                for earlier, _, earlier_path in placed:
                    if earlier != mountpoint and earlier.startswith(mountpoint.rstrip("/") + "/"):
                        # Mounting the parent later would hide the earlier mount.
                        self.problem(line, f"{item_path}.mountpoint",
                                     f"{mountpoint} must come before {earlier_path} ({earlier}),"
                                     " which is inside it")
                placed.append((mountpoint, line, f"{item_path}.mountpoint"))
            result.append(Filesystem(device, mountpoint, fstype, fsck, options or ()))
        return tuple(result)

    def _fstype(self, node, path: str) -> Optional[str]:
        value = self.text(node, path)
        if value is not None and value not in FSTYPES:
            self.problem(_line(node), path, f"{_q(value)} is not supported yet (only {', '.join(FSTYPES)})")
            return None
        return value

    def _names(self, node, path: str, pattern, what: str,
               seen: Optional[_Unique] = None) -> Optional[Tuple[str, ...]]:
        items = self.sequence(node, path)
        if items is None:
            return None
        names = []
        local = _Unique(self) if seen is None else seen
        for item_path, item in items:
            value = self.name(item, item_path, pattern, what)
            if value is not None:
                local.add(value, value, _line(item), item_path)
                names.append(value)
        return tuple(names)
