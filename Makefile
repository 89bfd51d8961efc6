# The two commands: `make demo` runs the quickstart job on bundled data, `make test` runs
# the checks. Both build .venv on first use (and again when pyproject.toml or the
# constraints change), so they work on a fresh clone.
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTHON ?= python3
# The CPU build of torch lies here on these machines; elsewhere pip uses the index.
export PIP_FIND_LINKS ?= /opt/wheels

# Debian packages the engines need; installed once, only those missing (root or sudo).
# chromium + chromium-driver: the report test renders report.html in a headless browser.
SYSTEM_PACKAGES := libmagic1 chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint install system clean

install: $(STAMP)

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

demo: $(STAMP)
	$(BIN)/tokenmill run configs/quickstart.yaml
	@echo "documents: runs/quickstart/documents/   tokens: runs/quickstart/tokens/   report: runs/quickstart/report/report.json"
	$(BIN)/tokenmill train configs/train-tiny.yaml --sample "The lighthouse"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
