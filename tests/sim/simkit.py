"""Helpers shared by the simulator tests (a plain module, not a conftest,
so `from conftest import SAMPLES` keeps meaning the top-level one)."""

import os

from conftest import SAMPLES


def sample(relpath: str) -> str:
    with open(os.path.join(SAMPLES, relpath), encoding="utf-8") as handle:
        return handle.read()


def run(host, *argv, timeout=60):
    return host.execute(argv, timeout, {})


def ok(host, *argv, timeout=60):
    rc, out, err = host.execute(argv, timeout, {})
    assert rc == 0, f"{host.name}: {' '.join(argv)}: exit {rc}: {err}{out}"
    return out
