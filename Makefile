# The two commands of the README. Both set up .venv first (idempotent).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup grade test
setup:
	@bash scripts/setup.sh

# Grade a submission (default: the reference solutions, which score full marks).
SUBMISSION ?= solutions
grade: setup
	@$(VENV)/bin/llmgrade grade $(SUBMISSION)

# The project's own suite: verdict rules, attacks, nbgrader end to end, mutants.
test: setup
	@$(PY) -m pytest qa
