# edgecnn: `make demo` runs the whole pipeline, `make test` runs the tests.
# Both set everything up on a fresh machine (a .venv with every extra, the data set).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo
PRESET ?= tiny
APT    := $(shell command -v apt-get 2>/dev/null)
ROOT   := $(shell [ "$$(id -u)" = 0 ] && echo yes)

.PHONY: install data system-deps demo docs test test-fast lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[train,device,mqtt,dev]"
	touch $@

# Finds Fashion-MNIST; installs Debian's package when we are root with apt; else says how.
data: install
	@if $(BIN)/python -c "from edgecnn.data import locate_data; locate_data('train', download=False); locate_data('test', download=False)" 2>/dev/null; then \
		echo "data: Fashion-MNIST found"; \
	elif [ -n "$(APT)" ] && [ -n "$(ROOT)" ]; then \
		echo "data: installing Debian's dataset-fashion-mnist"; \
		apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	else \
		echo "data: Fashion-MNIST not found. Get it with 'sudo apt-get install dataset-fashion-mnist'"; \
		echo "      or put the IDX files in a folder and set EDGECNN_DATA=DIR; edgecnn train will"; \
		echo "      otherwise try the Keras downloader."; \
	fi

# What the tests use besides Python packages: headless Chromium (the --serve page test),
# Debian's mosquitto MQTT broker, which the --mqtt tests start on 127.0.0.1 themselves, and
# openssl (their TLS certificates). Installed when we are root with apt (RUNLEVEL=1: no
# mosquitto service is started); otherwise named.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	if [ -z "$$missing" ]; then :; \
	elif [ -n "$(APT)" ] && [ -n "$(ROOT)" ]; then \
		echo "system-deps: installing$$missing"; \
		apt-get update -qq && RUNLEVEL=1 apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "system-deps: the tests need Debian's$$missing (sudo apt-get install$$missing)"; \
	fi

demo: data
	$(BIN)/edgecnn train --preset $(PRESET) --out $(OUT)
	$(BIN)/edgecnn convert $(OUT)/model.keras --out $(OUT)/model.tflite
	$(BIN)/edgecnn verify $(OUT)/model.tflite --keras $(OUT)/model.keras --report $(OUT)/verify
	$(BIN)/python -m edgecnn.device.synthvideo --out $(OUT)/items.mp4 --style light-on-dark --items 60
	$(BIN)/edgecnn run --model $(OUT)/model.tflite --source $(OUT)/items.mp4 --json \
		--record $(OUT)/annotated.mp4 > $(OUT)/predictions.jsonl
	@echo "demo: $$(wc -l < $(OUT)/predictions.jsonl) frames classified -> $(OUT)/predictions.jsonl, $(OUT)/annotated.mp4"
	$(BIN)/edgecnn explain --model $(OUT)/model.tflite --model $(OUT)/model.keras --test-index 0 --out $(OUT)/explain

# The README's figure: what the demo model sees, int8 and float side by side (after `make demo`).
docs: install
	$(BIN)/edgecnn explain --model $(OUT)/model.tflite --model $(OUT)/model.keras --test-index 0 --out $(OUT)/explain
	mkdir -p docs
	cp $(OUT)/explain/overview.png docs/.explain-overview.png.tmp && mv docs/.explain-overview.png.tmp docs/explain-overview.png

test: data system-deps
	$(BIN)/python -m pytest

# The same without the tests marked slow (full-data training, all 10,000 test images).
test-fast: data system-deps
	$(BIN)/python -m pytest -m "not slow"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: data
	$(BIN)/python -m bench.run_all

clean:
	rm -rf out bench/results/*.json .pytest_cache .ruff_cache .hypothesis
