"""Finite-size simulation backend (being written)."""


def simulate(data, teacher, student=None, *, n_features=1000, seeds=range(10), **kwargs):
    raise NotImplementedError
