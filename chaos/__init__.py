"""Fault injection: the chain and the trainer under corrupted input, killed processes, full disks and bad
configs (``make chaos``; ``tests/test_chaos.py`` runs a few trials of each)."""
