"""Kernel defaults of a simulated host: the net.inet.carp and
kern.geom.mirror sysctls and their values, and which kernel module each
kld file provides."""

CARP_SYSCTLS = {
    # Order of `sysctl net.inet.carp` in sample sysctl_carp (FreeBSD 11.2).
    "net.inet.carp.ifdown_demotion_factor": 240,
    "net.inet.carp.senderr_demotion_factor": 240,
    "net.inet.carp.demotion": 0,
    "net.inet.carp.log": 1,
    "net.inet.carp.preempt": 0,
    "net.inet.carp.allow": 1,
}

# kern.geom.mirror.* defaults from g_mirror.c (reference 4.3); they exist
# only while geom_mirror is loaded. Listing order [unverified].
MIRROR_SYSCTLS = {
    "kern.geom.mirror.debug": 0,
    "kern.geom.mirror.timeout": 4,
    "kern.geom.mirror.idletime": 5,
    "kern.geom.mirror.disconnect_on_failure": 1,
    "kern.geom.mirror.sync_requests": 2,
    "kern.geom.mirror.sync_update_period": 5,
    "kern.geom.mirror.launch_mirror_before_timeout": 1,
}

# Which kernel module names a kld file provides: `kldstat -m` takes the
# module name (g_mirror), kldload the file name (geom_mirror) - a real trap.
KLD_MODULES = {"carp": "carp", "geom_mirror": "g_mirror", "geom_gate": "g_gate"}
