"""`carpha` as a process: parse, config check, exit codes."""

import json
import os
import subprocess
import sys

import pytest

from conftest import LIB, ROOT, SAMPLES

KIND_OF_SAMPLE_DIR = {
    "ifconfig_carp": "ifconfig", "gmirror_status": "gmirror-status", "gmirror_status_s": "gmirror-status",
    "gmirror_list": "gmirror-list", "jls": "jls", "jls_libxo": "jls", "ggatec": "ggatec-list",
    "sysctl_carp": "sysctl", "mount": "mount", "hastctl": "hastctl-status",
}


def carpha(*args, stdin=None, env=None):
    full_env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": LIB, "CARPHA_NO_SYSLOG": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "carpha.cli.main", *args], input=stdin, env=full_env,
                          capture_output=True, text=True, timeout=60)


def samples():
    for directory, kind in sorted(KIND_OF_SAMPLE_DIR.items()):
        for name in sorted(os.listdir(os.path.join(SAMPLES, directory))):
            yield kind, os.path.join(SAMPLES, directory, name)


@pytest.mark.parametrize("kind,path", list(samples()), ids=lambda v: os.path.basename(str(v)))
def test_parse_handles_every_shared_sample_of_a_listed_kind(kind, path):
    result = carpha("parse", kind, path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)


def test_every_shared_sample_directory_is_either_parsed_or_known_not_to_be_a_kind():
    not_kinds = {"devd", "fsck", "ggated_exports", "syslog_carp"}   # logs and config, not command output
    dirs = {d for d in os.listdir(SAMPLES) if os.path.isdir(os.path.join(SAMPLES, d))}
    assert dirs == set(KIND_OF_SAMPLE_DIR) | not_kinds


def test_parse_reads_stdin_and_prints_the_documented_keys():
    result = carpha("parse", "gmirror-status", stdin="      Name    Status  Components\n"
                    "mirror/gm0  DEGRADED  ada1 (ACTIVE)\n                    ggate0 (SYNCHRONIZING, 42%)\n")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"mirrors": [{"name": "gm0", "status": "DEGRADED", "components": [
        {"name": "ada1", "state": "ACTIVE", "progress": None},
        {"name": "ggate0", "state": "SYNCHRONIZING", "progress": 42}]}]}


def test_parse_of_garbage_is_one_line_naming_the_line_and_exit_65():
    result = carpha("parse", "ifconfig", stdin="em0: flags=8843<UP> metric 0 mtu 1500\n\tinet 192.0.2.1 netmask 0xff00ff00\n")
    assert result.returncode == 65
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("carpha parse: <stdin>:2: ")


def test_parse_with_an_unknown_kind_is_a_usage_error():
    result = carpha("parse", "netstat", stdin="")
    assert result.returncode == 64 and "unknown kind 'netstat'" in result.stderr


def test_config_check_of_the_example_passes(tmp_path):
    result = carpha("config", "check", "-c", os.path.join(ROOT, "examples", "three-servers.yaml"),
                    env={"HOME": str(tmp_path)})
    # the example does not name a node: on a host called neither serverA nor serverB it must say so
    assert result.returncode == 78
    assert "node: not set, and this host's name" in result.stderr


def test_config_check_reports_every_problem_with_file_and_line(tmp_path):
    text = open(os.path.join(ROOT, "examples", "three-servers.yaml")).read()
    text = "node: serverA\n" + text.replace("vhid: 1\n", "vhid: 300\n").replace("port: 3080", "port: 0")
    text = text.replace("preferred_node: serverA", "preferred_node: serverD")
    path = tmp_path / "carpha.yaml"
    path.write_text(text)
    path.chmod(0o600)
    result = carpha("config", "check", "-c", str(path))
    assert result.returncode == 78
    lines = result.stderr.splitlines()
    assert any(l.startswith(f"{path}:") and "groups.web.carp.vhid: 300 is not in 1..255" in l for l in lines)
    assert any("groups.web.preferred_node" in l and "serverD" in l for l in lines)
    assert all(l.startswith(f"{path}:") for l in lines)


def test_config_check_refuses_a_group_writable_file_as_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the permission check applies when running as root")
    path = tmp_path / "carpha.yaml"
    path.write_text("node: serverA\n" + open(os.path.join(ROOT, "examples", "three-servers.yaml")).read())
    path.chmod(0o664)
    result = carpha("config", "check", "-c", str(path))
    assert result.returncode == 77 and "writable by group or others" in result.stderr
    path.chmod(0o600)
    assert carpha("config", "check", "-c", str(path)).returncode == 0


def test_the_workers_start_up_leaves_what_it_needs_only_later_unimported():
    # What `carpha reconcile` does before its first command: every subcommand
    # registered, the config read (node given, as devd's worker has it in the
    # file). secrets (a claim, a new boot), socket (a hostname, calibrate)
    # each cost milliseconds there (bench/run.py: the worker's start-up).
    code = ("import sys; sys.path.insert(0, %r)\n"
            "import carpha.cli.main as m; m._parser().parse_args(['reconcile'])\n"
            "from carpha.config import load\n"
            "load(%r, node='serverA', check_permissions=False)\n"
            "print(sorted(m for m in ('secrets', 'hmac', 'hashlib', 'random', 'socket') if m in sys.modules))"
            ) % (LIB, os.path.join(ROOT, "examples", "three-servers.yaml"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_unknown_subcommand_is_usage_error():
    assert carpha("frobnicate").returncode == 64


def resolve_config(tmp_path, node="serverB"):
    text = f"node: {node}\n" + open(os.path.join(ROOT, "examples", "three-servers.yaml")).read().replace(
        "# paths:", "paths:").replace("#   state_dir: /var/db/carpha", f"  state_dir: {tmp_path / 'db'}").replace(
        "#   run_dir: /var/run/carpha", f"  run_dir: {tmp_path / 'run'}")
    path = tmp_path / "carpha.yaml"
    path.write_text(text)
    path.chmod(0o600)
    return str(path)


@pytest.mark.parametrize("args,why", [
    (["resolve", "web"], "the following arguments are required: --keep"),
    (["resolve", "nosuch", "--keep", "serverB"], "carpha: no group 'nosuch' in "),
    (["resolve", "web", "--keep", "serverC"], "carpha: resolve: serverC is not one of group web's nodes (serverA, serverB)"),
    (["resolve", "web", "--keep", "serverA"], "carpha: resolve: run it on serverA, whose data is kept (this is serverB)"),
])
def test_resolve_validates_its_arguments_with_exit_64(tmp_path, args, why):
    result = carpha("-c", resolve_config(tmp_path), *args)
    assert result.returncode == 64, result.stderr
    assert why in result.stderr
    assert not (tmp_path / "db").exists()                # nothing was recorded


def test_resolve_without_the_peers_generation_exits_69(tmp_path):
    result = carpha("-c", resolve_config(tmp_path), "resolve", "web", "--keep", "serverB")
    assert result.returncode == 69, result.stderr
    assert result.stderr == ("carpha: resolve: serverA's generation must be known to resolve: no heartbeat view "
                             "(is carpha heartbeat running?)\n")
