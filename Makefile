# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: setup demo test lint typecheck test-py test-rust test-contracts bench

setup:
	@bash scripts/setup.sh

demo: setup
	$(VENV)/coproc demo

test: setup lint typecheck test-rust test-contracts test-py

lint:
	$(VENV)/ruff check coprocessor bridge tests bench scripts
	$(VENV)/ruff format --check coprocessor bridge tests bench scripts

typecheck:
	$(VENV)/mypy

test-py:
	$(VENV)/pytest -q

test-rust:
	@if [ -f guest/Cargo.toml ]; then bash scripts/rust.sh test; fi

test-contracts:
	@if [ -f contracts/foundry.toml ]; then bash scripts/forge.sh test; fi

bench: setup
	$(VENV)/python -m bench
