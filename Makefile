# Two commands on a fresh machine (Python 3.11+ and make):
#   make demo   create the environment if needed, generate the bundled synthetic data, run the pipeline
#   make test   run the tests (make test-fast: all but the whole-pipeline runs, the developer's loop)
#   make bench SCALE=10000000 [THREADS=2] [MEMORY_LIMIT=20GB] [REPEATS=1]
#               the benchmark suite (benchmarks/suite.py --help): prints one table, updates benchmarks/RESULTS.md
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat constraints.txt pyproject.toml | cksum | cut -d' ' -f1)
DEMO_INPUT := data/sample/input
DEMO_OUT   := out/demo
DEMO_HOME  := $(CURDIR)/$(DEMO_OUT)/.dagster

.PHONY: demo test test-fast env ui bench bench-ui clean

env: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	@rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP)
	$(BIN)/asm generate --out $(DEMO_INPUT) --scale small --seed 42
	DAGSTER_HOME=$(DEMO_HOME) $(BIN)/asm run --input $(DEMO_INPUT) --out $(DEMO_OUT)

TEST_WORKERS ?= 3
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# The developer's loop: every test but those that run the whole pipeline (tests/conftest.py marks them)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup -m "not pipeline"

SCALE        ?= 1000000
THREADS      ?= 2
MEMORY_LIMIT ?=
REPEATS      ?=
bench: $(STAMP)
	$(BIN)/python benchmarks/suite.py --scale $(SCALE) --threads $(THREADS) \
		$(if $(MEMORY_LIMIT),--memory-limit $(MEMORY_LIMIT)) $(if $(REPEATS),--repeats $(REPEATS))

# The Dagster UI on the demo data (http://127.0.0.1:3000), on the instance `asm run` recorded the demo
# run in (OUT/.dagster): its materializations, metadata and checks; runs launched here or by the schedule
# write to the same OUT and the same instance.
ui: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[ui]"
	mkdir -p $(DEMO_HOME) && test -f $(DEMO_HOME)/dagster.yaml || cp dagster.yaml $(DEMO_HOME)/dagster.yaml
	DAGSTER_HOME=$(DEMO_HOME) ASM_INPUT_DIR=$(CURDIR)/$(DEMO_INPUT) ASM_OUT_DIR=$(CURDIR)/$(DEMO_OUT) \
		$(BIN)/dagster dev -m assets.definitions

# A run launched from the UI (GraphQL) against `asm run` on the demo input (prints the ratio)
bench-ui: $(STAMP)
	$(BIN)/python benchmarks/bench_ui_vs_cli.py --input $(CURDIR)/$(DEMO_INPUT)

clean:
	rm -rf out data/sample .dagster_home
