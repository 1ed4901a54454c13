"""Runs: the one run path (one or two phases, self-training rounds, evaluation), the LazyConfig
path, the own-data command (tools/train_own_data.py), output folders."""
