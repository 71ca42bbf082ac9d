# Quick start:   make demo    (install, then run `ebm demo`)
#                make test    (install with test tools, then run the default test suite)
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install install-dev demo test test-slow test-slow-avx2 bench clean install-docs docs docs-test notebooks

install:
	@scripts/install.sh

install-dev:
	@scripts/install.sh dev

demo: install
	$(VENV)/bin/ebm demo --out out/demo

# pytest exits 5 when it collects no test; treat only that as failure-free "nothing to run".
test: install-dev
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

# The slow suite: long statistical and training tests (thresholds set from the spread over seeds).
test-slow: install-dev
	$(PY) -m pytest -q -m slow; rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests collected"; exit 0; fi; exit $$rc

# The slow suite again on PyTorch's AVX2 kernels (what an AMD EPYC or an older Intel CPU runs), so
# a threshold that only the AVX-512 kernels' rounding passes shows up on any x86 machine. Inductor
# gets its own cache: reusing the default run's compiled kernels under ATEN_CPU_CAPABILITY=avx2
# gave NaN chains and a segfault in the torch.compile tests; with a separate cache they pass.
INDUCTOR_AVX2_CACHE ?= $(or $(TMPDIR),/tmp)/ebm-playground-inductor-avx2
test-slow-avx2: install-dev
	ATEN_CPU_CAPABILITY=avx2 EBM_NATIVE_MARCH=x86-64-v3 TORCHINDUCTOR_CACHE_DIR=$(INDUCTOR_AVX2_CACHE) $(PY) -m pytest -q -m slow; rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests collected"; exit 0; fi; exit $$rc

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
