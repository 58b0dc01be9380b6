"""Experiments as data: grids of problems, a result store, executors, hyper-parameter tuning."""
