# netpol.aks: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
BIN       := $(VENV)/bin
PY        := $(BIN)/python
# The collection is found through ./.collections/ansible_collections/netpol/aks -> the repo root
# (ansible.cfg's collections_path, and a .pth file for Python imports).
COLL_LINK := .collections/ansible_collections/netpol/aks
STAMP     := $(VENV)/.installed

.PHONY: help venv test lint sanity docs docsite integration-targets unit integration molecule demo lab-build lab-up lab-down lab-node lab-node-test bench clean oracles differential browser browser-deps

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

venv: $(STAMP) $(COLL_LINK) ## Create or update .venv (Python >= 3.12) and make the collection importable

$(STAMP): requirements.txt requirements-dev.txt
	@py=$${PYTHON:-$$(./scripts/find-python.sh)}; \
	if [ ! -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then \
	  echo "Creating $(VENV) with $$py"; rm -rf $(VENV); "$$py" -m venv $(VENV); fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

$(COLL_LINK): | $(STAMP)
	@mkdir -p $(dir $(COLL_LINK))
	@ln -sfn ../../.. $(COLL_LINK)
	@$(PY) -c 'import site, os; open(os.path.join(site.getsitepackages()[0], "netpol_aks_collection.pth"), "w").write(os.path.abspath(".collections") + "\n")'

test: venv ## Run every check: ruff, yamllint, ansible-lint, docs, sanity, lab build, pytest (browser included), molecule, ansible-test integration
	$(MAKE) --no-print-directory lint docs sanity oracles lab-build browser-deps unit-and-integration molecule integration-targets

lint: venv ## ruff, yamllint, ansible-lint (production profile), changelog fragments
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --offline
	$(BIN)/antsibull-changelog lint

docs: venv ## Render every module's and role's docs with ansible-doc
	@set -e; for m in $$(ls plugins/modules/*.py | xargs -n1 basename | sed 's/\.py$$//'); do \
	  $(BIN)/ansible-doc netpol.aks.$$m > /dev/null; echo "ansible-doc netpol.aks.$$m: ok"; done
	@set -e; for r in $$(ls roles); do \
	  $(BIN)/ansible-doc -t role netpol.aks.$$r > /dev/null; echo "ansible-doc -t role netpol.aks.$$r: ok"; done

docsite: venv ## Build the HTML docs with antsibull-docs and Sphinx, offline: .docsite/build/html/index.html
	$(PY) scripts/docsite.py

integration-targets: venv lab-build ## ansible-test integration (tests/integration/targets/) against the local lab
	$(PY) scripts/integration_targets.py

sanity: venv ## ansible-test sanity (every test this machine can run), then the packaging tests
	$(PY) scripts/sanity.py
	$(BIN)/pytest -ra tests/packaging

oracles: ## Build the oracles pinned in tests/oracles/go.mod (once, into ~/.cache/netpol-aks/oracles)
	tests/oracles/build.sh

differential: venv oracles ## The engine against the oracles on many random clusters (CLUSTERS=3000 SEED=...)
	$(PY) -m tests.oracles.differential --clusters $${CLUSTERS:-3000} --seed $${SEED:-$$(date +%s)}

unit-and-integration: venv
	$(BIN)/pytest -n 2 --dist loadgroup -ra tests/unit tests/integration tests/browser

browser-deps: ## Install Debian's chromium for the browser tests (needs root and Debian's mirrors)
	@scripts/install-browser.sh

browser: venv browser-deps ## The HTML report in a real browser (chromium + Playwright); screenshots in tests/output/browser/
	$(BIN)/pytest -ra tests/browser

unit: venv ## pytest, unit tests only
	$(BIN)/pytest -ra tests/unit

integration: venv lab-build ## pytest, integration tests only (playbooks against the real lab and the Azure double; root)
	$(BIN)/pytest -ra tests/integration

molecule: venv lab-build ## molecule test, default scenario, on the local lab (needs root)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/molecule test -s default

lab-build: ## Build the real lab once: Kubernetes, etcd, the node, CoreDNS, kube-router (cached in ~/.cache/netpol-aks/lab)
	@tests/lab/build/build.sh
	@tests/lab/node/build.sh
	@tests/lab/net/build.sh

.PHONY: lab-net-build lab-net-test
lab-net-build: ## Build the real lab's CoreDNS and kube-router once (cached); installs iptables and ipset
	@tests/lab/net/build.sh

lab-net-test: venv lab-build lab-net-build ## Services, DNS and NetworkPolicy on the real lab (needs root and the node)
	$(BIN)/pytest -ra tests/unit/lab/test_lab_net.py tests/integration/lab/test_lab_net.py

lab-up: venv lab-build ## Start the local lab in the background (a real Kubernetes, simulated Azure; needs root) and write .lab/env
	$(PY) -m tests.lab up

lab-down: ## Stop the local lab and remove everything it made (processes, namespaces, rules, .lab)
	@if [ -x $(PY) ]; then $(PY) -m tests.lab down; fi

lab-node: ## Build the real lab's node (virtual-kubelet; busybox and nginx from Debian) into the cache
	tests/lab/node/build.sh

lab-node-test: venv lab-node ## The lab node's tests, with the real control plane (needs root)
	$(BIN)/pytest -ra tests/integration/lab/test_lab_node.py

demo: venv lab-build ## Run playbooks/demo.yml on the local lab (needs root)
	@./scripts/demo.sh

bench: venv ## Run the benchmarks (figures are printed, not asserted)
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean: lab-down ## Remove the venv, the lab state and caches
	rm -rf $(VENV) .collections .lab .pytest_cache .ruff_cache
