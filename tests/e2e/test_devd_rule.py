"""The shipped devd rule, applied the way devd applies it, and its action
run through /bin/sh -c exactly as devd would (both quoting behaviours)."""

import os
import subprocess
import sys

import pytest

from carpha.sim import devdconf
from carpha.store import journal
from carpha.freebsd import parse_text
from conftest import LIB, ROOT, SAMPLES

RULES = devdconf.parse(open(os.path.join(ROOT, "devd", "carpha.conf")).read())
# carp(4)'s documented example and base autofs.conf's catch-all GEOM rule.
BASE = devdconf.parse('''
notify 0 { match "system" "CARP"; match "subsystem" "[0-9]+@[0-9a-z]+"; match "type" "(MASTER|BACKUP)";
           action "/root/carpcontrol.sh $subsystem $type"; };
notify 100 { match "system" "GEOM"; match "subsystem" "DEV"; action "/usr/sbin/automount -c"; };
''')


def event(line):
    return parse_text("devd-event", line)


@pytest.mark.parametrize("line", ["!system=CARP subsystem=1@em0 type=MASTER",
                                  "!system=CARP subsystem=1@em0 type=BACKUP",
                                  "!system=CARP subsystem=12@em0.100 type=INIT",
                                  "!system=CARP subsystem=3@igb_1 type=MASTER"])
def test_our_rule_wins_over_base_rules_for_every_carp_event(line):
    chosen = devdconf.select(BASE + RULES, event(line))
    assert chosen is not None and chosen.action.startswith("/usr/local/libexec/carpha/carp-event ")


def test_our_rule_ignores_other_systems():
    assert devdconf.select(RULES, event("!system=IFNET subsystem=em0 type=LINK_UP")) is None
    assert devdconf.select(RULES, event("!system=CARP subsystem=1@em0 type=BOGUS")) is None


def test_the_action_uses_an_absolute_path_and_bare_variables():
    action = RULES[0].action
    assert action == "/usr/local/libexec/carpha/carp-event $subsystem $type"


def test_expansion_matches_devd_debug_output_in_the_shared_sample():
    # devd -d sample: Executing 'sleep 2 && /usr/local/bin/scripts/automount.sh $'gpt/rt2AC69''
    sample = open(os.path.join(SAMPLES, "devd", "dtxdf-devd-debug-geom-create-automount.txt")).read()
    expected = next(l for l in sample.splitlines() if l.startswith("Executing"))
    vars_ = event("!system=GEOM subsystem=DEV type=CREATE cdev=gpt/rt2AC69")
    got = devdconf.expand("sleep 2 && /usr/local/bin/scripts/automount.sh $cdev", vars_)
    assert f"Executing '{got}'" == expected


def run_like_devd(tmp_path, rule, line, quote):
    """The rule's action for the event `line`, expanded as devd does and run
    through sh -c with devd's PATH; returns the state dir it journaled in."""
    from carpha.store import lock
    command = devdconf.expand(rule.action, event(line), quote=quote)
    command = command.replace("/usr/local/libexec/carpha/", os.path.join(ROOT, "hooks") + "/")
    env = {"PATH": "/sbin:/bin:/usr/sbin:/usr/bin", "PYTHONPATH": LIB,
           "CARPHA_STATE_DIR": str(tmp_path / "db"), "CARPHA_RUN_DIR": str(tmp_path / "run")}
    held = lock.Lock(env["CARPHA_RUN_DIR"], "worker").acquire()   # no worker spawn in this test
    try:
        # the hooks' #! names FreeBSD's python; run the same argv with ours
        # FreeBSD's sh understands devd's $'...' quoting; Debian's dash does
        # not, so bash stands in for it when quoting is on.
        shell = "/bin/bash" if quote else "/bin/sh"
        result = subprocess.run([shell, "-c", f"{sys.executable} {command}"], env=env,
                                capture_output=True, text=True, timeout=30)
    finally:
        held.release()
    assert result.returncode == 0, result.stderr
    return env["CARPHA_STATE_DIR"]


@pytest.mark.parametrize("quote", [True, False])
@pytest.mark.parametrize("etype", ["MASTER", "BACKUP", "INIT"])
def test_the_action_through_sh_c_journals_the_event(tmp_path, quote, etype):
    from carpha.store import lock
    line = f"!system=CARP subsystem=7@em0 type={etype}"
    state_dir = run_like_devd(tmp_path, RULES[0], line, quote)
    assert [r["type"] for r in journal.read(state_dir, "7@em0")] == [etype]


def test_own_quotes_around_variables_would_break_under_newer_devd():
    # why the rule has none: '$subsystem' becomes '$'7@em0'' = literal $7@em0 ... (reference 1.3)
    wrong = devdconf.expand("carp-event '$subsystem' $type", event("!system=CARP subsystem=7@em0 type=MASTER"))
    out = subprocess.run(["/bin/bash", "-c", f"printf '%s\\n' {wrong[len('carp-event '):]}"],
                         capture_output=True, text=True).stdout.split()
    assert out[0] != "7@em0"


# --- the device rule (geom-event) ---------------------------------------------------------

# Base devd files' GEOM and DEVFS rules, parsed before ours as devd parses
# /etc/devd.conf, /etc/devd/*.conf, then /usr/local/etc/devd/*.conf.
BASE_FILES = devdconf.parse(open(os.path.join(ROOT, "tests", "fixtures", "devd", "base-notify-rules.conf")).read())
DEVICE_RULE = next(r for r in RULES if r.action and "geom-event" in r.action)
OURS = ["ggate0", "ggate12", "mirror/data", "mirror/nas"]


@pytest.mark.parametrize("cdev", OURS)
@pytest.mark.parametrize("etype", ["CREATE", "DESTROY"])
def test_our_devices_appearing_or_going_run_geom_event_despite_every_base_rule(cdev, etype):
    chosen = devdconf.select(BASE_FILES + RULES, event(f"!system=DEVFS subsystem=CDEV type={etype} cdev={cdev}"))
    assert chosen is DEVICE_RULE


@pytest.mark.parametrize("cdev", OURS)
def test_the_geom_dev_event_of_our_devices_still_runs_automount(cdev):
    chosen = devdconf.select(BASE_FILES + RULES, event(f"!system=GEOM subsystem=DEV type=CREATE cdev={cdev}"))
    assert chosen.action == "/usr/sbin/automount -c"


@pytest.mark.parametrize("line", [
    "!system=DEVFS subsystem=CDEV type=CREATE cdev=ums0",
    "!system=DEVFS subsystem=CDEV type=DESTROY cdev=ums0",
    "!system=DEVFS subsystem=CDEV type=CREATE cdev=input/event3",
    "!system=DEVFS subsystem=CDEV type=CREATE cdev=ada1",
    "!system=DEVFS subsystem=CDEV type=CREATE cdev=ggate",
    "!system=DEVFS subsystem=CDEV type=CREATE cdev=ggatectl",
    "!system=DEVFS subsystem=CDEV type=CREATE cdev=mirror/",
    "!system=DEVFS subsystem=CDEV type=MEDIACHANGE cdev=ggate0",
    "!system=GEOM subsystem=DEV type=CREATE cdev=ada1p1",
    "!system=GEOM subsystem=DEV type=SIZECHANGE cdev=mirror/data",
    "!system=GEOM subsystem=DEV type=DESTROY cdev=ggate0",
])
def test_every_other_event_runs_what_the_base_rules_alone_would_run(line):
    assert devdconf.select(BASE_FILES + RULES, event(line)) is devdconf.select(BASE_FILES, event(line))


def test_the_device_rule_uses_an_absolute_path_and_bare_variables():
    assert DEVICE_RULE.action == "/usr/local/libexec/carpha/geom-event $type $cdev"
    assert DEVICE_RULE.priority <= 100     # never above a base rule it could shadow


@pytest.mark.parametrize("quote", [True, False])
@pytest.mark.parametrize("line", ["!system=DEVFS subsystem=CDEV type=CREATE cdev=ggate0",
                                  "!system=DEVFS subsystem=CDEV type=DESTROY cdev=mirror/nas"])
def test_the_device_action_through_sh_c_journals_the_event(tmp_path, quote, line):
    from carpha.store import lock
    state_dir = run_like_devd(tmp_path, DEVICE_RULE, line, quote)
    vars_ = event(line)
    assert [(r["type"], r["subsystem"]) for r in journal.read(state_dir, journal.DEVICES)] == \
        [(vars_["type"], vars_["cdev"])]


def test_the_simulated_kernel_sends_what_the_rule_matches():
    # carpha.sim's ggate unit appearing, as ggatec create makes it
    from carpha.sim.host import Host
    host = Host.__new__(Host)
    host.devd_events, host._devd_callbacks = [], []
    host.provider_events("ggate0", "CREATE")
    chosen = [devdconf.select(BASE_FILES + RULES, event(line)) for line in host.devd_events]
    assert [c.action for c in chosen] == [DEVICE_RULE.action, "/usr/sbin/automount -c"]
