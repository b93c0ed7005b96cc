# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Both create .venv on first use and install the project from pyproject.toml.
VENV ?= .venv
PY := $(VENV)/bin/python
JAZZGEN := $(VENV)/bin/jazzgen
PYTHON ?= python3

.PHONY: demo test lint bench audio-deps clean default-model default-dynamics

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# The main job on the bundled corpus (456 WJD solos): preprocess, a few minutes of training,
# then solos from that run and from the bundled default model.
demo: $(VENV)/.installed
	$(JAZZGEN) run pipelines/demo.toml
	$(JAZZGEN) generate -o out/demo/default-model.mid -n 2 --seed 1
	$(JAZZGEN) generate -o out/demo/blues.mid --chords "Bb7 | Eb7 | Bb7 | Fm7 Bb7 | Eb7 | Edim7 | Bb7 G7 | Cm7 F7"
	@echo
	@echo "MIDI files to open:"
	@ls -1 runs/demo/samples/*.mid out/demo/*.mid

# The whole suite; pytest's exit code 5 ("no tests collected") is not a failure of the project.
test: $(VENV)/.installed
	$(PY) -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; else exit $$rc; fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check jazzgen tests benchmarks

bench: $(VENV)/.installed
	$(PY) benchmarks/generate_latency.py
	$(PY) benchmarks/sample_throughput.py

# Optional: real instruments for --wav (otherwise a built-in synthesizer is used). Debian/Ubuntu.
audio-deps:
	apt-get install -y fluidsynth fluid-soundfont-gm

# Rebuild the bundled default model from its recipe (about 4 minutes on 2 CPU cores).
MODEL_FILES := config.json vocab.json task.json run.json changes.json articulation.json dynamics.json export.npz history.csv curves.png
default-model: $(VENV)/.installed
	$(JAZZGEN) run pipelines/wjd.toml
	mkdir -p jazzgen/assets/default_model
	cd runs/wjd && cp $(MODEL_FILES) ../../jazzgen/assets/default_model/

# The bundled model's dynamics.json without retraining it: the corpus preprocessed again from the
# velocity-carrying MIDI (same ids), the table fitted on the model's own training pieces.
default-dynamics: $(VENV)/.installed
	$(JAZZGEN) preprocess --pipeline pipelines/wjd.toml
	$(JAZZGEN) learn-dynamics corpora/wjd jazzgen/assets/default_model

clean:
	rm -rf runs out corpora .pytest_cache
