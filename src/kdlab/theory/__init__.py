"""Asymptotic theory (issue 3): being written; ``solve`` is not available yet."""


def solve(data, teacher, student=None, **kwargs):
    raise NotImplementedError("kdlab.theory.solve is not implemented yet")
