"""carpha log, run-if-master, copy/excludes, notify hooks and the command
line, against the simulated hosts."""

import io
import logging
import os
import subprocess
import sys

import pytest

from carpha.store import journal
from carpha.ops import jailcopy, logview, servedhere
from carpha.engine import notify, worker
from carpha.rehearsal import simulate
from carpha.config import ConfigError, loads
from conftest import LIB
from opsworld import served  # noqa: F401  (the fixture)
from simworld import EXAMPLE, LOG, World


# --- carpha log --------------------------------------------------------------

def test_log_shows_events_decisions_commands_outcomes_and_folds_quiet_passes():
    records = [
        {"seq": 1, "time": 0.0, "kind": "event", "type": "MASTER", "subsystem": "1@em0", "source": "devd"},
        {"seq": 2, "time": 1.0, "kind": "run", "decided": "MASTER", "result": "ok", "duration": 2.5,
         "observed": {"carp": "MASTER", "events": ["MASTER"]}, "did": ["mount /dev/mirror/data /data"]},
        {"seq": 3, "time": 60.0, "kind": "run", "decided": "MASTER", "result": "ok", "did": [],
         "observed": {"carp": "MASTER", "events": []}},
        {"seq": 4, "time": 120.0, "kind": "run", "decided": "MASTER", "result": "ok", "did": [],
         "observed": {"carp": "MASTER", "events": []}},
        {"seq": 5, "time": 130.0, "kind": "run", "decided": "MASTER", "result": "held",
         "reason": "maintenance mode", "observed": {"carp": "MASTER", "events": []}},
    ]
    assert logview.timeline(records, "web") == [
        "1970-01-01 00:00:00  web  event     CARP MASTER on 1@em0 (devd)",
        "1970-01-01 00:00:01  web  decision  MASTER (CARP MASTER, events MASTER): ok in 2.50 s",
        "                                    ran: mount /dev/mirror/data /data",
        "1970-01-01 00:01:00 .. 00:02:00  web  2 quiet pass(es): nothing to do",
        "1970-01-01 00:02:10  web  decision  MASTER (CARP MASTER): held",
        "                                    why: maintenance mode",
    ]


def test_since_takes_a_date_or_an_age_and_refuses_anything_else():
    assert logview.parse_since("2026-12-01", 0) == 1796083200.0
    assert logview.parse_since("2026-12-01T10:00Z", 0) == 1796083200.0 + 36000
    assert logview.parse_since("2h", 10000.0) == 10000.0 - 7200
    with pytest.raises(Exception, match="not a time"):
        logview.parse_since("yesterday", 0)


def test_the_journal_keeps_every_generation_compressed_and_stays_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(journal, "MAX_BYTES", 4096)
    monkeypatch.setattr(journal, "GENERATIONS", 4)
    for i in range(400):
        journal.append(str(tmp_path), "1@em0", {"kind": "run", "decided": "BACKUP", "result": "ok", "n": i})
    names = sorted(os.listdir(journal.journal_dir(str(tmp_path))))
    assert names == ["1@em0.jsonl", "1@em0.jsonl.1", "1@em0.jsonl.2.gz", "1@em0.jsonl.3.gz",
                     "1@em0.jsonl.4.gz", "1@em0.jsonl.lock"]
    kept = journal.history(str(tmp_path), "1@em0")
    seqs = [r["seq"] for r in kept]
    assert seqs == list(range(seqs[0], 401)) and seqs[0] > 1        # the oldest generation dropped
    assert [r["seq"] for r in journal.read(str(tmp_path), "1@em0")][-1] == 400
    assert len(journal.read(str(tmp_path), "1@em0")) < len(kept)    # the worker reads the recent part only


# --- run-if-master --------------------------------------------------------------

def test_run_if_master_runs_on_the_serving_node_only_and_passes_the_status_through(served):
    a, b = served.ctx("serverA"), served.ctx("serverB")
    out = io.StringIO()
    assert servedhere.run_if_master(b, ["false"], 10, out=out) == 0 and out.getvalue() == ""
    assert servedhere.not_served_because(b.group, __import__("carpha.ops.survey").ops.survey.survey_group(b)) == \
        "CARP is BACKUP"
    # The simulated host has no `false`: the runner reports it missing, a typed error.
    with pytest.raises(Exception, match="not found|false"):
        servedhere.run_if_master(a, ["false"], 10)
    # CARP MASTER is not enough: with /data unmounted it does not serve.
    served.cluster["serverA"].run("service", "jail", "onestop", "www")
    assert servedhere.not_served_because(a.group, __import__("carpha.ops.survey").ops.survey.survey_group(a)) == \
        "jail www not running"


def test_run_if_master_dry_run_says_why_not(served):
    out = io.StringIO()
    ctx = served.ctx("serverB", dry_run=True)
    assert servedhere.run_if_master(ctx, ["rsync", "-a", "/data/", "nas:/backup/"], 10, out=out) == 0
    assert out.getvalue() == "web: would not run: CARP is BACKUP\n"


# --- copy / excludes ------------------------------------------------------------

def test_excludes_list_the_fixed_paths_and_every_mount_found_under_a_jail_root(served):
    host = served.cluster["serverA"]
    # As jail(8)'s mount.devfs and an fstab tmpfs leave them (mount -p shows both)
    host.mounts.append({"device": "devfs", "prov": None, "mountpoint": "/data/jails/www/dev", "fstype": "devfs",
                        "opts": []})
    host.mounts.append({"device": "tmpfs", "prov": None, "mountpoint": "/data/jails/db/tmp", "fstype": "tmpfs",
                        "opts": []})
    ctx = served.ctx("serverA")
    from carpha.host.observe import get_mounts
    found = jailcopy.excludes(ctx, get_mounts(ctx))
    assert "/data/jails/db/tmp" in found and "/data/jails/www/dev" in found
    for jail in ("www", "db"):
        for rel in ("proc", "dev", "var/run/log", "var/run/logpriv"):
            assert f"/data/jails/{jail}/{rel}" in found
    assert jailcopy.rsync_argv("/data/jails/db", "nas:/backup", "db", found) == (
        "rsync", "-aHAX", "--numeric-ids", "--delete-after", "-e", "ssh", "--exclude=/dev",
        "--exclude=/proc", "--exclude=/tmp", "--exclude=/var/run/log", "--exclude=/var/run/logpriv",
        "/data/jails/db/", "nas:/backup/db/")
    assert "-e" not in jailcopy.rsync_argv("/data/jails/db", "/mnt/usb", "db", found)


def test_copy_dry_run_prints_one_rsync_per_jail_and_refuses_on_the_standby(served):
    printed = []
    ctx = served.ctx("serverA", dry_run=True)
    ctx.runner.echo = printed.append
    assert jailcopy.copy(ctx, "/mnt/usb", 60) == 0
    assert [line.split()[-1] for line in printed] == ["/mnt/usb/www/", "/mnt/usb/db/"]
    assert all(line.startswith("would run: rsync -aHAX") for line in printed)
    with pytest.raises(Exception, match="serverB does not serve it"):
        jailcopy.copy(served.ctx("serverB", dry_run=True), "/mnt/usb", 60)


# --- notify hooks ----------------------------------------------------------------

HOOKS = "hooks:\n  on_promote: [/usr/local/bin/alert, --to, ops]\n  timeout_seconds: 5\n"


def test_hooks_are_argv_lists_validated_strictly():
    config = loads(HOOKS + EXAMPLE, "carpha.yaml", node="serverA")
    assert config.hooks.on_promote == ("/usr/local/bin/alert", "--to", "ops")
    assert notify.argv_for(config, "on_promote", "web", "serverA", "CARP\nMASTER") == (
        "/usr/local/bin/alert", "--to", "ops", "promote", "web", "serverA", "CARP MASTER")
    assert notify.argv_for(config, "on_fence", "web", "serverA", "x") is None
    for bad, why in (("on_demote: alert.sh", "expected a list"),
                     ("on_demote: [alert.sh]", "is not an absolute path"),
                     ("on_demote: []", "got an empty list"),
                     ("on_typo: [/bin/x]", "on_typo")):
        with pytest.raises(ConfigError, match=why):
            loads(f"hooks:\n  {bad}\n" + EXAMPLE, "carpha.yaml", node="serverA")


def test_a_failing_promote_hook_is_logged_and_changes_nothing_of_the_promotion(tmp_path, caplog):
    w = World(tmp_path, text=HOOKS + EXAMPLE)
    ran = []
    ctx = w.ctx("serverA")
    real = ctx.runner.change

    def change(argv, *, timeout, check=True):
        ran.append((tuple(argv), timeout))
        return real(argv, timeout=timeout, check=check)
    with caplog.at_level(logging.WARNING, logger="carpha.tests"):
        results = worker.reconcile(w.configs["serverA"], "serverA",
                                   lambda: _with(w.ctx("serverA").runner, change), LOG)
    assert results["web"].role == "MASTER" and not results["web"].error
    assert "www" in w.cluster["serverA"].jails
    hook = [(argv, t) for argv, t in ran if argv[0] == "/usr/local/bin/alert"]
    assert hook == [(("/usr/local/bin/alert", "--to", "ops", "promote", "web", "serverA", "CARP MASTER"), 5.0)]
    assert any("hooks.on_promote" in r.message and "the promote stands" in r.message for r in caplog.records)
    w.close()


def _with(runner, change):
    runner.change = change
    return runner


REFUSAL_HOOKS = "hooks:\n  on_refusal: [/usr/local/bin/alert, --to, ops]\n  timeout_seconds: 5\n"
# serverA serves web, then dies; serverB's view of its record (silent
# 100 s: it is down) says serverB's half was out of sync since generation 2.
STALE = {"serving": True, "released": False, "generation": 3, "replica_in_sync": False,
         "out_of_sync_since_generation": 2}
IN_SYNC = {"serving": True, "released": False, "generation": 3, "replica_in_sync": True}


@pytest.fixture
def refusing(tmp_path):
    """serverB CARP MASTER with serverA dead (lease witness on a scratch
    share), and every command serverB's worker runs, in `ran`."""
    from simworld import EXAMPLE_WITH_WITNESS
    share = tmp_path / "share"
    share.mkdir()
    w = World(tmp_path / "w", text=REFUSAL_HOOKS + EXAMPLE_WITH_WITNESS.replace("/mnt/carpha-witness", str(share)))
    w.cluster.crash("serverA")
    w.cluster.advance(10)
    assert w.cluster["serverB"].carp_state(1, "em0") == "MASTER"
    w.ran = []

    def reconcile():
        def factory():
            runner = w.ctx("serverB").runner
            real = runner.change

            def change(argv, *, timeout, check=True):
                w.ran.append((tuple(argv), timeout))
                return real(argv, timeout=timeout, check=check)
            return _with(runner, change)
        return worker.reconcile(w.configs["serverB"], "serverB", factory, LOG)["web"]
    w.reconcile = reconcile
    yield w
    w.close()


def hooks_run(w):
    return [argv for argv, _ in w.ran if argv[0] == "/usr/local/bin/alert"]


DEAD = {"peer_silent_for": 100, "peer_reachable": False}


@pytest.mark.parametrize("peer, view, why", [
    (STALE, DEAD, "our replica is out of date: serverA recorded it out of sync since generation 2"),
    (IN_SYNC, {**DEAD, "own_ok": False}, "witness unreachable: cannot write our record"),
    (IN_SYNC, {"peer_silent_for": 100}, "witness: serverA's record has not advanced for 100.0 s, but serverA "
                                        "answers ping: not taking over from a live peer"),
])
def test_a_refused_promotion_runs_on_refusal_with_the_group_node_and_reason(refusing, peer, view, why):
    from simworld import view_with
    view_with(refusing.configs["serverB"].paths.run_dir, {"web": peer}, **view)
    result = refusing.reconcile()
    assert result.role == "MASTER" and result.error.startswith(why) and result.exit_code == 69
    assert not refusing.cluster["serverB"].jails
    assert not any(m["mountpoint"] == "/data" for m in refusing.cluster["serverB"].mounts)
    # argv as README and carpha.yaml(5) say: the configured list, then
    # EVENT GROUP NODE DETAIL (the refusal's reason on one line)
    assert hooks_run(refusing) == [("/usr/local/bin/alert", "--to", "ops", "refusal", "web", "serverB",
                                    " ".join(result.error.split())[:500])]
    assert [t for argv, t in refusing.ran if argv[0] == "/usr/local/bin/alert"] == [5.0]


def test_on_refusal_runs_once_while_the_refusals_go_on_and_again_after_another_run(refusing):
    from carpha.safety import maintenance
    from simworld import view_with
    run_dir, state_dir = refusing.configs["serverB"].paths.run_dir, refusing.configs["serverB"].paths.state_dir
    view_with(run_dir, {"web": STALE}, **DEAD)
    refusing.reconcile()
    view_with(run_dir, {"web": STALE}, **DEAD)
    again = refusing.reconcile()                        # cron, a minute later: still refused
    assert again.error.startswith("our replica is out of date") and len(hooks_run(refusing)) == 1
    maintenance.enable(state_dir, "looking into it", 600, now=refusing.cluster.clock.now())
    assert "looking into it" in refusing.reconcile().error      # held, not refused: no hook
    maintenance.disable(state_dir)
    view_with(run_dir, {"web": STALE}, **DEAD)
    refusing.reconcile()
    assert len(hooks_run(refusing)) == 2


# --- the command line -------------------------------------------------------------

def carpha(*args, env=None):
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "CARPHA_NO_SYSLOG": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "carpha.cli.main", *args], env=full_env, capture_output=True,
                          text=True, timeout=60)


def test_version_and_config_before_or_after_the_subcommand(tmp_path):
    from carpha import __version__
    assert carpha("--version").stdout == f"carpha {__version__}\n"
    missing = str(tmp_path / "nope.yaml")
    for argv in (("-c", missing, "config", "check"), ("config", "check", "-c", missing),
                 ("status", "-c", missing), ("-c", missing, "log")):
        result = carpha(*argv)
        assert result.returncode == 78 and missing in result.stderr, argv


def test_check_with_an_unreadable_config_is_unknown_exit_3(tmp_path):
    result = carpha("check", "-c", str(tmp_path / "nope.yaml"))
    assert result.returncode == 3 and result.stdout.startswith("CARPHA UNKNOWN: ")
    assert result.stdout.count("\n") == 1


# --- the scenario --------------------------------------------------------------

def test_check_codes_ok_healthy_warning_degraded_critical_when_served_nowhere():
    v = simulate.run_scenario("check-codes", node="serverB")
    assert simulate.passed(v), simulate.format_timeline(v)
    codes = {s["stage"]: s["codes"] for s in v["check_codes"]}
    assert codes["healthy"] == {"serverA": 0, "serverB": 0}
    assert codes["standby down"] == {"serverA": 1}
    assert codes["master down, standby cut off the witness"] == {"serverB": 2}
    text = simulate.format_timeline(v)
    assert "  check at standby down: serverA exit 1" in text
    assert "served nowhere: not here, and serverA" in v["seen_from"]["check"]
    assert "  accepted_losses: 0" in text and "  failed_commands: " in text


def test_simulate_rehearses_every_group_of_the_config(tmp_path):
    config = tmp_path / "two.yaml"
    config.write_text(open(os.path.join(os.path.dirname(LIB), "tests", "fixtures", "two-groups.yaml")).read())
    config.chmod(0o600)
    result = carpha("simulate", "-c", str(config), "--scenario", "master-crash", env={"PATH": os.environ["PATH"]})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    heads = [line for line in result.stdout.splitlines() if line.startswith(("scenario ", "verdict: "))]
    assert heads == ["scenario master-crash (seed 1, group web)",
                     "verdict: PASS (replay: carpha simulate --scenario master-crash --seed 1 --group web)",
                     "scenario master-crash (seed 1, group mail)",
                     "verdict: PASS (replay: carpha simulate --scenario master-crash --seed 1 --group mail)"]
    assert "serverA  run      ifconfig em0 inet 192.0.2.20/24 alias" in result.stdout


def test_the_fence_hook_runs_after_the_fence_with_its_reason(tmp_path):
    from carpha.engine import fence
    w = World(tmp_path, text="hooks:\n  on_fence: [/usr/local/bin/alert]\n" + EXAMPLE)
    worker.reconcile(w.configs["serverA"], "serverA", lambda: w.ctx("serverA").runner, LOG)
    ran = []
    runner = w.ctx("serverA").runner
    real = runner.change

    def change(argv, *, timeout, check=True):
        ran.append(tuple(argv))
        return real(argv, timeout=timeout, check=check)
    fence.fence(w.configs["serverA"], "serverA", ["web"], _with(runner, change), LOG, reason="witness lost",
                boot="boot-1")
    assert "www" not in w.cluster["serverA"].jails                       # the fence itself ran
    assert ran[-1] == ("/usr/local/bin/alert", "fence", "web", "serverA", "witness lost")
    w.close()
