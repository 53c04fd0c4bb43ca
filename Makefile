# Two commands for users: `make demo` and `make test`. Both set up .venv on first use; stamp
# files make a second run skip every install whose inputs did not change.
SHELL := /bin/bash
PYTHON ?= python3
# A sourced ROS 2 install (ROS_DISTRO set, rclpy importable) is used as is; otherwise ROS 2
# comes from PyPI wheels: Kilted in .venv, or Jazzy in .venv-jazzy with ROS_WHEELS=jazzy.
SYSTEM_ROS := $(shell [ -n "$$ROS_DISTRO" ] && $(PYTHON) -c "import rclpy" 2>/dev/null && echo yes)
ROS_WHEELS ?= kilted
ifeq ($(ROS_WHEELS),kilted)
VENV := .venv
ROS_REQUIREMENTS := requirements-ros.txt
else ifeq ($(ROS_WHEELS),jazzy)
VENV := .venv-jazzy
ROS_REQUIREMENTS := requirements-ros-jazzy.txt
else
$(error ROS_WHEELS is kilted or jazzy, not '$(ROS_WHEELS)')
endif
PY := $(VENV)/bin/python
# The pip-only setup installs exact pins; a ROS install keeps the distro's numpy (its compiled
# modules, cv_bridge among them, are built against it): its exact version, plus
# constraints-ros.txt where that is a numpy 1.x.
ifeq ($(SYSTEM_ROS),yes)
CONSTRAINTS := constraints-ros.txt
CONSTRAINT_ARGS := -c $(VENV)/constraints-distro.txt
else
CONSTRAINTS := constraints-pip.txt
CONSTRAINT_ARGS := -c constraints-pip.txt
endif
PYTEST_ARGS ?=

.PHONY: setup test lint demo benchmark clean

setup: $(VENV)/.stamp-package

$(VENV)/.stamp-venv:
	$(PYTHON) -m venv $(if $(SYSTEM_ROS),--system-site-packages) $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel "setuptools<81"
	touch $@

$(VENV)/.stamp-requirements: requirements.txt requirements-dev.txt $(CONSTRAINTS) $(VENV)/.stamp-venv
ifeq ($(SYSTEM_ROS),yes)
	$(PYTHON) -c "import numpy; v = numpy.__version__; \
	  print(('-c ../constraints-ros.txt\n' if int(v.split('.')[0]) < 2 else '') + 'numpy==' + v)" \
	  > $(VENV)/constraints-distro.txt 2>/dev/null || echo "-c ../constraints-ros.txt" > $(VENV)/constraints-distro.txt
endif
	$(PY) -m pip install -q -r requirements.txt -r requirements-dev.txt $(CONSTRAINT_ARGS)
	touch $@

$(VENV)/.stamp-ros: $(ROS_REQUIREMENTS) $(VENV)/.stamp-requirements
ifeq ($(SYSTEM_ROS),yes)
	@echo "Using the sourced ROS 2 $$ROS_DISTRO install."
else
	$(PY) -m pip install -q -r $(ROS_REQUIREMENTS)
	$(PY) -c "import tf2_msgs.msg" 2>/dev/null || tools/build_tf2_msgs.sh $(VENV)
endif
	touch $@

$(VENV)/.stamp-package: setup.py setup.cfg package.xml $(wildcard launch/*.launch.py config/*.yaml) $(VENV)/.stamp-ros
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

lint: $(VENV)/.stamp-requirements
	$(PY) -m ruff check .

test: setup lint
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(PY) -m scr_localizer.cli demo

benchmark: setup
	$(PY) -m benchmarks.run

clean:
	rm -rf .venv .venv-jazzy build install log .pytest_cache
