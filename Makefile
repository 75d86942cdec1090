# Each target sets up what it needs first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
RUN := source ./env.sh &&

.PHONY: setup demo test test-compat benchmark pretrain train-au evaluate-au evaluate-emotions \
	fit-pain evaluate-pain clean
setup:
	@bash scripts/setup.sh

# README command 1: the pipeline's nodes on a sample clip.
demo: setup
	@$(RUN) python scripts/demo.py

# README command 2: the whole test suite (needs ../shared beside the checkout), then the
# compatibility job.
test: setup
	@$(RUN) source scripts/ros2_tools_env.sh && python -m pytest emotion_ros/test
	@$(MAKE) --no-print-directory test-compat

# The core and node tests on the oldest supported numpy, SciPy, scikit-learn, OpenCV and
# OpenVINO (requirements-minimum.txt, installed into .cache/compat and put ahead of .venv's
# libraries; scripts/setup_compat.sh says why a folder).
COMPAT_TESTS := $(addprefix emotion_ros/test/test_,$(addsuffix .py,compat emotion_core \
	face_detection tracking alignment image_conversion messages config au_model \
	openvino_backend face_detector_node au_estimator_node emotion_node care_speaker_node \
	emotion_chain composed reliability stage_health replay launch))
test-compat: setup
	@bash scripts/setup_compat.sh
	@$(RUN) source scripts/ros2_tools_env.sh && EMOTION_ROS_COMPAT=1 PYTHONPATH="$$PWD/.cache/compat:$$PYTHONPATH" \
		python -m pytest $(COMPAT_TESTS)

benchmark: setup
	@$(RUN) python scripts/benchmark_detector.py && python scripts/benchmark_au.py && \
		python scripts/benchmark_emotion.py

# The AU model (see its model card). Stage 1, the base, learns expressions from the FER+
# votes: 24 epochs of one cosine, a quarter of the faces shrunk to 16-40 px (~30 minutes on
# 2 cores here); resumable: run it again after an interruption. The shipped base is its
# best.keras, kept in artifacts/ferplus_base/. Stage 2 trains the AU and emotion heads on the
# frozen base's features.
pretrain: setup
	@$(RUN) python -m emotion_ros.training.train pretrain --out runs/ferplus_base --epochs 24 \
		--low-resolution 0.25

train-au: setup
	@$(RUN) python -m emotion_ros.training.train au --out runs/au \
		--export emotion_ros/emotion_ros/models/au_model && \
		python -m emotion_ros.training.export_openvino && \
		python -m emotion_ros.training.build_emotion_knn --out emotion_ros/emotion_ros/models/emotion_knn.npz && \
		python -m emotion_ros.training.fit_pain

evaluate-au: setup
	@$(RUN) python -m emotion_ros.training.evaluate

evaluate-emotions: setup
	@$(RUN) python -m emotion_ros.training.evaluate_emotions && \
		python -m emotion_ros.training.evaluate_sizes

fit-pain: setup
	@$(RUN) python -m emotion_ros.training.fit_pain

evaluate-pain: setup
	@$(RUN) python -m emotion_ros.training.evaluate_pain

clean:
	rm -rf build install log .venv env.sh output
