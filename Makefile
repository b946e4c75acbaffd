# The two commands a newcomer needs: `make demo` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch, pinned: an unpinned torch pulls several GB of CUDA packages.
TORCH := torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install install-dev install-distributed demo test test-all lint format clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -c constraints.txt -e .
	touch $@

install-dev: $(VENV)/.installed-dev

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	touch $@

# The distributed engine (--engine ray) and indexes on object storage (s3://).
install-distributed: $(VENV)/.installed-distributed

$(VENV)/.installed-distributed: $(VENV)/.installed
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[distributed]"
	touch $@

demo: install
	$(BIN)/semsearch index examples/scifact-sample --index indexes/demo
	$(BIN)/semsearch search "vitamin D deficiency and the risk of infection" --index indexes/demo -k 5
	$(BIN)/semsearch search "gene expression in cancer cells" --index indexes/demo -k 5 --mode dense
	$(BIN)/semsearch eval --index indexes/demo --queries examples/scifact-sample/queries.jsonl \
		--qrels examples/scifact-sample/qrels/test.tsv

test: install-dev
	$(BIN)/python -m pytest -q -m "not slow"

test-all: install-dev
	$(BIN)/python -m pytest -q

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) indexes/demo .pytest_cache .ruff_cache
