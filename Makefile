# Each target sets up what it needs first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
RUN := source ./env.sh &&

.PHONY: setup demo test benchmark pretrain train-au evaluate-au evaluate-emotions clean
setup:
	@bash scripts/setup.sh

# README command 1: the pipeline's nodes on a sample clip.
demo: setup
	@$(RUN) python scripts/demo.py

# README command 2: the whole test suite (needs ../shared beside the checkout).
test: setup
	@$(RUN) python -m pytest emotion_ros/test

benchmark: setup
	@$(RUN) python scripts/benchmark_detector.py && python scripts/benchmark_au.py && \
		python scripts/benchmark_emotion.py

# The AU model (hours on 2 cores; each resumes where it stopped). See the model card.
pretrain: setup
	@$(RUN) python -m emotion_ros.training.train pretrain --out runs/pretrain --epochs 15

train-au: setup
	@$(RUN) python -m emotion_ros.training.train au --base artifacts/fer2013_pretrain/best.keras \
		--out runs/au --epochs 6 --steps 100 --export emotion_ros/emotion_ros/models/au_model

evaluate-au: setup
	@$(RUN) python -m emotion_ros.training.evaluate --epochs 6 --steps 100

evaluate-emotions: setup
	@$(RUN) python -m emotion_ros.training.evaluate_emotions

clean:
	rm -rf build install log .venv env.sh output
