# Every target bootstraps its own virtual environment from a clean clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench validate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/coachbot chat --database-url sqlite+aiosqlite:///demo.db

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The linters are installed on first use only: `make test` and `make demo` do not need them.
$(VENV)/.lint-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,lint]'
	touch $@

lint: $(VENV)/.lint-installed
	$(BIN)/ruff check coachbot tests bench migrations
	$(BIN)/mypy coachbot

validate: $(STAMP)
	$(BIN)/coachbot dialogs validate dialogs

bench: $(STAMP)
	$(BIN)/python -m bench.engine_answer

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache coachbot.db demo.db .coachbot-demo
