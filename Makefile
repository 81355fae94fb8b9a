# `make test` and `make demo` are the whole set-up on a fresh machine: each creates .venv when missing,
# installs the package editable with what it needs, and runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.yolo_attn-installed
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: install test test-fast demo bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

demo: $(STAMP)
	$(BIN)/yolo-attn demo

bench: $(STAMP)
	$(BIN)/python -m yolo_attn.bench

lint: $(STAMP)
	$(BIN)/ruff check yolo_attn tests notebooks
	$(BIN)/ruff format --check yolo_attn tests notebooks

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
