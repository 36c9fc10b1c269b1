# The two commands a newcomer needs: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench setup clean

$(STAMP): pyproject.toml
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz (the dot program)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "note: Graphviz 'dot' not found; install it (apt-get install graphviz) to render pictures"; \
	  fi; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/minigrad demo

test: $(STAMP)
	$(PY) -m ruff check minigrad models viz tests bench examples
	$(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check minigrad models viz tests bench examples

bench: $(STAMP)
	$(PY) bench/bench_ops.py

clean:
	rm -rf $(VENV) build *.egg-info
