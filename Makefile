# The two commands of README: `make run` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint schemas clean peers

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "fleetcast needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/fleetcast up

# Real peers from Debian, one apt-get for all and only when one is missing: chromium for the
# dashboard's browser test (Playwright downloads no browser), kcat, Alertmanager and
# node_exporter for the tests against them (tests/core/test_broker_clients.py,
# tests/forwarding/test_alertmanager_peer.py, tests/producers/test_node_exporter_peer.py).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
PEERS := /usr/bin/chromium /usr/bin/kcat /usr/bin/prometheus-alertmanager \
	/usr/bin/prometheus-node-exporter
peers:
	test -z "$(strip $(foreach f,$(PEERS),$(if $(wildcard $(f)),,$(f))))" || \
		($(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium kcat prometheus-alertmanager \
		prometheus-node-exporter)

test: install peers
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

schemas: install
	$(BIN)/python -m schemas

clean:
	rm -rf $(VENV) .fleetcast .pytest_cache .mypy_cache .ruff_cache
