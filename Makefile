# The two commands of the README: `make demo` and `make test`. Both install what is missing first.
PY ?= .venv/bin/python
DEMO_OUT ?= output/demo

.PHONY: install demo test lint
install: .venv/.installed

.venv/.installed: tools/install.sh requirements.txt setup.py
	bash tools/install.sh
	touch $@

demo: install
	$(PY) train_net.py --config-file configs/Demo/mask_rcnn_R18_FPN_scratch_shapes.yaml OUTPUT_DIR $(DEMO_OUT)

test: install
	$(PY) -m pytest tests

# The import contracts (.importlinter) run in both: here, and in `make test` as
# tests/test_import_contracts.py.
lint: install
	$(PY) -m ruff check scratchdet train_net.py tests tools bench datasets
	$(dir $(PY))lint-imports
