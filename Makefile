# The README's two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
PIP := $(PYTHON) -m pip

.PHONY: install demo test test-slow

install:
	$(PIP) install -q -c constraints.txt -e ".[test,plots]"

demo: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m barlow_speech.cli demo --output_dir demo_output

test: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q

test-slow: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q -m slow
