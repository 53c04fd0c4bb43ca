# Two commands for users: `make demo` and `make test`. Both set up .venv on first use; stamp
# files make a second run skip every install whose inputs did not change.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# A sourced ROS 2 install (ROS_DISTRO set, rclpy importable) is used as is; otherwise ROS 2
# comes from PyPI wheels.
SYSTEM_ROS := $(shell [ -n "$$ROS_DISTRO" ] && $(PYTHON) -c "import rclpy" 2>/dev/null && echo yes)
PYTEST_ARGS ?=

.PHONY: setup test lint demo benchmark clean

setup: $(VENV)/.stamp-package

$(VENV)/.stamp-venv:
	$(PYTHON) -m venv $(if $(SYSTEM_ROS),--system-site-packages) $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel "setuptools<81"
	touch $@

$(VENV)/.stamp-requirements: requirements.txt requirements-dev.txt $(VENV)/.stamp-venv
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt
	touch $@

$(VENV)/.stamp-ros: requirements-ros.txt $(VENV)/.stamp-requirements
ifeq ($(SYSTEM_ROS),yes)
	@echo "Using the sourced ROS 2 $$ROS_DISTRO install."
else
	$(PY) -m pip install -q -r requirements-ros.txt
	$(PY) -c "import tf2_msgs.msg" 2>/dev/null || tools/build_tf2_msgs.sh $(VENV)
endif
	touch $@

$(VENV)/.stamp-package: setup.py setup.cfg package.xml $(wildcard launch/*.launch.py config/*.yaml) $(VENV)/.stamp-ros
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

lint: $(VENV)/.stamp-requirements
	$(VENV)/bin/ruff check .

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PY) -m scr_localizer.cli demo

benchmark: setup
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build install log .pytest_cache
