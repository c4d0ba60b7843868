"""Shared test setup: import carpha from lib/ without installing it, and
locate the shared FreeBSD samples."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(ROOT, "lib")
if LIB not in sys.path:
    sys.path.insert(0, LIB)

SHARED = os.path.join(os.path.dirname(ROOT), "shared")
SAMPLES = os.path.join(SHARED, "freebsd-samples")
