"""The Tele-FLM trainer: model, muP, parallelism, checkpoints, evaluation and export."""
