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
    assert "_socket" not in (tmp_path / "carpha-garp").read_text()   # runs in the node's namespace
