# Every target bootstraps its own virtual environment from a clean clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint mutation bench soak validate clean

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

# Mutation testing of the safety code against the unit tests (docs/safety.md, "Mutation testing"):
# the crisis matcher, the escalation rules and the engine's safety pre-emption. Slow (9 to 35 minutes
# on 2 shared cores, by load), so never part of `make test`; mutmut is installed on first use only.
MUTANTS := 'coachbot.care.trigger_match.*' 'coachbot.care.escalation_rules.*' \
	'coachbot.engine.runner.xǁEngineǁhandle__mutmut_*' 'coachbot.engine.runner.xǁEngineǁ_preempt__mutmut_*' \
	'coachbot.engine.runner.xǁEngineǁ_safety_script__mutmut_*' \
	'coachbot.engine.runner.xǁEngineǁ_start_requested__mutmut_*' \
	'coachbot.engine.runner.xǁEngineǁ_setting_up_after__mutmut_*' \
	'coachbot.engine.runner.xǁEngineǁ__init____mutmut_*'

$(VENV)/.mutation-installed: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,mutation]'
	touch $@

mutation: $(VENV)/.mutation-installed
	$(BIN)/mutmut run --max-children 2 $(MUTANTS)
	$(BIN)/python -m tests.support.mutation_score $(MUTANTS)

validate: $(STAMP)
	$(BIN)/coachbot dialogs validate dialogs

bench: $(STAMP)
	$(BIN)/python -m bench.engine_answer

# The soak with faults (docs/operations.md, "Soak test"): 1,000 patients for 30 simulated days through
# the real bot, killed and restarted, against a fake Telegram that fails; about 10 minutes on 2 cores.
# On PostgreSQL when COACHBOT_TEST_POSTGRES_URL (or a local server) answers, else on SQLite.
soak: $(STAMP)
	$(BIN)/python -m tests.soak

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache coachbot.db demo.db .coachbot-demo mutants
