"""The Tele-FLM trainer: model, muP, parallelism, evaluation (issues 5 and 6)."""
