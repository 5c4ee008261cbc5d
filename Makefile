# The two commands a new user needs: `make demo` and `make test`. Both create .venv when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test test-fast bench lint clean

setup:
	@VENV=$(VENV) bash scripts/setup_venv.sh

# The run prints Table 2; the second table is every result's following rate and accuracy, per arm and variant.
demo: setup
	$(VENV)/bin/seqtune run configs/demo.yaml
	@awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) col[$$i] = i} \
	    {print $$col["Model"], $$col["Task"], $$col["Variant"], $$col["Lang"], $$col["n"], $$col["following_rate"], $$col["accuracy"]}' \
	    runs/demo/report/results.csv | column -t

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

bench: setup
	$(PY) benchmarks/augment_speed.py
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/generate_throughput.py
	$(PY) benchmarks/score_speed.py

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/ruff format --check src tests benchmarks scripts

clean:
	rm -rf runs .pytest_cache .ruff_cache
