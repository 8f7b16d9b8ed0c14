# The README's commands. Each target bootstraps itself: installs uv with pip if it is missing,
# then `uv sync --locked` (never downloads a Python: uses the machine's python3 >= 3.11).
SHELL := /bin/bash
export UV_PYTHON_DOWNLOADS := never
# evaluated at each use, so that a uv installed by `bootstrap` is found
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN = $(UV) run --locked --no-sync

.PHONY: bootstrap demo test lint bench contracts clean

bootstrap:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	@$(UV) sync --locked --quiet

demo: bootstrap
	$(RUN) ce auction clear scenarios/auctions/example.json

test: bootstrap
	$(RUN) pytest -q

lint: bootstrap
	$(RUN) ruff check .
	$(RUN) ruff format --check .

bench: bootstrap
	$(RUN) ce bench

# Recompile the Solidity contracts with the pinned solc (needs Node/npm; running does not).
contracts: bootstrap
	npm ci --prefix contracts_sol --no-audit --no-fund --loglevel=error
	$(RUN) python -m chain.compile

clean:
	rm -rf .venv .pytest_cache .hypothesis .ruff_cache
