"""Studies beyond the talk (``kdlab study NAME``), one module per study: its question, grid,
computation (theory with tuned hyper-parameters, simulation at the tuned values), figures and
findings with computed verdicts. The pipeline (:func:`kdlab.studies._run.study`) writes them
into one folder with ``report.md``, on the cached, resumable machinery of ``kdlab reproduce``.

Adding a study: write ``kdlab/studies/<module>.py`` defining ``STUDY`` (a
:class:`~kdlab.studies._core.Study`) and add its module name to the registry below.
"""

from __future__ import annotations

import importlib

from ._core import Study, StudyOutput


def _registry(*modules: str) -> dict:
    out = {}
    for m in modules:
        s = importlib.import_module(f"{__name__}.{m}").STUDY
        out[s.name] = s
    return out


#: The studies, in the order of ``kdlab study --list``.
STUDIES: dict[str, Study] = _registry(
    "bayes_gap",
    "self_distillation",
    "weak_to_strong",
    "label_noise",
    "mechanisms",
    "model_collapse",
    "dark_knowledge",
)

from ._run import run_mode, study, study_all, study_params  # noqa: E402

__all__ = ["STUDIES", "Study", "StudyOutput", "study", "study_all", "study_params", "run_mode"]
