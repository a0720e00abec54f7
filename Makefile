# The two commands: `make test` and `make demo`. Both create .venv/ on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "covsev: installing covsev and its dependencies into $(VENV) (first run: about 2-3 minutes; pip reports each package)"
	$(BIN)/python -m pip install --progress-bar on -e '.[test,hub]'
	if command -v npm >/dev/null; then npm install --silent --prefix $(VENV)/node configurable-http-proxy; \
	else echo "npm not found: install nodejs and npm for covsev hub (its tests skip)"; fi
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/covsev demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
