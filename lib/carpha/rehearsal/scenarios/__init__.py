"""The scenarios of `carpha simulate`, one module each (named after the
scenario, each exposing `run(r) -> dict`), in the order `carpha simulate`
lists them; which need a config of their own, and which run with the
shipped watchdog defaults added to the config."""

import os

from ..harness import ROOT
from . import (backup_crash_and_return, blip, boot_both, check_codes, clock_step, double_failover,
                fence_stuck_jail, flap, ggate_reconnect, hung_master, isolate_master,
                isolate_master_watchdog, maintenance_backup, master_crash, master_crash_watchdog,
                multi_vhid, nas_move, nfs_stall, no_watchdog, peer_link_partition, planned_release,
                probe_fails_once, promote_after_fence, promote_while_preferred_boots,
                reboot_preferred, refusing_master_yields, release_dead_standby, release_idle_node,
                split_brain_heal, stale_replica, switchover, switchover_flap_partition,
                takeover_peer_unknown, witness_down_then_master_crash)

SCENARIOS = {
    "master-crash": master_crash.run,
    "backup-crash-and-return": backup_crash_and_return.run,
    "planned-release": planned_release.run,
    "flap": flap.run,
    "boot-both": boot_both.run,
    "maintenance-backup": maintenance_backup.run,
    "switchover": switchover.run,
    "peer-link-partition": peer_link_partition.run,
    "witness-down-then-master-crash": witness_down_then_master_crash.run,
    "stale-replica": stale_replica.run,
    "isolate-master": isolate_master.run,
    "split-brain-heal": split_brain_heal.run,
    "reboot-preferred": reboot_preferred.run,
    "fence-stuck-jail": fence_stuck_jail.run,
    "double-failover": double_failover.run,
    # the promotion protocol (each a reproduction of a hole a fault soak found)
    "promote-while-preferred-boots": promote_while_preferred_boots.run,
    "takeover-peer-unknown": takeover_peer_unknown.run,
    "switchover-flap-partition": switchover_flap_partition.run,
    "release-dead-standby": release_dead_standby.run,
    "promote-after-fence": promote_after_fence.run,
    "refusing-master-yields": refusing_master_yields.run,
    "release-idle-node": release_idle_node.run,
    "probe-fails-once": probe_fails_once.run,
    "clock-step": clock_step.run,
    "ggate-reconnect": ggate_reconnect.run,
    "multi-vhid": multi_vhid.run,
    "nas-move": nas_move.run,
    # the hardware-watchdog lease (carpha.safety.watchdog)
    "master-crash-watchdog": master_crash_watchdog.run,
    "isolate-master-watchdog": isolate_master_watchdog.run,
    "hung-master": hung_master.run,
    "blip": blip.run,
    "nfs-stall": nfs_stall.run,
    "no-watchdog": no_watchdog.run,
    "check-codes": check_codes.run,
}
# A scenario that needs a world the default example lacks.
SCENARIO_CONFIGS = {"multi-vhid": os.path.join(ROOT, "examples", "multi-vhid.yaml")}
# Scenarios that run with the shipped watchdog defaults added to the config.
WITH_WATCHDOG = {"master-crash-watchdog", "isolate-master-watchdog", "hung-master", "blip", "nfs-stall"}
WATCHDOG_SECTION = "\nwatchdog: {}      # the shipped defaults (carpha simulate adds it)\n"
