# MotionLoom: two commands on a fresh machine.
#   make demo   set up .venv if missing, then run the headless demo (writes out/demo/)
#   make test   set up .venv if missing, then lint (ruff) and run the whole test suite
# Everything installs from requirements*.txt in this repository; nothing is fetched at run time.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup clean-venv

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -m backend demo --out out/demo

test: $(STAMP)
	$(PY) -m ruff check backend blender_addon tests build.py demo
	$(PY) -m pytest -q tests

clean-venv:
	rm -rf $(VENV)
