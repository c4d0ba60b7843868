"""carpha.config survives anything: a file that is too big, too deep, or
expands through aliases and merge keys is refused in one line; long values
are quoted as an excerpt; values that would break a cluster (a /0 alias, a
network address, the vhid's own address, link-local, a microsecond
heartbeat) are refused; the fencing budget says which knob to turn; and a
fuzz run over generated broken configs never gives a traceback or a hang."""

import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

from carpha import config
from carpha.config import ConfigError, loads
from example_text import EXAMPLE, EXAMPLE_PATH, edited

from conftest import LIB

# Every test here runs on both YAML paths (the yaml_path fixture, tests/conftest.py).
pytestmark = pytest.mark.usefixtures("yaml_path")

LINE = re.compile(r"^carpha\.yaml:\d+: \S")


def problems_of(text, node="serverA"):
    with pytest.raises(ConfigError) as caught:
        loads(text, "carpha.yaml", node=node)
    assert caught.value.exit_code == 78
    return caught.value.problems


def chain_of_merges(depth):
    """Each mapping merges the one before it twice: 2**depth keys when expanded."""
    lines = ["x0: &x0 {a: 1}"]
    for i in range(1, depth):
        lines.append(f"x{i}: &x{i} {{<<: [*x{i - 1}, *x{i - 1}], b{i}: 1}}")
    lines.append(f"nodes: {{<<: [*x{depth - 1}, *x{depth - 1}]}}")
    return "\n".join(lines) + "\n"


# --- limits -------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "nodes: " + "[" * 1000 + "]" * 1000 + "\n",
    "nodes:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 1000)),
    "nodes: " + "{a: " * 1000 + "1" + "}" * 1000 + "\n",
], ids=["flow list", "block mapping", "flow mapping"])
def test_nesting_1000_levels_deep_is_one_line_not_a_recursion_error(text):
    problems = problems_of(text)
    assert len(problems) == 1 and f"refused: nested more than {config.MAX_DEPTH} levels deep" in problems[0]
    assert LINE.match(problems[0])


def test_a_chain_of_merge_keys_is_refused_at_once_instead_of_taking_exponential_time():
    started = time.monotonic()
    problems = problems_of(chain_of_merges(29))
    assert time.monotonic() - started < 2
    assert problems == [f"carpha.yaml:13: refused: more than {config.MAX_EXPANDED_NODES} values once its aliases"
                        f" and merge keys are expanded; write the repeated parts out"]


def test_a_billion_laughs_of_lists_is_refused():
    lines = ["l0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    problems = problems_of("\n".join(lines) + "\nnodes: *l8\n")
    assert len(problems) == 1 and "values once its aliases and merge keys are expanded" in problems[0]


def test_a_long_chain_of_single_merges_is_refused_as_too_deep_not_a_recursion_error():
    lines = ["x0: &x0 {a: 1}"] + [f"x{i}: &x{i} {{<<: *x{i - 1}}}" for i in range(1, 600)]
    problems = problems_of("\n".join(lines) + "\n")
    assert len(problems) == 1 and "levels deep once its aliases and merge keys are expanded" in problems[0]


def test_an_alias_to_the_node_that_contains_it_is_refused():
    assert problems_of("nodes: &n {a: *n}\n") == [
        "carpha.yaml:1: refused: alias *n refers to a node that contains it"]


def test_merge_keys_and_aliases_within_the_limits_still_work():
    text = edited(("  serverB: {address: 192.0.2.2}", "  serverB: &b {address: 192.0.2.2}"),
                  ("    jails: [www, db]", "    jails: &j [www, db]"))
    assert loads(text, "carpha.yaml", node="serverA").groups["web"].jails == ("www", "db")


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "carpha.yaml"
    with open(path, "w") as f:
        f.write(EXAMPLE)
        f.write(("# " + "x" * 78 + "\n") * (config.MAX_CONFIG_BYTES // 80 + 10))
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        config.load(str(path), node="serverA", check_permissions=False)
    assert time.monotonic() - started < 2
    assert caught.value.exit_code == 78
    [message] = caught.value.problems
    assert re.fullmatch(rf"{re.escape(str(path))}:\d+: larger than {config.MAX_CONFIG_BYTES} bytes, the most"
                        r" carpha reads \(a carpha config is a few KB\)", message)
    with pytest.raises(ConfigError):
        loads("#" * (config.MAX_CONFIG_BYTES + 1), "carpha.yaml")


@pytest.mark.parametrize("edit", [
    ("  serverA: {address: 192.0.2.1}", "  serverA: {address: '" + "x" * 900_000 + "'}"),
    ("  serverA: {address: 192.0.2.1}", "  serverA: {address: 192.0.2.1}\n  " + "k" * 900_000 + ": {}"),
    ("    jails: [www, db]", "    jails: [www, '" + "y" * 900_000 + "']"),
    ("      vhid: 1", "      vhid: 0x" + "f" * 900_000),
    ("  # interval_seconds: 2", "  interval_seconds: " + "9" * 5000),
    ("  # interval_seconds: 2", "  interval_seconds: 0x" + "9" * 5000),
    ("node: serverA", "node: *" + "a" * 900_000),
], ids=["value", "key", "list item", "huge hex", "many digits", "huge hex seconds", "alias name"])
def test_a_huge_value_is_quoted_as_a_short_excerpt(edit):
    old, new = edit
    text = EXAMPLE.replace("# " + old.strip(), old.strip()) if old.startswith("node:") else edited(edit)
    if old.startswith("node:"):
        text = text.replace(old, new, 1)
    problems = problems_of(text)
    assert problems
    for message in problems:
        assert LINE.match(message), message
        assert len(message) <= config.MAX_MESSAGE_CHARACTERS, message[:200]
        assert "x" * 100 not in message and "y" * 100 not in message and "k" * 100 not in message


# --- values that would break a cluster ----------------------------------------------------


@pytest.mark.parametrize("alias, why", [
    ("em0 2001:db8::10/0", "2001:db8::10/0: a /0 prefix claims every address; give the subnet's prefix"
                           " (/24, /64...)"),
    ("em0 192.0.2.10/0", "192.0.2.10/0: a /0 prefix claims every address; give the subnet's prefix"
                         " (/24, /64...)"),
    ("em0 192.0.2.0/24", "192.0.2.0 is the network address of 192.0.2.0/24, not a host address"),
    ("em0 192.0.2.255/24", "192.0.2.255 is the broadcast address of 192.0.2.0/24, not a host address"),
    ("em0 2001:db8::/64", "2001:db8:: is the subnet-router anycast address of 2001:db8::/64 (RFC 4291),"
                          " not a host address"),
    ("em0 169.254.7.7/16", "169.254.7.7 is link-local (169.254.0.0/16, fe80::/10): not reachable beyond the"
                           " link, and fe80:: addresses need a scope; a service address must be a unicast"
                           " address of the subnet"),
    ("em0 fe80::10/64", "fe80::10 is link-local (169.254.0.0/16, fe80::/10): not reachable beyond the link,"
                        " and fe80:: addresses need a scope; a service address must be a unicast address of"
                        " the subnet"),
    ("em0 127.0.0.2/8", "127.0.0.2 is a loopback address; a service address must be a unicast address of the"
                        " subnet"),
    ("em0 224.0.0.18/24", "224.0.0.18 is a multicast address; a service address must be a unicast address of"
                          " the subnet"),
])
def test_config_check_refuses_an_alias_that_is_not_a_host_address(alias, why):
    text = edited(("      - em0 2001:db8::10/64", f"      - {alias}"))
    line = EXAMPLE.splitlines().index("      - em0 2001:db8::10/64") + 1
    assert problems_of(text) == [f"carpha.yaml:{line}: groups.web.addresses[1]: {why}"]


def test_a_slash_31_or_32_alias_has_no_network_or_broadcast_address():
    text = edited(("      - em0 192.0.2.10/24", "      - em0 192.0.2.10/31\n      - em0 192.0.2.11/31\n"
                                                 "      - em0 192.0.2.12/32"))
    assert len(loads(text, "carpha.yaml", node="serverA").groups["web"].addresses) == 4


def test_config_check_refuses_an_alias_equal_to_the_vhids_own_address():
    text = edited(("      - em0 2001:db8::10/64", "      - em0 192.0.2.9/24"))
    line = EXAMPLE.splitlines().index("    addresses:                          # required; \"interface"
                                      " address/prefix\"") + 1
    assert problems_of(text) == [
        f"carpha.yaml:{line}: groups.web.addresses[1]: 192.0.2.9 is the vhid's own address"
        " (groups.web.carp.address), which rc.conf configures; list only the service aliases carpha adds and"
        " removes"]


def test_config_check_refuses_a_vhid_address_that_is_not_a_host_address():
    text = edited(("      address: 192.0.2.9/24", "      address: 192.0.2.0/24"))
    [message] = problems_of(text)
    assert message.endswith("groups.web.carp.address: 192.0.2.0 is the network address of 192.0.2.0/24,"
                            " not a host address")


@pytest.mark.parametrize("key, value, least", [
    ("interval_seconds", "0.0000001", "0.5"),
    ("fence_step_seconds", "0.001", "0.1"),
])
def test_config_check_refuses_a_witness_timing_too_small_to_be_meant(key, value, least):
    text = edited((f"  # {key}: ", f"  {key}: {value} # "))
    [message] = problems_of(text)
    assert message.endswith(f"witness.{key}: {float(value):g} is below the least useful value, {least}")


def test_config_check_refuses_a_command_timeout_below_a_second():
    text = edited(("# timeouts:                             # seconds",
                   "timeouts: {query_seconds: 0.001}  # seconds"))
    [message] = problems_of(text)
    assert message.endswith("timeouts.query_seconds: 0.001 is below the least useful value, 1")


# --- the fencing budget says what to change ---------------------------------------------


def test_a_seventh_jail_names_the_knobs_to_turn_and_the_values_that_fit():
    text = edited(("    jails: [www, db]", "    jails: [j1, j2, j3, j4, j5, j6, j7]"))
    [message] = problems_of(text)
    witness_line = EXAMPLE.splitlines().index("witness:                                # absent: kind none"
                                              " (two masters are possible)") + 1
    assert message == (
        f"carpha.yaml:{witness_line}: witness.fence_after_seconds: 8 + interval 2 + worst-case fencing 28"
        " (28 steps x fence_step_seconds 1) = 38 s is not below takeover_after_seconds 30; to fix: set"
        " witness.takeover_after_seconds (not in the file: default 30) to more than 38 (by more than 8), set"
        " witness.fence_step_seconds (not in the file: default 1) to below 0.714 (28 steps), or give this"
        " node fewer addresses, jails (3 steps each), services or filesystems")
    # Each suggestion, applied alone, is accepted.
    for fix in ("  takeover_after_seconds: 38.5", "  fence_step_seconds: 0.7"):
        fixed = text.replace("  # interval_seconds: 2", fix)
        assert loads(fixed, "carpha.yaml", node="serverA").groups["web"].jails[-1] == "j7"


def test_a_written_knob_is_named_with_its_value():
    text = edited(("  # fence_after_seconds: 8 ", "  fence_after_seconds: 20 "))
    [message] = problems_of(text)
    assert "lower witness.fence_after_seconds from 20 to below 15," in message


# --- the command line: one line, exit 78, never a traceback ------------------------------


def run_check(path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "LANG": "C"}
    return subprocess.run([sys.executable, "-m", "carpha", "-c", str(path), "config", "check"], env=env,
                          capture_output=True, text=True, timeout=20)


@pytest.mark.parametrize("text", [
    "nodes: " + "[" * 1000 + "]" * 1000 + "\n",
    chain_of_merges(29),
    "nodes: &n {a: *n}\n",
    "\t\x00",
])
def test_config_check_prints_one_line_and_exits_78_for_a_hostile_file(tmp_path, text):
    path = tmp_path / "carpha.yaml"
    path.write_text(text)
    result = run_check(path)
    assert result.returncode == 78, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{path}:"), result.stderr


# --- fuzz ---------------------------------------------------------------------------------

FUZZ_CASES = 700
SPECIALS = ["&a ", "*a", "<<: *a", "!!python/object:os.system", "!!binary x", "[", "]", "{", "}", ": ", "- ",
            "? ", "|", ">", "'", '"', "\\", "%YAML 1.1", "---", "...", "#", "\t", "\x00", "\ufeff", "\u2028",
            "~", "null", "yes", "0x", "1e999", "-.inf", ".nan", "2001-01-01", "1:20:30", "0o17", "9" * 5000,
            "é", "\x85", "@", "`", "!", "!local", "=", "<<", "&b [*b]"]
VALUES = ["0", "-1", "256", "70000", "0.0000001", "1e400", "''", "[]", "{}", "[a, b]", "{a: 1}", "~", "yes",
          "em0 192.0.2.0/24", "em0 ::/0", "x" * 3000, "/", "../etc", "192.0.2.1", "fe80::1/64", "*a", "&a x"]


def mutate(rng, text):
    lines = text.splitlines()
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        i = rng.randrange(len(lines))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:                               # a special token somewhere in a line
            pos = rng.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rng.choice(SPECIALS) + lines[i][pos:]
        elif op == 3:                               # another value for a key
            if ":" in lines[i]:
                lines[i] = lines[i].split(":", 1)[0] + ": " + rng.choice(VALUES)
        elif op == 4:                               # re-indent
            lines[i] = " " * rng.randrange(8) + lines[i].lstrip()
        elif op == 5:                               # uncomment a default
            lines[i] = lines[i].replace("# ", "", 1)
        elif op == 6:                               # truncate
            lines = lines[:i]
            if not lines:
                lines = [""]
        else:                                       # nest
            depth = rng.choice((5, 40, 300))
            lines.insert(i, "k: " + "[" * depth + "]" * depth)
    return "\n".join(lines) + rng.choice(("\n", "", "\n\n"))


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def test_fuzz_generated_broken_configs_never_crash_or_hang():
    rng = random.Random(20240601)
    previous = signal.signal(signal.SIGALRM, _alarm)
    broken = 0
    slowest = 0.0
    try:
        for case in range(FUZZ_CASES):
            text = mutate(rng, EXAMPLE)
            started = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, 5)
            try:
                loads(text, "carpha.yaml", node="serverA")
            except ConfigError as error:
                broken += 1
                assert error.exit_code in (78, 66), (case, error.exit_code)
                assert error.problems, case
                for message in error.problems:
                    assert LINE.match(message), (case, message[:200])
                    assert "\n" not in message and len(message) <= config.MAX_MESSAGE_CHARACTERS, case
                    assert "internal error" not in message, (case, message, text)
            except _Hang:
                pytest.fail(f"case {case} took over 5 s:\n{text[:2000]}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            elapsed = time.monotonic() - started
            slowest = max(slowest, elapsed)
            assert elapsed < 2, (case, elapsed, text[:2000])
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert broken >= 500, broken
