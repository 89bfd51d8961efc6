# The two commands: `make demo` runs the quickstart job on bundled data, `make test` runs
# the checks and the quick tests (a few minutes); `make test-slow` runs the tests marked
# slow (real Ray clusters, corpora, a browser, killed runs; CI runs both, .ci/run). All
# build .venv on first use (and again when pyproject.toml or the constraints change), so
# they work on a fresh clone.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# KenLM's trainer (lmplz) and build_binary, built from the kenlm sdist on PyPI; pip ships
# only its query module.
KENLM_VERSION := 0.3.0
KENLM_SRC := $(VENV)/src/kenlm-$(KENLM_VERSION)
LMPLZ := $(BIN)/lmplz
PYTHON ?= python3
# The CPU build of torch lies here on these machines; elsewhere pip uses the index.
export PIP_FIND_LINKS ?= /opt/wheels

# Debian packages the engines need; installed once, only those missing (root or sudo).
# chromium + chromium-driver: the report test renders report.html in a headless browser.
# cmake, g++, boost, zlib/bz2/lzma: building KenLM's lmplz and build_binary.
SYSTEM_PACKAGES := libmagic1 chromium chromium-driver \
	cmake g++ libboost-program-options-dev libboost-system-dev libboost-thread-dev \
	libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev locales
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test test-slow lint install system clean

install: $(STAMP) $(LMPLZ)

system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): pyproject.toml constraints.txt | system
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Built once (about 10 minutes on 2 busy cores, 2 of CPU time); the binaries are the stamp, so reruns skip it.
$(LMPLZ): | $(STAMP)
	rm -rf $(KENLM_SRC) && mkdir -p $(VENV)/src
	$(BIN)/python -m pip download --quiet --no-deps --no-binary kenlm --no-build-isolation \
		-d $(VENV)/src 'kenlm==$(KENLM_VERSION)'
	tar -xzf $(VENV)/src/kenlm-$(KENLM_VERSION).tar.gz -C $(VENV)/src
	cmake -S $(KENLM_SRC) -B $(KENLM_SRC)/build -DCMAKE_BUILD_TYPE=Release
	cmake --build $(KENLM_SRC)/build --target lmplz build_binary -j2
	install -m 755 $(KENLM_SRC)/build/bin/build_binary $(BIN)/
	install -m 755 $(KENLM_SRC)/build/bin/lmplz $(LMPLZ)

# The demo starts over each time (`--fresh`, `--resume none`): runs/ left by an earlier
# version's quickstart config would otherwise be refused as a run of another config.
demo: install
	$(BIN)/tokenmill run configs/quickstart.yaml --fresh
	@echo "documents: runs/quickstart/documents/   tokens: runs/quickstart/tokens/   report: runs/quickstart/report/report.json"
	$(BIN)/tokenmill train configs/train-tiny.yaml --resume none --sample "The lighthouse"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -m "not slow"

test-slow: install
	$(BIN)/pytest -m slow

clean:
	rm -rf $(VENV) runs .pytest_cache
