"""Measuring speed against the machine's own limit (tools/benchmark.py)."""

MODES = ("train_stage1", "train_stage2", "generate", "input", "teacher")
