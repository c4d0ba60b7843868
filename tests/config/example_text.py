"""examples/three-servers.yaml as text, and edits of it, for the config tests."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_PATH = os.path.join(ROOT, "examples", "three-servers.yaml")
with open(EXAMPLE_PATH) as f:
    EXAMPLE = f.read()


def edited(*edits):
    """EXAMPLE with each (old, new) replaced; old must occur exactly once."""
    text = EXAMPLE
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text
