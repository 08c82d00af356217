# The two commands of the README: `make train` and `make test` (and `make lint`, which CI runs too). Each creates or refreshes .venv,
# installing the CPU torch wheel first so that no CUDA build is pulled in by a dependency.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.relx-installed
TORCH_VERSION ?= 2.13.0
ARGS ?=

.PHONY: venv train test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

train: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m relx.train $(ARGS)

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n 2 --dist loadscope $(ARGS)

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_training.py --task ner $(ARGS)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_training.py --task relation $(ARGS)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_training.py --task parsing $(ARGS)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_parsing_heads.py $(ARGS)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_qa.py $(ARGS)
	HF_HUB_OFFLINE=1 $(PY) benchmarks/bench_docre.py $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks
	$(PY) -m ruff format --check src tests benchmarks
	$(PY) -m mypy src
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
