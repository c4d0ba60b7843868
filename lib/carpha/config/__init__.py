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
  within bounds. Where PyYAML has libyaml, its parser feeds the same composer
  (faster) and what carpha reads is the same as without it: a refusal is
  always PyYAML's own message, and text known to read differently in
  libyaml goes to PyYAML's parser (yamlfile.compose).
- Nothing in the file can crash or hang the loader (cron and devd load it
  every minute): at most MAX_CONFIG_BYTES, nesting at most MAX_DEPTH levels,
  and at most MAX_EXPANDED_NODES values once every alias and merge is
  expanded (a chain of merges doubles at each link); an alias to the node
  that contains it is refused. Messages quote at most EXCERPT_CHARACTERS of a
  value and are at most MAX_MESSAGE_CHARACTERS long.
- Unknown keys are errors; absent keys take the defaults that
  examples/three-servers.yaml documents (the dataclass defaults in model).

The package, from the bottom up: `limits` (what a value may be), `model`
(the dataclasses and ConfigError), `timing` (the fencing budget and the
ggate timeout rule), `messages` (how a problem quotes the file), `yamlfile`
(reading the file, the bounded loaders), `values` (the checks of one value),
the sections (`nodes`: nodes, node, witness, watchdog; `settings`: paths,
garp, damping, hooks; `groups`: groups, carp, addresses; `storage`: storage,
filesystems), `checks` (across sections), and `reader` (`load`, `loads`,
the walk of the file). Everything the other layers use is importable from
`carpha.config` itself, as below.
"""

from .limits import (
    BY_HAND, EXCERPT_CHARACTERS, FSCK_MODES, FSTYPES, GEOM_NAME, GROUP_NAME, INTERFACE_NAME, JAIL_NAME,
    MAX_CONFIG_BYTES, MAX_DEPTH, MAX_EXPANDED_NODES, MAX_FENCE_STEP_SECONDS, MAX_FLAP_LIMIT,
    MAX_MAINTENANCE_SECONDS, MAX_MESSAGE_CHARACTERS, MAX_SETTLE_SECONDS, MAX_TIMEOUT_SECONDS, MAX_VHIDS,
    MIN_FENCE_STEP_SECONDS, MIN_INTERVAL_SECONDS, MIN_TIMEOUT_SECONDS, MOUNT_OPTION, NODE_NAME, PROVIDER_NAME,
    SERVICE_NAME, STORAGE_KINDS, SYSLOG_FACILITIES, WATCHDOG_INTERVAL_SECONDS, WITNESS_KINDS,
)
from .model import (
    Alias, CarpBinding, Config, ConfigError, Damping, Filesystem, Garp, Ggate, Group, Hooks, IPAddress,
    IPInterface, Maintenance, Node, Paths, Storage, Timeouts, Watchdog, Witness,
)
from .reader import DEFAULT_PATH, load, loads
from .timing import (
    GGATE_EARLIEST_FAILURE_SECONDS, fencing_bound, fencing_problems, fencing_remedies, fencing_steps,
    fencing_time, ggate_timeout_problems,
)

__all__ = [
    # reader
    "DEFAULT_PATH", "load", "loads",
    # model
    "Alias", "CarpBinding", "Config", "ConfigError", "Damping", "Filesystem", "Garp", "Ggate", "Group", "Hooks",
    "IPAddress", "IPInterface", "Maintenance", "Node", "Paths", "Storage", "Timeouts", "Watchdog", "Witness",
    # timing
    "GGATE_EARLIEST_FAILURE_SECONDS", "fencing_bound", "fencing_problems", "fencing_remedies", "fencing_steps",
    "fencing_time", "ggate_timeout_problems",
    # limits
    "BY_HAND", "EXCERPT_CHARACTERS", "FSCK_MODES", "FSTYPES", "GEOM_NAME", "GROUP_NAME", "INTERFACE_NAME",
    "JAIL_NAME", "MAX_CONFIG_BYTES", "MAX_DEPTH", "MAX_EXPANDED_NODES", "MAX_FENCE_STEP_SECONDS", "MAX_FLAP_LIMIT",
    "MAX_MAINTENANCE_SECONDS", "MAX_MESSAGE_CHARACTERS", "MAX_SETTLE_SECONDS", "MAX_TIMEOUT_SECONDS", "MAX_VHIDS",
    "MIN_FENCE_STEP_SECONDS", "MIN_INTERVAL_SECONDS", "MIN_TIMEOUT_SECONDS", "MOUNT_OPTION", "NODE_NAME",
    "PROVIDER_NAME", "SERVICE_NAME", "STORAGE_KINDS", "SYSLOG_FACILITIES", "WATCHDOG_INTERVAL_SECONDS",
    "WITNESS_KINDS",
]
