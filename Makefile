# edgecnn: `make demo` runs the whole pipeline, `make test` runs the tests.
# Both set everything up on a fresh machine (a .venv with every extra, the data set).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out/demo
PRESET ?= tiny
APT    := $(shell command -v apt-get 2>/dev/null)
ROOT   := $(shell [ "$$(id -u)" = 0 ] && echo yes)
IS_PI  ?= $(shell grep -qs "Raspberry Pi" /proc/device-tree/model && echo yes)

.PHONY: install data system-deps demo demo-page demo-own docs test test-fast lint format bench clean wheel device-install pi-check

install: $(VENV)/.installed

# Every extra, TensorFlow included: a workstation's set-up. A Raspberry Pi stops here (make
# demo and make test need it too) and is told about device-install.
$(VENV)/.installed: pyproject.toml
	@if [ -n "$(IS_PI)" ] && [ -z "$(WITH_TENSORFLOW)" ]; then \
		echo "install: this is a Raspberry Pi: 'make device-install' sets up edgecnn run, verify and bench without TensorFlow; train and convert on a workstation (or make install WITH_TENSORFLOW=1)" >&2; \
		exit 1; \
	fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[train,device,mqtt,micro,dev]"
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
# Debian's mosquitto MQTT broker, which the --mqtt tests start on 127.0.0.1 themselves,
# openssl (their TLS certificates) and systemd-analyze (the service unit test). Installed
# when we are root with apt (RUNLEVEL=1: no mosquitto service is started); otherwise named.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	if [ -z "$$missing" ]; then :; \
	elif [ -n "$(APT)" ] && [ -n "$(ROOT)" ]; then \
		echo "system-deps: installing$$missing"; \
		apt-get update -qq && RUNLEVEL=1 apt-get install -y -qq $$missing >/dev/null; \
	else \
		echo "system-deps: the tests need Debian's$$missing (sudo apt-get install$$missing)"; \
	fi

# The wheel a Raspberry Pi installs (README "On the Raspberry Pi"): dist/edgecnn-*.whl
wheel: install
	$(BIN)/pip wheel --no-deps --quiet -w dist .

# The device's own set-up, never TensorFlow (docs/raspberry-pi.md). DEVICE_EXTRA is what pip
# adds to the OS, chosen by device/install_extra.py as the docs do by hand:
#   device          NumPy, OpenCV and ai-edge-litert from PyPI, in a plain venv (64-bit)
#   litert          ai-edge-litert beside the OS's NumPy, OpenCV and Picamera2 (64-bit)
#   tflite-runtime  tflite-runtime beside the OS's NumPy and OpenCV (32-bit Pi OS 12)
#   none            no runtime has a wheel (32-bit Pi OS 13, ARMv6 Pi 1/Zero): the wheel alone,
#                   the OS's NumPy and OpenCV, and edgecnn's NumPy backend
# All but device make a --system-site-packages venv and pin NumPy to the OS's.
DEVICE_VENV  ?= .venv-device
DEVICE_FROM  ?= .
DEVICE_EXTRA ?= $(shell $(PYTHON) device/install_extra.py)

device-install:
	@if [ "$(DEVICE_EXTRA)" = device ]; then \
		$(PYTHON) -m venv "$(DEVICE_VENV)"; \
	elif $(PYTHON) -c "import numpy, cv2" 2>/dev/null; then \
		$(PYTHON) -m venv --system-site-packages "$(DEVICE_VENV)"; \
	else \
		echo "device-install: $(DEVICE_EXTRA) uses the OS's NumPy and OpenCV: sudo apt install python3-numpy python3-opencv" >&2; \
		exit 1; \
	fi
	"$(DEVICE_VENV)/bin/pip" install --quiet "$(DEVICE_FROM)$(if $(filter none,$(DEVICE_EXTRA)),,[$(DEVICE_EXTRA)])" \
		$(if $(filter device,$(DEVICE_EXTRA)),,"numpy==$$($(PYTHON) -c 'import numpy; print(numpy.__version__)')")
	@echo "device-install: $(DEVICE_VENV) ($(DEVICE_EXTRA), no TensorFlow): $(DEVICE_VENV)/bin/edgecnn doctor, then $(DEVICE_VENV)/bin/edgecnn run --model MODEL --source 0"

# edgecnn on Raspberry Pi OS 13 and 12, 64-bit, 32-bit and ARMv6, in Debian's ARM userlands
# under qemu-user (tests/pi/, docs/raspberry-pi.md; make test runs it too, on the test run's
# model). Downloads are cached in ~/.cache/edgecnn/pi (or $$EDGECNN_CACHE/pi). PI_CHECK passes
# options, e.g. PI_CHECK="--profiles trixie-armhf" or PI_CHECK="--cpu default".
pi-check: data
	$(BIN)/python tests/pi/pi_check.py $(PI_CHECK)

demo: data
	$(BIN)/edgecnn train --preset $(PRESET) --out $(OUT)
	$(BIN)/edgecnn convert $(OUT)/model.keras --out $(OUT)/model.tflite
	$(BIN)/edgecnn verify $(OUT)/model.tflite --keras $(OUT)/model.keras --report $(OUT)/verify
	$(BIN)/python -m edgecnn.demo.synthvideo --out $(OUT)/items.mp4 --style light-on-dark --items 60
	$(BIN)/edgecnn run --model $(OUT)/model.tflite --source $(OUT)/items.mp4 --json \
		--record $(OUT)/annotated.mp4 > $(OUT)/predictions.jsonl
	@echo "demo: $$(wc -l < $(OUT)/predictions.jsonl) frames classified -> $(OUT)/predictions.jsonl, $(OUT)/annotated.mp4"
	$(BIN)/edgecnn explain --model $(OUT)/model.tflite --model $(OUT)/model.keras --test-index 0 --out $(OUT)/explain

# The page on the demo video (README "What make demo does"): played at its own pace, looped,
# served on PAGE until Ctrl-C. Made by make demo first when it is not there.
PAGE ?= 127.0.0.1:8000

demo-page:
	@[ -f $(OUT)/model.tflite ] && [ -f $(OUT)/items.mp4 ] || $(MAKE) demo
	$(BIN)/edgecnn run --model $(OUT)/model.tflite --source $(OUT)/items.mp4 --loop --serve $(PAGE)

# Your own objects (README "Your own objects"), on generated videos of five classes that are
# not garments: capture about 30 images per class from a video per class, fine-tune the tiny
# model on them, convert, verify, then classify a video of *other* instances of the classes
# and print the top-1 accuracy. OWN_BASE is made first when it is not there; OWN_SEED draws
# other objects (bench/own_objects.py runs several).
OWN       ?= out/own
OWN_BASE  ?= out/tiny/model.keras
OWN_SEED  ?= 0
OWN_CLASSES := arrow gear hand key wrench

$(OWN_BASE): | data
	$(BIN)/edgecnn train --preset tiny --out $(dir $(OWN_BASE))

demo-own: data $(OWN_BASE)
	rm -rf $(OWN)/dataset  # capture appends: a fresh data set each time
	$(BIN)/python -m edgecnn.demo.objectvideo videos --out $(OWN)/videos --instances 30 \
		--frames-per-instance 2 --seed $(OWN_SEED)
	$(BIN)/python -m edgecnn.demo.objectvideo heldout --out $(OWN)/heldout.mp4 --instances 20 --seed $(OWN_SEED)
	for c in $(OWN_CLASSES); do \
		$(BIN)/edgecnn capture --source $(OWN)/videos/$$c.mp4 --out $(OWN)/dataset --label $$c --every 2 --no-display || exit 1; \
	done
	$(BIN)/edgecnn train --images $(OWN)/dataset --base $(OWN_BASE) --out $(OWN)/model
	$(BIN)/edgecnn convert $(OWN)/model/model.keras
	$(BIN)/edgecnn verify $(OWN)/model/model.tflite --keras $(OWN)/model/model.keras
	$(BIN)/edgecnn run --model $(OWN)/model/model.tflite --source $(OWN)/heldout.mp4 --json \
		--record $(OWN)/annotated.mp4 > $(OWN)/predictions.jsonl
	$(BIN)/python -m edgecnn.demo.objectvideo score --truth $(OWN)/heldout.truth.json \
		--predictions $(OWN)/predictions.jsonl --json-out $(OWN)/score.json

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

# Every benchmark (bench/run_all.py), then docs/benchmarks.md and the README's figures block
# rendered from bench/results/ (bench/report.py; `python -m bench.report` renders them again).
bench: data
	$(BIN)/python -m bench.run_all

clean:
	rm -rf out bench/results/*.json .pytest_cache .ruff_cache .hypothesis
