"""The hooks as real processes against the simulated FreeBSD commands on
PATH: every command carpha runs is a separate process reading and writing
the simulated cluster's state (CARPHA_SIM_DIR), as on a real host."""

import os
import subprocess
import sys
import time

import pytest

from carpha import clock
from carpha.store import lock
from carpha.sim.clock import SimClock
from carpha.sim.cluster import Cluster
from carpha.sim.executables import install_commands
from carpha.rehearsal.nodes import build_nodes
from conftest import LIB, ROOT

from simworld import EXAMPLE          # no witness: no heartbeat runs in these tests


@pytest.fixture
def site(tmp_path):
    """serverA (CARP MASTER) and serverB saved to disk, each with a config
    file whose command_path is the simulated commands."""
    previous = clock.use(None)
    cluster = Cluster(SimClock())
    clock.use(cluster.clock)
    try:
        bin_dir = str(tmp_path / "bin")
        install_commands(bin_dir)
        configs = build_nodes(EXAMPLE, "carpha.yaml", str(tmp_path), cluster)
        cluster.advance(5)
        a = cluster["serverA"]
        assert a.run("kldload", "-n", "geom_mirror")[0] == 0   # as if loaded at boot
        cluster.advance(5)                                      # gmirror launches (1/1)
        sim_dir = tmp_path / "sim"
        sim_dir.mkdir()
        cluster.save(str(sim_dir))
    finally:
        clock.use(previous)
    files = {}
    for node, config in configs.items():
        text = EXAMPLE.replace("# paths:", "paths:").replace(
            "#   state_dir: /var/db/carpha", f"  state_dir: {config.paths.state_dir}").replace(
            "#   run_dir: /var/run/carpha", f"  run_dir: {config.paths.run_dir}").replace(
            "#   command_path: /sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin",
            f"  command_path: {bin_dir}")
        path = tmp_path / f"{node}.yaml"
        path.write_text(f"node: {node}\n" + text)
        path.chmod(0o600)
        files[node] = (str(path), config)
    return {"sim": str(sim_dir), "files": files, "tmp": tmp_path}


def env_for(site, node):
    path, config = site["files"][node]
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "CARPHA_CONFIG": path, "CARPHA_SIM_DIR": site["sim"],
            "CARPHA_SIM_HOST": node, "CARPHA_NO_SYSLOG": "1",
            "CARPHA_STATE_DIR": config.paths.state_dir, "CARPHA_RUN_DIR": config.paths.run_dir}


def hook(site, node, name, *args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "hooks", name), *args], env=env_for(site, node),
                          capture_output=True, text=True, timeout=120)


def load(site):
    return Cluster.load(site["sim"])


def test_claim_addresses_then_again_changes_nothing(site):
    first = hook(site, "serverA", "claim-addresses", "web")
    assert first.returncode == 0, first.stderr
    assert "web: claim-addresses: changed" in first.stdout
    em0 = load(site)["serverA"].interfaces["em0"]
    assert {a.addr for a in em0.addrs if not a.vhid} >= {"192.0.2.10", "2001:db8::10"}
    assert any("announced 192.0.2.10 2001:db8::10 on em0" in m for _, tag, m, _ in load(site)["serverA"].syslog)
    again = hook(site, "serverA", "claim-addresses", "web")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_dry_run_prints_exact_commands_and_changes_nothing(site):
    before = open(os.path.join(site["sim"], "cluster.json")).read()
    result = hook(site, "serverA", "promote-storage", "web", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["would run: fsck -p -t ufs /dev/mirror/data",
                                              "would run: mount -t ufs -o noatime /dev/mirror/data /data"]
    assert open(os.path.join(site["sim"], "cluster.json")).read() == before


def test_acquiring_hooks_refuse_on_a_backup_node_unless_forced(site):
    for name in ("claim-addresses", "promote-storage", "start-jails"):
        result = hook(site, "serverB", name, "web")
        assert result.returncode == 75, (name, result.stderr)
        assert "refusing: serverB is BACKUP for group web (vhid 1 on em0), not MASTER" in result.stderr
    forced = hook(site, "serverB", "claim-addresses", "web", "--force")
    assert forced.returncode == 0, forced.stderr


def test_an_unknown_group_is_a_usage_error(site):
    result = hook(site, "serverA", "start-jails", "mail")
    assert result.returncode == 64 and "no group 'mail'" in result.stderr


def test_devd_action_starts_a_detached_worker_that_brings_the_group_up(site):
    assert hook(site, "serverB", "demote-storage", "web").returncode == 0       # serverB exports its disk
    # exactly what devd runs, through sh -c, with the event's variables
    command = f"{sys.executable} {os.path.join(ROOT, 'hooks', 'carp-event')} 1@em0 MASTER"
    started = time.monotonic()
    result = subprocess.run(["/bin/sh", "-c", command], env=env_for(site, "serverA"), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 5, "devd must not wait for the worker"
    _, config = site["files"]["serverA"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        a = load(site)["serverA"]
        mirror = a.mirrors.get("data")
        if sorted(a.jails) == ["db", "www"] and mirror and len(mirror.components) == 2 \
                and not lock.is_held(config.paths.run_dir, "worker"):
            break
        time.sleep(0.5)
    a = load(site)["serverA"]
    assert sorted(a.jails) == ["db", "www"]
    assert any(m["mountpoint"] == "/data" for m in a.mounts)
    assert sorted(c.prov for c in a.mirrors["data"].components) == ["ada1", "ggate0"]
    journal = open(os.path.join(config.paths.state_dir, "journal", "1@em0.jsonl")).read()
    assert '"kind": "event"' in journal and '"decided": "MASTER"' in journal and '"result": "ok"' in journal


def carpha_cli(site, node, *args):
    return subprocess.run([sys.executable, "-m", "carpha", *args], env=env_for(site, node),
                          capture_output=True, text=True, timeout=120)


def test_takeover_dry_run_prints_the_whole_plan_in_order_and_changes_nothing(site):
    before = open(os.path.join(site["sim"], "cluster.json")).read()
    result = carpha_cli(site, "serverB", "takeover", "web", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "# serverB: takeover web (planned from what serverB shows now)"
    _, config = site["files"]["serverB"]
    assert [l for l in lines[1:] if not l.startswith("would write:")] == [
        "would run: ifconfig em0 vhid 1 state master",
        f"would run: kldload -n geom_mirror",
        "would run: gmirror forget data",
        "would run: fsck -p -t ufs /dev/mirror/data",
        "would run: mount -t ufs -o noatime /dev/mirror/data /data",
        "would run: ifconfig em0 inet 192.0.2.10/24 alias",
        "would run: ifconfig em0 inet6 2001:db8::10 prefixlen 64 alias",
        "would run: carpha-garp -c 5 -r 5 -i 5 -m 58:9c:fc:00:00:02 em0 192.0.2.10 2001:db8::10",
        "would run: service jail onestart www",
        "would run: service jail onestart db",
    ]
    assert open(os.path.join(site["sim"], "cluster.json")).read() == before


def test_release_dry_run_lets_go_first_then_hands_carp_over(site):
    assert carpha_cli(site, "serverA", "reconcile").returncode == 0          # serverA serves
    result = carpha_cli(site, "serverA", "release", "web", "--dry-run")
    assert result.returncode == 0, result.stderr
    runs = [l[len("would run: "):] for l in result.stdout.splitlines() if l.startswith("would run: ")]
    assert runs[:5] == ["service jail onestop db", "service jail onestop www",
                        "ifconfig em0 inet 192.0.2.10 -alias", "ifconfig em0 inet6 2001:db8::10 -alias",
                        "umount /data"]
    assert runs[-2:] == ["ifconfig em0 vhid 1 advskew 240", "ifconfig em0 vhid 1 state backup"]
    assert "gmirror stop data" in runs and runs.index("gmirror stop data") < runs.index("kldunload geom_mirror")


def test_an_event_for_a_vhid_no_group_uses_is_journaled_then_ignored(site):
    env = env_for(site, "serverA")
    held = lock.Lock(env["CARPHA_RUN_DIR"], "worker").acquire()      # journal only, no spawn
    try:
        result = subprocess.run([sys.executable, os.path.join(ROOT, "hooks", "carp-event"), "7@em0", "MASTER"],
                                env=env, capture_output=True, text=True, timeout=30)
    finally:
        held.release()
    assert result.returncode == 0
    reconcile = carpha_cli(site, "serverA", "-v", "reconcile")
    assert reconcile.returncode == 0, reconcile.stderr
    from carpha.store import journal
    records = journal.read(env["CARPHA_STATE_DIR"], "7@em0")
    assert [r["kind"] for r in records] == ["event", "run"]
    assert records[1]["note"] == "no group uses this vhid" and records[1]["handled_seq"] == 1
    from carpha.engine.worker import pending_bindings
    assert "7@em0" not in pending_bindings(env["CARPHA_STATE_DIR"])


@pytest.mark.parametrize("args", [[], ["em0"], ["em0;x", "1"], ["em0", "0"], ["em0", "256"], ["0em", "1"]])
def test_carp_is_master_refuses_bad_arguments(args):
    result = subprocess.run(["/bin/sh", os.path.join(ROOT, "hooks", "carp-is-master"), *args],
                            capture_output=True, text=True, timeout=10)
    assert result.returncode == 64


def test_status_reports_what_the_node_serves_through_carphas_parsers(site):
    import json
    assert carpha_cli(site, "serverB", "action", "demote-storage", "web").returncode == 0
    assert carpha_cli(site, "serverA", "reconcile").returncode == 0
    result = carpha_cli(site, "serverA", "status", "--json")
    report = json.loads(result.stdout)
    # Not all is well (exit 1): the resync, and witness kind none.
    assert result.returncode == 1 and report["check"] == "WARNING", result.stderr
    assert "WARNING: witness.kind none: two masters are possible" in report["problems"]
    web = report["groups"]["web"]
    assert web["carp"] == "MASTER" and web["jails"] == ["db", "www"] and web["mounts"] == ["/data"]
    assert web["addresses"] == ["192.0.2.10", "2001:db8::10"]
    assert web["mirror"]["name"] == "data" and {c["name"] for c in web["mirror"]["components"]} == {"ada1", "ggate0"}
    assert web["demotion_held"] is None
    text = carpha_cli(site, "serverB", "status").stdout
    assert "group web: CARP BACKUP" in text and "storage:   not running" in text and "jails:     none" in text
    assert "demotion:" not in text


def test_status_shows_a_demotion_hold(site):
    from carpha.safety import maintenance
    maintenance.set_hold(site["files"]["serverB"][1].paths.state_dir, "fenced: test")
    text = carpha_cli(site, "serverB", "status").stdout
    assert "    demotion:  held: fenced: test" in text


def test_boot_hold_raises_the_demotion_once_per_boot_and_holds_it(site):
    from carpha.safety import maintenance
    dry = carpha_cli(site, "serverA", "boot-hold", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would run: sysctl net.inet.carp.demotion=240" in dry.stdout
    assert load(site)["serverA"].sysctl["net.inet.carp.demotion"] == 0
    for _ in range(2):                       # rc.d runs it once; a second run changes nothing
        result = carpha_cli(site, "serverA", "boot-hold")
        assert result.returncode == 0, result.stderr
    assert load(site)["serverA"].sysctl["net.inet.carp.demotion"] == 240
    record = maintenance.read(site["files"]["serverA"][1].paths.state_dir)
    assert record.demotion == 240 and record.hold.startswith("booted")
