# Each target sets up what it needs first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
RUN := source ./env.sh &&

.PHONY: setup demo test benchmark clean
setup:
	@bash scripts/setup.sh

# README command 1: the pipeline's nodes on a sample clip.
demo: setup
	@$(RUN) python scripts/demo.py

# README command 2: the whole test suite (needs ../shared beside the checkout).
test: setup
	@$(RUN) python -m pytest emotion_ros/test

benchmark: setup
	@$(RUN) python scripts/benchmark_detector.py

clean:
	rm -rf build install log .venv env.sh output
