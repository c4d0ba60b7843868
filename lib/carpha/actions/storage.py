"""A group's storage: promote it on the master (mirror up, fsck, mount),
demote it elsewhere (unmount, mirror down, export the local disk).

gmirror + ggate traps handled (reference 4, 5, 8):
- fencing first: ggated's export of our disk is stopped before the mirror
  is assembled from it, so the old master cannot write to it any more;
- `gmirror load` is not idempotent: `kldload -n geom_mirror` is used, and
  loading the class is what tastes the local disk into the mirror;
- `gmirror forget` drops the missing peer component so a later `insert`
  works ("Not all disks connected." otherwise);
- a local component still SYNCHRONIZING holds incomplete data: refused;
- mounting onto an occupied mount point stacks silently: refused, as is a
  device already mounted elsewhere;
- demotion stops the mirror *before* dropping the peer's ggate component (a
  component vanishing first bumps the local syncid and makes our disk look
  fresher than the peer's, which the peer's mirror then refuses), and
  unloads geom_mirror when no other mirror uses it, so the kernel cannot
  re-taste the disk into a mirror while ggated exports it.
"""

from __future__ import annotations

import os

from ..host import observe as probe
from ..safety import splitbrain
from ..freebsd import commands as cmd
from .base import Action, Conflict, Step, Wait, WriteFile

MODULE = "geom_mirror"
# g_metadata_read() on a disk without gmirror magic: EINVAL (lib/geom/misc/subr.c).
NO_METADATA = ": Invalid argument."
# kern.geom.mirror.timeout defaults to 4 s (reference 4.3): the kernel waits
# that long for all components before launching degraded; allow margin.
ASSEMBLY_WAIT_SECONDS = 10.0


def ggated_pidfile(ctx) -> str:
    return os.path.join(ctx.config.paths.run_dir, f"ggated.{ctx.group.name}.pid")


def ggated_exports(ctx) -> str:
    return os.path.join(ctx.config.paths.run_dir, f"ggated.{ctx.group.name}.exports")


def exports_line(ctx) -> str:
    # ggated(8) exports: "client RW path"; only the peer may attach.
    peer = ctx.config.nodes[ctx.peer].address
    return f"{peer}\tRW\t/dev/{local_provider(ctx)}\n"


def local_provider(ctx) -> str:
    return ctx.group.storage.providers[ctx.node]


def is_mirrored(ctx) -> bool:
    return ctx.group.storage.kind == "gmirror-ggate"


def ggated_argv(ctx):
    return cmd.ggated_start(port=ctx.group.storage.ggate.port, pidfile=ggated_pidfile(ctx),
                            exports=ggated_exports(ctx))


def observe(ctx) -> dict:
    seen = {"mounts": probe.get_mounts(ctx)}
    if is_mirrored(ctx):
        seen["ggated"] = probe.is_running(ctx, ggated_argv(ctx))
        seen["mirrors"] = probe.get_mirrors(ctx)
        seen["ggate"] = probe.get_ggate_devices(ctx)
        seen["clear_for"] = splitbrain.disk_to_clear(ctx)
        seen["blank"] = False
        if seen["clear_for"] is not None:
            # Already blank (a run interrupted after the clear): record it only.
            dump = ctx.query(cmd.gmirror_dump(local_provider(ctx)), timeout="storage", check=False)
            seen["blank"] = dump.returncode != 0 and NO_METADATA in dump.stderr
    return seen


def _mirror(ctx, seen):
    mirrors = seen.get("mirrors")
    return None if mirrors is None else mirrors.get(ctx.group.storage.mirror)


def _mirror_present(ctx) -> bool:
    """Ready once the kernel assembled the mirror; a mirror that assembled
    without a usable local half is refused right here, before fsck/mount."""
    mirror = (probe.get_mirrors(ctx) or {}).get(ctx.group.storage.mirror)
    if mirror is not None:
        _refuse_unusable_local_component(ctx, mirror)
    return mirror is not None


def plan_promote(ctx, seen):
    steps = []
    if is_mirrored(ctx):
        steps += _plan_mirror_up(ctx, seen)
    steps += _plan_mounts(ctx, seen["mounts"])
    return steps


def _plan_mirror_up(ctx, seen):
    storage, steps = ctx.group.storage, []
    if seen["ggated"]:
        steps.append(Step(cmd.pkill_argv(ggated_argv(ctx)),
                          f"fence {ctx.peer} off our disk: stop ggated and its per-connection children",
                          "storage"))
    mirror = _mirror(ctx, seen)
    if seen["mirrors"] is not None and mirror is None and not seen["mirrors"]:
        # Loaded, but our mirror stopped (a fence's `gmirror stop -f`, or by
        # hand): the class tastes a disk only when it appears, its last
        # writer closes it, or the class loads (reference 4.3), so reload it.
        steps.append(Step(cmd.kldunload(MODULE), f"unload {MODULE} so that loading it tastes "
                          f"{local_provider(ctx)} again", "storage"))
    if seen["mirrors"] is None or (mirror is None and not seen["mirrors"]):
        if ctx.config.watchdog is not None:
            # Launch at once rather than wait kern.geom.mirror.timeout for
            # the peer's half: it cannot appear here (only this node's
            # ggatec would attach it, later). g_mirror_create() arms its
            # launch callout at g_mirror_timeout * hz (g_mirror.c, 12.x-era
            # id 2236677085), an RWTUN read from kenv when the class loads.
            steps.append(Step(cmd.kenv_set("kern.geom.mirror.timeout", "0"),
                              "launch the mirror without waiting for the peer's half", "storage"))
        steps.append(Step(cmd.kldload(MODULE), f"load {MODULE}: the kernel tastes {local_provider(ctx)}",
                          "storage"))
    if mirror is None:
        steps.append(Wait(f"mirror/{storage.mirror} to assemble from {local_provider(ctx)}",
                          _mirror_present, ASSEMBLY_WAIT_SECONDS))
    else:
        _refuse_unusable_local_component(ctx, mirror)
    if mirror is None or missing_components(mirror):
        steps.append(Step(cmd.gmirror_forget(storage.mirror),
                          "drop the missing peer component so it can be re-inserted later", "storage"))
    return steps


def missing_components(mirror) -> bool:
    """Configured components that are not connected (what `gmirror forget`
    drops). A DEGRADED mirror whose components are all present but one is
    SYNCHRONIZING has nothing to forget."""
    configured = mirror.get("component_count")
    return configured is not None and len(mirror["components"]) < configured


def _refuse_unusable_local_component(ctx, mirror) -> None:
    provider = local_provider(ctx)
    component = next((c for c in mirror["components"] if c["name"] == provider), None)
    if component is None:
        names = ", ".join(c["name"] for c in mirror["components"]) or "nothing"
        raise Conflict(f"{ctx.group.name}: mirror/{mirror['name']} runs on {names}, "
                       f"not on the local provider {provider}")
    if component["state"] != "ACTIVE":
        raise Conflict(f"{ctx.group.name}: local component {provider} is {component['state']}: "
                       f"its data is incomplete; refusing to serve from it")


# ERERUN in sbin/fsck_ffs/fsck.h: "PLEASE RERUN FSCK" (main.c checkfilesys()).
FSCK_RERUN = 16


def _plan_mounts(ctx, mounts):
    steps = []
    for fs in ctx.group.filesystems:
        if any(m["device"] == fs.device and m["mountpoint"] == fs.mountpoint for m in mounts):
            continue
        occupied = [m for m in mounts if m["mountpoint"] == fs.mountpoint]
        if occupied:
            raise Conflict(f"{ctx.group.name}: {fs.mountpoint} already has {occupied[-1]['device']} "
                           f"mounted; mounting {fs.device} would stack over it")
        elsewhere = [m for m in mounts if m["device"] == fs.device]
        if elsewhere:
            raise Conflict(f"{ctx.group.name}: {fs.device} is mounted on {elsewhere[0]['mountpoint']}, "
                           f"not {fs.mountpoint}")
        if fs.fsck != "none":
            # Exit 16 asks for the same fsck once more (reference 8); the
            # second run's exit decides, as any other: 0, else the fallback.
            fallback = Step(cmd.fsck_yes(fs.device), f"full fsck of {fs.device} (policy: yes)",
                            "fsck", again_on=FSCK_RERUN) if fs.fsck == "yes" else None
            steps.append(Step(cmd.fsck_preen(fs.device), f"preen {fs.device} (replays the SU+J journal)",
                              "fsck", fallback, again_on=FSCK_RERUN))
        steps.append(Step(cmd.mount(fs.device, fs.mountpoint, fs.fstype, fs.options),
                          f"mount {fs.device} on {fs.mountpoint}", "mount"))
    return steps


def plan_demote(ctx, seen):
    steps = []
    for fs in reversed(ctx.group.filesystems):
        if any(m["device"] == fs.device and m["mountpoint"] == fs.mountpoint for m in seen["mounts"]):
            steps.append(Step(cmd.umount(fs.mountpoint), f"unmount {fs.mountpoint}", "mount",
                              Step(cmd.umount(fs.mountpoint, force=True),
                                   f"force-unmount {fs.mountpoint}", "mount")))
    if is_mirrored(ctx):
        steps += _plan_mirror_down(ctx, seen)
    return steps


def _plan_mirror_down(ctx, seen):
    storage, steps = ctx.group.storage, []
    mirrors = seen["mirrors"]
    if _mirror(ctx, seen) is not None:
        steps.append(Step(cmd.gmirror_stop(storage.mirror), f"stop mirror/{storage.mirror}", "storage",
                          Step(cmd.gmirror_stop(storage.mirror, force=True),
                               f"force-stop mirror/{storage.mirror}", "storage")))
    if any(d["unit"] == storage.ggate.unit for d in seen["ggate"]):
        steps.append(Step(cmd.ggatec_destroy(storage.ggate.unit),
                          f"detach {ctx.peer}'s disk (ggate{storage.ggate.unit})", "storage"))
    if mirrors is not None and not (set(mirrors) - {storage.mirror}):
        steps.append(Step(cmd.kldunload(MODULE),
                          f"unload {MODULE} so the kernel cannot re-taste {local_provider(ctx)} "
                          "into a mirror while ggated exports it", "storage"))
    elif mirrors is not None:
        ctx.log.warning(f"{ctx.group.name}: other mirrors keep {MODULE} loaded; the kernel may re-taste "
                        f"{local_provider(ctx)} (label the data mirror with `gmirror label -h`)")
    resolved = seen.get("clear_for")
    if resolved is not None and not seen.get("blank"):
        # The peer kept its data after a split brain: blank ours before the
        # peer can see it (splitbrain.disk_to_clear). ggated's listener holds
        # the disk open once a client connected (reference 5.1): stop it first.
        if seen["ggated"]:
            steps.append(Step(cmd.pkill_argv(ggated_argv(ctx)), f"stop exporting {local_provider(ctx)}: "
                              "it must be blanked first", "storage"))
        steps.append(Step(cmd.gmirror_clear(local_provider(ctx)),
                          f"blank {local_provider(ctx)}: {ctx.peer} kept its data after the split brain of "
                          f"generation {resolved}, so this disk joins only as a full copy", "storage"))
    if not seen["ggated"] or (resolved is not None and not seen.get("blank")):
        steps.append(WriteFile(ggated_exports(ctx), exports_line(ctx),
                               f"export {local_provider(ctx)} to {ctx.peer} only"))
        steps.append(Step(ggated_argv(ctx), f"export {local_provider(ctx)} to {ctx.peer} with ggated", "storage"))
    return steps


def after_demote(ctx, seen) -> None:
    if seen.get("clear_for") is not None:
        splitbrain.disk_cleared(ctx, seen["clear_for"])


PROMOTE = Action("promote-storage", observe, plan_promote)
DEMOTE = Action("demote-storage", observe, plan_demote, after=after_demote)
