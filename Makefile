# POSIX make: works with GNU make and BSD make (bmake). No GNU-only syntax.
PYTHON ?= python3
VENV = .venv
VBIN = $(VENV)/bin

.PHONY: all test demo bench lab soak lint clean port-plist

all: test

$(VBIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(VBIN)/python setup.cfg pyproject.toml
	$(VBIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(VENV)/.installed

test: $(VENV)/.installed
	$(VBIN)/python -m pytest

demo: $(VENV)/.installed
	$(VBIN)/carpha simulate --scenario master-crash

# port/sysutils/carpha/pkg-plist from what install.sh stages (after adding
# or removing a module; tests/core/test_install.py compares the two).
port-plist: $(VENV)/.installed
	$(VBIN)/python tests/core/test_install.py --write-plist

soak: $(VENV)/.installed
	$(VBIN)/python -m carpha.rehearsal.soak --seeds 5 --steps 1000

bench: $(VENV)/.installed
	$(VBIN)/python bench/run.py
	$(VBIN)/python bench/bench_journal.py
	$(VBIN)/python bench/lab.py

# The real-kernel lab (root, Linux; README "Lab"): its Debian packages if
# missing, its tests, then its figures.
lab: $(VENV)/.installed
	sh bench/lab-packages.sh
	CARPHA_LAB=1 $(VBIN)/python -m pytest -q tests/lab
	$(VBIN)/python bench/lab.py

clean:
	rm -rf $(VENV) build lib/carpha.egg-info
