# The two commands a new user needs: `make demo` and `make test`. Both create .venv when it is missing.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test test-fast bench lint clean

setup:
	@VENV=$(VENV) bash scripts/setup_venv.sh

# Every result's following rate and accuracy, per arm and variant, from a report's results.csv.
SHOW_RESULTS = awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) col[$$i] = i} \
    {print $$col["Model"], $$col["Task"], $$col["Variant"], $$col["Lang"], $$col["n"], $$col["following_rate"], $$col["accuracy"]}'

# Text (headline: Table 5), then vision (Table 4, on the ShapeWorld images built first); each run prints its table, then
# every result's following rate and accuracy.
demo: setup
	$(VENV)/bin/seqtune run configs/demo.yaml
	@$(SHOW_RESULTS) runs/demo/report/results.csv | column -t
	$(PY) -m seqtune.shapeworld runs/shapeworld --train-images 1000 --val-images 100 --jitter 0 --plain-captions
	$(VENV)/bin/seqtune run configs/demo_vqa.yaml
	@$(SHOW_RESULTS) runs/demo_vqa/report/results.csv | column -t

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
