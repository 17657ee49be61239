# homelab.photon: one entry point for the lab, the tests and the demo.
# Every target that needs root, Docker or the simulator starts them itself (tests/lab/bin/).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# The collection is found through a link tree under tests/output (git-ignored).
COLLECTIONS := $(abspath tests/output/collections)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
# The id of this checkout on the lab's containers (tests/lab/labhost.py computes the same), so that
# lab-down and check-clean touch only what this checkout started.
export LAB_CHECKOUT := $(shell $(PYTHON) -c 'import hashlib, os; print(hashlib.sha256(os.path.realpath("$(CURDIR)").encode()).hexdigest()[:12])')
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export NO_COLOR := 1

.PHONY: help venv collection lab lab-down test test-start lint sanity unit molecule integration demo demo-clean bench build clean

help:
	@echo "make test        - every test: lint, sanity, unit, molecule, integration, clean-up check, one summary"
	@echo "make demo        - the main job (playbooks/site.yml) on the embedded lab; run twice: 0 changed"
	@echo "make demo-clean  - remove the demo's simulator, lab host and state"
	@echo "make bench       - benchmarks (ratios against references measured in the same run)"
	@echo "make lint        - ansible-lint (production profile) and yamllint"
	@echo "make sanity      - ansible-test sanity with empty ignore files"
	@echo "make unit        - unit tests (pytest tests/unit)"
	@echo "make molecule    - every molecule scenario (starts the lab)"
	@echo "make integration - integration tests (pytest tests/integration; starts the lab)"
	@echo "make lab         - start the Docker engine, build the lab images, start the lab network and its small internet"
	@echo "make lab-down    - remove the lab's containers, networks and simulator processes"
	@echo "make build       - ansible-galaxy collection build (the tarball users install)"
	@echo "make venv        - the virtualenv .venv from requirements.txt"
	@echo "make collection  - link the checkout as homelab.photon under tests/output/collections"
	@echo "make test-start  - mark the start of a test run (make test does it)"
	@echo "make clean       - remove the venv, build output and lab leftovers"
	@echo "make help        - this list"

venv: $(VENV)/.stamp
$(VENV)/.stamp: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

collection: venv
	@mkdir -p $(COLLECTIONS)/ansible_collections/homelab
	@ln -sfn $(CURDIR) $(COLLECTIONS)/ansible_collections/homelab/photon

lab: venv collection
	tests/lab/bin/lab-up

lab-down:
	tests/lab/bin/lab-down

lint: venv collection
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --profile production

sanity: venv
	tests/lab/bin/sanity

unit: venv collection
	$(BIN)/python -m pytest -q -rs $(PYTEST_ARGS) tests/unit

molecule: lab
	tests/lab/bin/molecule-all

integration: lab
	$(BIN)/python -m pytest -q -rs $(PYTEST_ARGS) tests/integration

# test-start records when the run began, so that the final check judges only this run's leftovers.
# test-all runs every stage even after a failure, then prints one summary and fails on a failed
# stage or on a skip not listed in tests/allowed-skips.txt.
test: test-start venv collection
	tests/lab/bin/test-all

test-start:
	@mkdir -p tests/output
	tests/lab/bin/check-clean --mark

demo: lab
	tests/lab/bin/demo

demo-clean:
	tests/lab/bin/demo-clean

bench: lab
	tests/lab/bin/bench

build: venv
	$(BIN)/ansible-galaxy collection build --force

clean: lab-down
	rm -rf $(VENV) tests/output benchmarks/output homelab-photon-*.tar.gz .pytest_cache
