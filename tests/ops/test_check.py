"""`carpha check` (a Nagios/Icinga plugin), `carpha status` and the survey
behind both, against the simulated hosts."""

import io
import re

import pytest

from carpha.ops import check, statusview
from carpha.engine import worker
from carpha.config import loads
from carpha.ops.survey import survey_group
from opsworld import served  # noqa: F401  (the fixture)
from simworld import EXAMPLE, LOG, World

# monitoring-plugins "Plugin Output": SERVICE STATUS: text, then ` | ` and
# 'label'=value[UOM];[warn];[crit];[min];[max] items (labels without ' or =).
PERF = r"'[^'= ]+'=-?[0-9.]+(%|s)?(;-?[0-9.]*){0,4}"
FIRST_LINE = re.compile(rf"^CARPHA (OK|WARNING|CRITICAL|UNKNOWN): [^|\n]+( \| {PERF}( {PERF})*)?$")


def evaluate(w, node="serverA", **ctx_options):
    return check.evaluate(w.configs[node], w.ctx(node, **ctx_options).runner, LOG)


def levels(result):
    return sorted((f["level"], f["text"]) for f in result["findings"] if f["level"] != check.OK)


def test_a_healthy_pair_has_only_the_no_witness_warning_and_prints_plugin_output(served):
    for node in ("serverA", "serverB"):
        result = evaluate(served, node)
        assert levels(result) == [(check.WARNING, "witness.kind none: two masters are possible")]
        out = check.plugin_output(result)
        assert FIRST_LINE.match(out.splitlines()[0]), out
    master = check.plugin_output(evaluate(served))
    assert "'web_resync'=100%;;;0;100" in master.splitlines()[0]
    assert "OK: web: serving: mirror/data COMPLETE" in master


def test_a_stopped_jail_on_the_master_is_critical_and_repair_restarts_it_and_says_so(served):
    served.cluster["serverA"].run("service", "jail", "onestop", "www")
    result = evaluate(served)
    assert result["status"] == check.CRITICAL
    assert (check.CRITICAL, "CARP MASTER but jail www not running") in levels(result)
    config = served.configs["serverA"]
    repaired = check.repair(config, lambda: served.ctx("serverA").runner, LOG)
    assert "web: service jail onestart www" in repaired
    assert "www" in served.cluster["serverA"].jails
    assert evaluate(served)["status"] == check.WARNING            # the witness warning only


def test_an_address_left_on_the_backup_is_critical(served):
    served.cluster["serverB"].run("ifconfig", "em0", "inet", "192.0.2.10/24", "alias")
    result = evaluate(served, "serverB")
    assert (check.CRITICAL, "CARP BACKUP but holds address 192.0.2.10") in levels(result)


def test_a_resync_is_a_warning_with_its_percent_in_perfdata_and_a_status_progress_bar(tmp_path):
    w = World(tmp_path)
    for _ in range(2):
        for node in ("serverA", "serverB"):
            worker.reconcile(w.configs[node], node, lambda node=node: w.ctx(node).runner, LOG)
    w.cluster.advance(1)
    result = evaluate(w)
    resync = [t for lvl, t in levels(result) if "resynchronising" in t]
    percent = result["groups"]["web"]["mirror"]["resync_percent"]
    assert resync and 0 <= percent < 100 and f"{percent}%" in resync[0]
    assert f"'web_resync'={percent}%;;;0;100" in result["perfdata"]
    report = statusview.status_report(w.configs["serverA"], w.ctx().runner, LOG)
    text = statusview.format_status("serverA", report["groups"])
    assert f"] {percent}%" in text and "resync [" in text and report["check"] == "WARNING"
    w.close()


def test_a_failing_probe_is_unknown_in_its_own_cell_and_the_rest_is_still_judged(served):
    result = evaluate(served, fail={("gmirror", "list")})
    texts = levels(result)
    assert any(lvl == check.UNKNOWN and t.startswith("cannot read mirror: gmirror list: exit 1") for lvl, t in texts)
    assert result["groups"]["web"]["carp"] == "MASTER"
    report = statusview.status_report(served.configs["serverA"], served.ctx(fail={("gmirror", "list")}).runner, LOG)
    text = statusview.format_status("serverA", report["groups"])
    assert "    storage:   error: gmirror list: exit 1" in text
    assert "    jails:     db, www" in text


def test_split_brain_marks_are_critical_whatever_else_is_fine():
    group = loads(EXAMPLE, "x", node="serverB").groups["web"]
    seen = {"carp": "BACKUP", "addresses": [], "mounts": [], "jails": [], "services": {}, "peer": "serverA",
            "exported": None, "state": {"role": "BACKUP"}, "split_brain": "generation 2: both promoted web"}
    assert check.judge_group(group, seen) == [
        check.Finding(check.CRITICAL, "web", "split brain: generation 2: both promoted web")]
    assert check.judge_group(group, {**seen, "split_brain": None})[0].level == check.OK


def test_rc_conf_that_would_start_a_managed_jail_or_address_at_boot_is_critical(served):
    host = served.cluster["serverB"]
    host.rc_conf["jail_list"] = "other www"
    host.rc_conf["ifconfig_em0_alias1"] = "inet 192.0.2.10/24"
    texts = levels(evaluate(served, "serverB"))
    assert (check.CRITICAL, "rc.conf jail_list starts managed jail(s) at boot: www") in texts
    assert (check.CRITICAL, "rc.conf configures a managed address: ifconfig_em0_alias1: 192.0.2.10") in texts
    host.loader.discard("carp")
    assert any("carp_load" in t for _, t in levels(evaluate(served, "serverB")))


def test_the_backup_exports_its_disk_to_the_peer_only(served):
    seen = survey_group(served.ctx("serverB"))
    assert seen["exported"]["running"] and seen["exported"]["exports"] == seen["exported"]["expected"]
    served.cluster["serverB"].run("pkill", "ggated")
    assert (check.WARNING, "/dev/ada1 is not exported to the peer (ggated not running)") in \
        levels(evaluate(served, "serverB"))


def test_status_shows_the_last_takeover_the_export_and_exits_1_unless_all_is_well(served, monkeypatch):
    from carpha.cli import status as cli_status
    report = statusview.status_report(served.configs["serverB"], served.ctx("serverB").runner, LOG)
    text = statusview.format_status("serverB", report["groups"])
    assert "    exported:  /dev/ada1 exported by ggated on port 3080 (peer only)" in text
    master = statusview.format_status("serverA", statusview.status_report(
        served.configs["serverA"], served.ctx().runner, LOG)["groups"])
    assert re.search(r"    takeover:  \S+ \S+ UTC \(.* ago.*\): cron found CARP MASTER", master), master

    # --watch redraws a bounded number of times, on carpha's clock
    monkeypatch.setattr(cli_status, "setup", lambda args: (served.configs["serverA"], LOG))
    monkeypatch.setattr(cli_status, "make_runner", lambda config, logger, dry_run=False: served.ctx().runner)
    sleeps = []
    monkeypatch.setattr(cli_status.clock, "sleep", sleeps.append)
    args = type("A", (), {"cluster": False, "json": False, "watch": True, "interval": 0.5, "count": 3})()
    out = io.StringIO()
    assert cli_status.cmd_status(args, out) == 1                      # witness none: not all is well
    assert out.getvalue().count("\x1b[H\x1b[2J") == 3 and sleeps == [0.5, 0.5]


def test_a_jail_conf_entry_with_an_interface_prefix_is_critical(served, tmp_path):
    import dataclasses
    conf = tmp_path / "jail.conf"
    conf.write_text('# www owns its alias\nwww {\n  path = "/data/jails/www";\n'
                    '  ip4.addr = "em0|192.0.2.10/24";  // jail(8) adds it\n}\n'
                    'other { ip4.addr = "em0|192.0.2.99"; }\n'
                    'db { /* fine: */ ip4.addr = 192.0.2.10; }\n')
    config = served.configs["serverB"]
    served.configs["serverB"] = dataclasses.replace(
        config, paths=dataclasses.replace(config.paths, jail_conf=str(conf)))
    texts = levels(evaluate(served, "serverB"))
    assert [t for lvl, t in texts if t.startswith("jail.conf")] == [
        'jail.conf: www: ip4.addr = "em0|192.0.2.10/24": jail(8) adds and removes this address itself '
        '(drop the interface| prefix: carpha owns the alias)']


def test_a_ggate_unit_reaching_elsewhere_or_with_a_timeout_is_a_warning(served):
    host = served.cluster["serverA"]
    device = host.ggate[0]
    device.timeout, device.port = 5, 3999
    texts = levels(evaluate(served))
    assert (check.WARNING, "ggate0 has timeout 5, not 0") in texts
    assert (check.WARNING, "ggate0 reaches 192.0.2.2:3999 /dev/ada1, not 192.0.2.2:3080 /dev/ada1") in texts


def test_repair_dry_run_prints_the_plan_and_changes_nothing(served):
    served.cluster["serverA"].run("service", "jail", "onestop", "db")
    printed = check.plan_repair(served.configs["serverA"], served.ctx(dry_run=True).runner, LOG)
    assert "# web: toward MASTER" in printed and "would run: service jail onestart db" in printed
    assert "db" not in served.cluster["serverA"].jails


def test_status_cluster_shows_both_nodes_from_their_witness_records(tmp_path):
    import dataclasses
    from carpha.safety import witness
    config = loads(open(__import__("simworld").os.path.join(
        __import__("conftest").ROOT, "examples", "three-servers.yaml")).read(), "x", node="serverA")
    config = dataclasses.replace(config, witness=dataclasses.replace(config.witness, path=str(tmp_path)))
    witness.write_record(str(tmp_path), witness.Record("serverA", 41, {
        "web": witness.GroupStatus(serving=True, generation=3, replica_in_sync=True)}))
    view = statusview.cluster_view(config)
    assert statusview.format_cluster(config, view).splitlines() == [
        "group       serverA                     serverB",
        "web         SERVING gen 3               no record",
        "counter     41                          -"]


@pytest.mark.parametrize("carp, level", [("BACKUP", check.WARNING), ("MASTER", check.CRITICAL)])
def test_an_unreadable_peer_record_is_served_nowhere_only_when_carp_says_no_peer_advertises(carp, level):
    from simworld import EXAMPLE_WITH_WITNESS
    config = loads(EXAMPLE_WITH_WITNESS, "x", node="serverB")
    seen = {"carp": carp, "addresses": [], "mounts": [], "jails": [], "state": {"role": "BACKUP"}}
    w = {"kind": "lease", "view": True, "fresh": True, "view_age": 0.5, "own_ok": False,
         "own_error": "[Errno 2] No such file or directory", "own_age": 40.0, "peer": "serverA",
         "peer_silent": 40.0, "peer_error": "no record /mnt/carpha-witness/serverA.json", "peer_groups": {}}
    found = [f for f in check._judge_witness(config, w, {"web": seen}) if f.group == "web"]
    assert [f.level for f in found] == [level]
    if level == check.WARNING:
        assert found[0].text.startswith("not served here, and serverA's record cannot be read (no record ")
    else:
        assert found[0].text == "served nowhere: not here, and serverA: its record has been silent 40.0 s"
