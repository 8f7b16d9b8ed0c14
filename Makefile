# The README's commands. Each target bootstraps itself: installs uv with pip if it is missing,
# then `uv sync --locked` (never downloads a Python: uses the machine's python3 >= 3.11).
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
export UV_PYTHON_DOWNLOADS := never
# write .pyc files at install time: imports stay fast even where PYTHONDONTWRITEBYTECODE is set
export UV_COMPILE_BYTECODE := 1
# evaluated at each use, so that a uv installed by `bootstrap` is found
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN = $(UV) run --locked --no-sync

.PHONY: bootstrap node-deps demo test lint bench contracts clean

bootstrap:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	@$(UV) sync --locked --quiet

# The main job: the baseline scenario through the full engine with hourly Merkle attestation on
# the embedded eth-tester chain; prints the KPI table, then re-verifies the run against the chain.
demo: bootstrap
	@mkdir -p runs
	$(RUN) ce run baseline | tee runs/.demo.log
	$(RUN) ce chain verify "$$(tail -n 1 runs/.demo.log)"

# Node packages pinned in contracts_sol/ (solc-js, OpenZeppelin, anvil) for the tests that
# recompile the contracts and run the bridge against a JSON-RPC node; skipped without npm.
node-deps:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "npm not found: the recompile and JSON-RPC backend tests will be skipped"; \
	elif [ ! -f contracts_sol/node_modules/.package-lock.json ] \
		|| [ contracts_sol/package-lock.json -nt contracts_sol/node_modules/.package-lock.json ]; then \
		npm ci --prefix contracts_sol --no-audit --no-fund --loglevel=error; \
	fi

test: bootstrap node-deps
	$(RUN) pytest -q

lint: bootstrap
	$(RUN) ruff check .
	$(RUN) ruff format --check .

bench: bootstrap
	$(RUN) ce bench

# Recompile the Solidity contracts with the pinned solc (needs Node/npm; running does not).
contracts: bootstrap node-deps
	$(RUN) python -m chain.compile

clean:
	rm -rf .venv .pytest_cache .hypothesis .ruff_cache
