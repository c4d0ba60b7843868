"""The jail's service and its client: the HTTP server a started jail runs
on the group's addresses (`serve`: POST acknowledged only once the simulated
mirror has the write), one request (`_answers`) and the client's probe
(`probe`)."""

from __future__ import annotations

import fcntl
import os
import socket
import time

from .netns import MAX_POLLS

PORT = 80


def serve(node: str, jail: str, *addresses) -> int:
    """HTTP on each address:PORT; GET answers the node's name, POST is
    acknowledged only once the simulated mirror has the write."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self._reply(200, f"{node} {jail}\n")

        def do_POST(self):
            from ..sim.cluster import Cluster
            sim_dir = os.environ["CARPHA_SIM_DIR"]
            lock_fd = os.open(os.path.join(sim_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
                cluster = Cluster.load(sim_dir)
                try:
                    ok = cluster.write(node, jail)
                except ValueError:
                    ok = False
                cluster.save(sim_dir)
            finally:
                fcntl.flock(lock_fd, fcntl.LOCK_UN)
                os.close(lock_fd)
            self._reply(200 if ok else 503, "acknowledged\n" if ok else "not on the mirror\n")

        def _reply(self, code, text):
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    servers = []
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        cls = type("Server", (http.server.ThreadingHTTPServer,), {"address_family": family})
        servers.append(cls((address, PORT), Handler))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"listening {os.getpid()}", flush=True)      # the adapter's jail start returns now
    servers[0].serve_forever()
    return 0


def _answers(address: str, timeout: float):
    """The node name the group address answers with, or None."""
    try:
        with socket.create_connection((address, PORT), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            # Until the server closes (HTTP/1.0): the headers and the body
            # may come in separate segments.
            chunks = []
            for _ in range(8):
                chunk = sock.recv(512)
                if not chunk:
                    break
                chunks.append(chunk)
            data = b"".join(chunks).decode("ascii", "replace")
    except OSError:
        return None
    body = data.split("\r\n\r\n", 1)[-1].split()
    return body[0] if data.startswith("HTTP/1.0 200") and body else None


def probe(address: str, seconds: str, every: str = "0.02", timeout: str = "0.2") -> int:
    """The client: a new TCP connection and GET every `every` s for
    `seconds`, each in a thread of its own, so an attempt stuck in its
    `timeout` (a SYN sent to the old master's MAC) does not delay the next;
    prints `<monotonic start> <node or ->` per attempt as each ends (not
    in order: readers take the earliest)."""
    import threading
    deadline = time.monotonic() + float(seconds)
    lock, threads = threading.Lock(), []

    def attempt(started):
        who = _answers(address, float(timeout))
        with lock:
            print(f"{started:.6f} {who or '-'}", flush=True)

    for _ in range(MAX_POLLS):
        started = time.monotonic()
        if started >= deadline:
            break
        threads.append(threading.Thread(target=attempt, args=(started,), daemon=True))
        threads[-1].start()
        threads = [t for t in threads if t.is_alive()]
        time.sleep(max(0.0, float(every) - (time.monotonic() - started)))
    for thread in threads:
        thread.join(float(timeout) + 1)
    return 0
