"""The lab adapter's request handling, without root: what the server
accepts from a client, and that the client it installs is valid Python."""

import marshal
import socket
import threading

from carpha.lab import adapter


def sent(payload: bytes):
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    theirs.settimeout(5)

    def client():
        try:
            theirs.sendall(payload)
            theirs.shutdown(socket.SHUT_WR)
        except OSError:
            pass                    # the server stopped reading (the size bound)

    writer = threading.Thread(target=client, daemon=True)
    writer.start()
    try:
        return adapter._request(ours)
    finally:
        ours.close()
        writer.join(5)
        theirs.close()


def test_a_well_formed_request_is_read_whole():
    request = ("serverB", "ifconfig", ["em0"], 12.5, {"PATH": "/bin"})
    assert sent(marshal.dumps(request)) == request


def test_malformed_requests_are_refused_not_raised():
    assert sent(b"not marshal") is None
    assert sent(marshal.dumps(("serverB", "ifconfig", "em0", 12.5, {}))) is None      # args not a list
    assert sent(marshal.dumps(("serverB", "ifconfig", [1], 12.5, {}))) is None        # a non-str argument
    assert sent(marshal.dumps(("serverB", "ifconfig"))) is None
    assert sent(b"x" * ((1 << 20) + 65536)) is None                                   # over the bound


def test_installed_clients_compile(tmp_path):
    adapter.install_shims(str(tmp_path))
    for path in sorted(tmp_path.iterdir()):
        text = path.read_text()
        assert text.startswith("#!")
        compile(text.split("\n", 1)[1], str(path), "exec")
    assert "_socket" in (tmp_path / "ifconfig").read_text()
    garp = (tmp_path / "carpha-garp").read_text()
    assert "_socket" not in garp                        # runs in the node's namespace
    assert "from carpha.host.garp import main" in garp and "carpha.lab" not in garp   # carpha's time only


def test_garp_off_shim_sends_nothing_and_logs_the_call(tmp_path):
    adapter.install_shims(str(tmp_path / "bin"), garp=False)
    assert "carpha.host.garp" not in (tmp_path / "bin" / "carpha-garp").read_text()
    import subprocess
    import sys
    env = {"PATH": "/usr/bin:/bin", "CARPHA_SIM_DIR": str(tmp_path), "CARPHA_SIM_HOST": "serverB"}
    done = subprocess.run([str(tmp_path / "bin" / "carpha-garp"), "-m", "02:00:00:00:00:01", "em0", "192.0.2.10"],
                          env=env, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    [(started, ended, name, kind)] = adapter.read_calls(str(tmp_path), "serverB")
    assert (name, kind) == ("carpha-garp", "carpha") and started <= ended


def test_devd_stand_in_scripts_compile_and_run_the_shipped_rule(tmp_path):
    libexec = str(tmp_path / "usr" / "local" / "libexec" / "carpha")
    for state in ("MASTER", "BACKUP"):
        path = tmp_path / f"{state}.py"
        adapter.write_devd_script(str(path), state, libexec)
        text = path.read_text()
        assert text.startswith("#!")
        compile(text.split("\n", 1)[1], str(path), "exec")
        # devd/carpha.conf's action, expanded: the staged hook, the vhid@ifname, the state.
        assert f"{libexec}/carp-event {adapter.VHID}@em0 {state}" in text
