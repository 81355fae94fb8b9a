# `make test` and `make demo` are the whole set-up on a fresh machine: each creates .venv when missing,
# installs the package editable with what it needs, and runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.yolo_attn-installed
TORCH := torch==2.14.1 torchvision==0.29.1
# Where torch comes from: PyPI by default (on Linux its CUDA build, ~5 GB with the nvidia-* and triton wheels). On a
# machine without a GPU, the CPU build of the same version is far smaller:
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# The compare folder `make notebooks` opens.
COMPARE_DIR ?= runs/compare/demo

.PHONY: install test test-fast check-tiers demo bench notebooks lint clean

# pip runs without -q: a first install takes minutes (torch alone is GBs), and its progress bars show it moving.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "make: [1/3] upgrading pip in $(VENV)"
	$(BIN)/python -m pip install -q --upgrade pip
	@echo "make: [2/3] installing $(TORCH) (a first install downloads it: GBs for the CUDA build, minutes)"
	$(BIN)/python -m pip install --progress-bar on $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	@echo "make: [3/3] installing yolo-attn (editable) with its dev extra"
	$(BIN)/python -m pip install --progress-bar on -e ".[dev]"
	touch $(STAMP)
	@echo "make: $(VENV) ready"

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

# test-fast, failing every unmarked test that starts a process (the tiering rule; tests/conftest.py).
check-tiers: $(STAMP)
	YOLO_ATTN_TIER_CHECK=1 $(BIN)/python -m pytest -q -m "not slow" tests

demo: $(STAMP)
	$(BIN)/yolo-attn demo

bench: $(STAMP)
	$(BIN)/python -m yolo_attn.bench

# JupyterLab on notebooks/ (the notebooks extra comes with the dev extra), showing COMPARE_DIR. Jupyter refuses to
# run as root unless told: containers often are root.
notebooks: $(STAMP)
	YOLO_ATTN_COMPARE_DIR=$(COMPARE_DIR) $(BIN)/jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

lint: $(STAMP)
	$(BIN)/ruff check yolo_attn tests notebooks
	$(BIN)/ruff format --check yolo_attn tests notebooks
	$(BIN)/lint-imports --no-cache

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache
