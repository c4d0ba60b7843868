"""What a configuration value may be: the kinds, the bounds, the name
patterns, and the loader's own limits. A table of data; the readers
(carpha.config.values and the section modules) apply it, and the layers
above import the few they share (safety.damping, safety.maintenance).
"""

import re

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
# The longest a maintenance mode may last (`maintenance on --for`,
# maintenance.default_seconds): a mode always ends, so a forgotten one cannot
# disable failover for ever (carpha.safety.maintenance).
MAX_MAINTENANCE_SECONDS = 30 * 86400

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
MAX_FENCE_STEP_SECONDS = 60
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
