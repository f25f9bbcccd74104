# jobkit: two commands on a fresh machine. `make up` starts a sandbox, `make test` runs the tests.
# Each sets up what it needs (a Python 3.12 venv, the pinned npm CLIs) first.

SHELL := /bin/bash
.DEFAULT_GOAL := help
ROOT := $(abspath .)

# Python 3.12: on PATH, else under pyenv (these machines have it there but not on PATH; its shim answers
# "command not found", so each candidate is run, not just looked up).
PYTHON312 ?= $(shell for p in python3.12 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12.*/bin/python3.12 2>/dev/null | sort -rV); do \
  if "$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then command -v "$$p"; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed
# checkov in a venv of its own: its pins would move the project's boto3
CHECKOV_VERSION := 3.3.30
CHECKOV := .jobkit/tools/checkov/bin/checkov
# the page's tests drive Debian's chromium (Playwright, no browser download); a new machine lacks it
CHROMIUM := /usr/bin/chromium

export CDK_DISABLE_CLI_TELEMETRY := 1
export CDK_DISABLE_VERSION_CHECK := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export NODE_NO_WARNINGS := 1
export JSII_DEPRECATED := fail
export CDK_HOME := $(ROOT)/.jobkit/cdk-home
export JSII_RUNTIME_PACKAGE_CACHE_ROOT := $(ROOT)/.jobkit/jsii-cache
export PATH := $(ROOT)/$(VENV)/bin:$(ROOT)/node_modules/.bin:$(PATH)


.PHONY: help setup up up-localstack down synth lint security test test-unit bench soak clean

help:
	@echo "make up     start a sandbox (jobkit's embedded engine on 127.0.0.1:4566; Ctrl-C stops it)"
	@echo "make up-localstack   the same stack in LocalStack (Docker where it runs, else on this host)"
	@echo "make test   lint, synthesize, cfn-lint and run every test"
	@echo "make synth  write the CloudFormation template to cdk.out/"

$(PY):
	@if [ -z "$(PYTHON312)" ]; then \
	  echo "jobkit needs Python 3.12 (the Lambda runtime's version): install python3.12 or set PYTHON312=/path/to/python3.12" >&2; \
	  exit 1; fi
	"$(PYTHON312)" -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(STAMP) $(NPM_STAMP)

synth: setup
	cdk synth --quiet -c faultInjection=true

lint: setup
	ruff check .
	mypy stack handlers jobkit scenarios bench
	bandit -q -c pyproject.toml -r stack handlers jobkit scenarios bench

$(CHECKOV): | $(PY)
	"$(PYTHON312)" -m venv .jobkit/tools/checkov
	.jobkit/tools/checkov/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)

# checkov on the synthesized template, offline (--skip-download); accepted findings carry their reason in
# the stack (accept_findings). Its grammar parser (lark) caches in the temporary folder: the project's here.
# Then every attack of tests/security on an engine of their own; a line "security: N attacks tried, M refused"
# sums them up.
security: synth $(CHECKOV)
	mkdir -p .jobkit/tmp/checkov
	TMPDIR="$(CURDIR)/.jobkit/tmp/checkov" $(CHECKOV) -f cdk.out/JobsStack.template.json --framework cloudformation --compact --quiet --skip-download
	$(PY) -m pytest tests/security -q

$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then \
	  echo "the page's tests need Debian's chromium: sudo apt-get install -y chromium" >&2; exit 1; fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

# The scenarios run on both targets: the embedded engine (clock sped up) and LocalStack's engine on this host.
# Both listen on 4566, so they run one after the other. The slowest tests are listed: `make test` keeps under 20 min.
test: lint synth security $(CHROMIUM)
	cfn-lint
	JOBKIT_TIME_SCALE=20 $(PY) -m pytest --target embedded --durations=10 \
	  --ignore=tests/localstack --ignore=tests/differential --ignore=tests/reliability --ignore=tests/security
	# the short soak, hostile input and fuzzing: an engine of their own (moto's state is per process)
	$(PY) -m pytest tests/reliability
	$(PY) -m pytest tests/localstack tests/differential tests/scenarios --target localstack --durations=10

test-unit: setup
	$(PY) -m pytest tests/unit tests/stack

up: setup
	jobkit up

up-localstack: setup
	jobkit up --target localstack

down: setup
	jobkit down

bench: setup
	$(PY) bench/compare.py
	$(PY) bench/live.py
	$(PY) bench/trace_cost.py
	$(PY) bench/page.py

# 10,000 jobs on the embedded engine and 1,000 on LocalStack's host engine, faults and a replay included
soak: setup
	$(PY) scripts/soak.py --jobs 10000 --target embedded --time-scale 20 --json bench/results/soak_embedded.json
	jobkit up --target localstack --runtime host --detach
	$(PY) scripts/soak.py --jobs 1000 --target localstack --json bench/results/soak_localstack.json; status=$$?; \
	  jobkit down --target localstack --runtime host; exit $$status

clean:
	rm -rf cdk.out .jobkit .pytest_cache .mypy_cache .ruff_cache
