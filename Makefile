# Thin wrappers: every target creates .venv from the project's own files when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Graded and validated runs keep TensorFlow's start-up chatter off stderr.
export TF_CPP_MIN_LOG_LEVEL ?= 3
export TF_ENABLE_ONEDNN_OPTS ?= 0
export PYTHONDONTWRITEBYTECODE = 1

.PHONY: setup lab lab-instructor release release-check grade demo test test-fast test-image test-image-cuda bench full-run clean

setup: $(STAMP)

# A copied or moved checkout (`cp -a course my-course`) must not run the old checkout's code through
# .venv (editable finder, script shebangs): the stamp records the checkout it was built for, and a
# .venv built for another path is rebuilt. A stamp without a path (older kits) is judged by pip's shebang.
BUILT_FOR := $(shell cat $(STAMP) 2>/dev/null)
ifeq ($(BUILT_FOR),)
BUILT_FOR := $(patsubst %/$(BIN)/python,%,$(shell sed -n '1s/^.!//p' $(BIN)/pip 2>/dev/null))
endif
ifneq ($(wildcard $(STAMP)),)
ifneq ($(BUILT_FOR),$(CURDIR))
.PHONY: $(STAMP)
endif
endif

$(STAMP): pyproject.toml constraints.txt
	@if [ -e $(STAMP) ] && [ "$(BUILT_FOR)" != "$(CURDIR)" ]; then echo "note: .venv was built for $(or $(BUILT_FOR),another checkout); rebuilding it for $(CURDIR)"; rm -rf $(VENV); fi
	@# system packages: bubblewrap (the autograder's sandbox), chromium (browser tests),
	@# postgresql (the shared-gradebook tests start a server of their own; Debian keeps initdb off PATH)
	@command -v bwrap >/dev/null && command -v chromium >/dev/null && { command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq bubblewrap chromium postgresql >/dev/null; } || echo "note: install bubblewrap, chromium and postgresql (apt-get install bubblewrap chromium postgresql) for sandboxed grading, browser tests and the PostgreSQL gradebook tests"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	echo "$(CURDIR)" > $(STAMP)

# The student's Lab: nbgrader's instructor tools (Formgrader, Create Assignment, course and
# assignment lists) are off and widget state is saved with the notebook (jupyter-config/student).
lab: $(STAMP)
	JUPYTER_CONFIG_PATH=$(CURDIR)/jupyter-config/student $(BIN)/jupyter lab release/

# The instructor's Lab on the whole repository, with every nbgrader extension.
lab-instructor: $(STAMP)
	$(BIN)/jupyter lab .

release: $(STAMP)
	$(BIN)/autograder release

release-check: $(STAMP)
	$(BIN)/autograder release --check

grade: $(STAMP)
	$(BIN)/autograder grade $(SUBMITTED) --out $(or $(OUT),graded)

demo: $(STAMP)
	$(BIN)/autograder demo

test: $(STAMP)
	@# two test workers on two cores: one BLAS thread each, or OpenBLAS threads spin against each other
	@# the full-mode run of every lesson takes tens of minutes: skipped here, with this reason printed
	DLBRICKS_SKIP_FULL_RUN="every lesson in full mode takes tens of minutes on 2 cores: run make full-run (logs in benchmarks/results/full_run/)" DLBRICKS_QUICK=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadgroup --durations=20

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-image:
	docker/test-image.sh

# the GPU variant (tensorflow[and-cuda]); run on the GPU too where the host has one
test-image-cuda:
	IMAGE_TEST_VARIANT=cuda docker/test-image.sh

bench: $(STAMP)
	for b in benchmarks/*.py; do [ "$$b" = benchmarks/full_run.py ] && continue; echo "== $$b"; $(BIN)/python $$b || exit 1; done

# every lesson in full mode (quick mode off, as students run them): wall time per lesson and
# the printed numbers go to benchmarks/results/full_run/ (tens of minutes on two cores)
full-run: $(STAMP)
	env -u DLBRICKS_QUICK -u DLBRICKS_SKIP_FULL_RUN $(BIN)/python -m pytest tests/notebooks/test_full_run.py -p no:xdist -p no:cacheprovider -v -s

clean:
	rm -rf $(VENV) build *.egg-info
