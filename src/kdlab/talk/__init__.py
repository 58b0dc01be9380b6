"""The talk's results, one module per figure (parameters, computation, plot and claim), the
computed report (:mod:`kdlab.talk.report`) and the pipeline that writes them
(:func:`reproduce`, :func:`make_figure`, :func:`figure`).

Adding a figure: write ``kdlab/talk/<module>.py`` defining ``FIGURE`` (a
:class:`~kdlab.talk._core.Figure`) and add its module name to the registry below (one line).
"""

from __future__ import annotations

import importlib

from ._core import Figure, FigureOutput, RunContext


def _registry(*modules: str) -> dict:
    figs = [importlib.import_module(f"{__name__}.{m}").FIGURE for m in modules]
    return {f.name: f for f in figs}


#: The talk's figures, in the order of its claims (claim k = the k-th entry).
FIGURES: dict[str, Figure] = _registry(
    "regularization",   # claim 1: logistic regression vs lam, optimal lam, Bayes
    "kd_logistic",      # claim 2: KD students of logistic teachers
    "kd_bayes",         # claim 3: KD student of the Bayes-optimal teacher
    "double_descent",   # claim 4: interpolation peak at small lam vs chi, T
)

from ._run import ReproduceResult, compute_figure, figure, figure_params, make_figure, plot_figure, reproduce  # noqa: E402,I001

__all__ = ["FIGURES", "Figure", "FigureOutput", "RunContext", "ReproduceResult", "reproduce", "figure",
           "make_figure", "figure_params", "compute_figure", "plot_figure"]
