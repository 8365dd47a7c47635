# Two commands for a fresh machine (Python >= 3.10 with venv):
#   make demo   set up .venv, train the default zoo model on the bundled data, evaluate it
#   make test   set up .venv, run the test suite
#   make docs   the documentation site into docs/_build/html (Sphinx, warnings are errors)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN ?= runs/demo
DEMO_EPOCHS ?= 30

.PHONY: demo test docs setup clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: setup
	rm -rf $(RUN)
	$(BIN)/pyro-vae train --model vae --dataset mnist5k --epochs $(DEMO_EPOCHS) --batch-size 20 --out $(RUN)
	$(BIN)/pyro-vae evaluate $(RUN) --k 1000
	@echo "pictures and numbers are in $(RUN)/ (samples, reconstructions, traversals, interpolations, kl_per_dimension, training_curve .png; eval.json)"

test: setup
	$(BIN)/python -m pytest -q

docs: setup
	$(BIN)/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html
	@echo "the documentation is in docs/_build/html/index.html"

clean:
	rm -rf $(VENV) runs build *.egg-info docs/_build
