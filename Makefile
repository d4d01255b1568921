# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup demo demo-rocky test test-postgres lint typecheck test-py test-rust test-contracts bench prove-check prove-batch-check

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/coproc demo

# The Rocky bot: a proven price-direction score sent L2 -> L1 to a vault (docs/rocky.md).
demo-rocky: setup
	$(VENV)/coproc demo-rocky

test: setup lint typecheck test-rust test-contracts test-py

lint:
	$(VENV)/lint-imports
	$(VENV)/ruff check coprocessor bridge tests bench scripts
	$(VENV)/ruff format --check coprocessor bridge tests bench scripts

typecheck:
	$(VENV)/mypy

# The long devnet chains (deep history, simulated markets) are built once per machine
# before pytest, so no test's timeout covers their first build (coprocessor/dev/caches.py).
test-py:
	$(VENV)/python -m coprocessor.dev.caches
	$(VENV)/pytest -q

# The Python suite once more with PostgreSQL as every service's default database (each
# test gets its own migrated database on a throwaway server; tests/conftest.py).
test-postgres: setup
	$(VENV)/python -m coprocessor.dev.caches
	$(VENV)/pytest -q --service-backend postgres

test-rust:
	@if [ -f guest/Cargo.toml ]; then bash scripts/rust.sh test; fi

test-contracts:
	@if [ -f contracts/foundry.toml ]; then bash scripts/forge.sh test; fi

bench: setup
	$(VENV)/python -m bench

# One real (non-dev) local zkVM proof of a mainnet ERC20 balance request, verified.
# Not part of `make test`: it takes about an hour on 2 cores (docs/guest.md).
prove-check: setup
	bash scripts/rust.sh prove-check

prove-batch-check: setup
	bash scripts/rust.sh prove-batch-check
