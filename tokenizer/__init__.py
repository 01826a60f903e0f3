"""Byte-level BPE tokenizer and its compression-rate report."""
