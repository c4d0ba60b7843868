"""Shared test setup: import carpha from lib/ without installing it, and
locate the captured FreeBSD samples (tests/fixtures/freebsd-samples: a copy
of ../shared/freebsd-samples, whose SOURCES.tsv says where each came from;
the suite never reads ../shared, which a bare clone does not have)."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
if LIB not in sys.path:
    sys.path.insert(0, LIB)

SAMPLES = os.path.join(ROOT, "tests", "fixtures", "freebsd-samples")


import pytest  # noqa: E402


@pytest.fixture
def world(tmp_path):
    """serverA (CARP MASTER) and serverB, simulated, built from the example
    config; serverB already exports its disk, as a BACKUP does."""
    from carpha.actions import storage
    from carpha.actions.base import apply
    from simworld import World
    w = World(tmp_path)
    apply(storage.DEMOTE, w.ctx("serverB"))
    yield w
    w.close()


@pytest.fixture(params=["libyaml", "pure"])
def yaml_path(request, monkeypatch):
    """Both ways carpha.config composes YAML: with libyaml's parser (PyYAML's
    C extension, where it is built) and with PyYAML's own; a test using this
    fixture runs on each."""
    from carpha.config import yamlfile
    if request.param == "pure":
        monkeypatch.setattr(yamlfile, "_CLoader", None)
    elif yamlfile._CLoader is None:
        pytest.skip("this PyYAML has no libyaml (C extension)")
    return request.param
