"""One static, self-contained HTML page per run: the data funnel with rejected examples, documents per
language and domain, quality scores, near-duplicates and decontamination, the mixture, the tokenizer's
compression, the token shards and the training runs, read from the files the chain and the trainer
already write (nothing is recomputed). The page has its style inline and its charts as inline SVG: it
opens from disk with no network and no script.

    python -m report --run out/demo [--out out/demo/report/index.html] [--train-run DIR ...]
"""
