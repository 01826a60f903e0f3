"""Instruction data for supervised fine-tuning: conversations, converters from the public formats, selection."""
