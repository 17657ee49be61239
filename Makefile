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
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export NO_COLOR := 1

.PHONY: help venv collection lab lab-down test test-start lint sanity unit molecule integration demo demo-clean bench build clean

help:
	@echo "make test   - lint, sanity, unit, molecule and integration tests (starts the lab)"
	@echo "make demo   - the main job on the embedded lab"
	@echo "make bench  - benchmarks (ratios against references measured in the same run)"
	@echo "make lab    - start the Docker engine, build the lab host image and the simulator"
	@echo "make clean  - remove the venv, build output and lab leftovers"

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
	$(BIN)/python -m pytest -q tests/unit

molecule: lab
	tests/lab/bin/molecule-all

integration: lab
	$(BIN)/python -m pytest -q tests/integration

# test-start records when the run began, so that the final check judges only this run's leftovers.
test: test-start lint sanity unit molecule integration
	tests/lab/bin/check-clean

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
