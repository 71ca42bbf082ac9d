# Quick start:   make demo    (install, then run `ebm demo`)
#                make test    (install with test tools, then run the default test suite)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install install-dev demo test test-slow bench clean install-docs docs docs-test notebooks

install:
	@scripts/install.sh

install-dev:
	@scripts/install.sh dev

demo: install
	$(VENV)/bin/ebm demo --out out/demo

# pytest exits 5 when it collects no test; treat only that as failure-free "nothing to run".
test: install-dev
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

test-slow: install-dev
	$(PY) -m pytest -q -m slow; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

install-docs:
	@scripts/install.sh docs

# The documentation site, built strictly (every warning is an error) into site/. The gallery runs
# the numbered examples (about 10 minutes on a 2-core machine; cached in .cache/docs-gallery/).
docs: install-docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# The strict build, the API-coverage test, the browser test and the notebook tests (marker `docs`).
docs-test: install-docs install-dev
	$(PY) -m pytest -q -m docs tests/test_docs.py tests/test_notebooks.py

# Resync every notebook with its paired .py source, then execute them all (small settings).
notebooks: install-docs install-dev
	$(VENV)/bin/jupytext --sync notebooks/[0-9][0-9]_*.py
	$(PY) -m pytest -q -m docs tests/test_notebooks.py

clean:
	rm -rf $(VENV) out .pytest_cache site .cache/docs-gallery
