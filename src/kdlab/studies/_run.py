"""The pipeline of ``kdlab study``: compute a study's tables (cached), draw its figures, write
them with ``report.md`` and ``parameters.json`` into one folder (every file atomically)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from ..errors import OutputError, ParameterError
from ..io import TABLE_FORMATS, atomic_write, dumps_json, write_json, write_table
from ..talk._run import _check_args, _client, check_output, resolve_params
from . import STUDIES
from ._core import Study, StudyContext, StudyOutput, compare

__all__ = ["study_params", "study", "study_all", "run_mode"]


def _spec(name: str) -> Study:
    try:
        return STUDIES[name]
    except KeyError:
        raise ParameterError(f"unknown study {name!r}; choose from: {', '.join(STUDIES)}") from None


def study_params(name: str, quick: bool = False, **overrides) -> dict:
    """The parameters a study runs with (``quick``: its fast variant), with ``overrides``."""
    spec = _spec(name)
    p = resolve_params(spec.params, spec.quick if quick else {}, overrides, f"study {name!r}")
    return json.loads(dumps_json(p))


def run_mode(name: str, params: dict) -> str:
    """``"default"``, ``"quick"`` or ``"custom"``."""
    for mode, quick in (("default", False), ("quick", True)):
        if params == study_params(name, quick):
            return mode
    return "custom"


def _recorded(out: Path) -> Optional[dict]:
    f = out / "parameters.json"
    if not f.is_file():
        return None
    try:
        d = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    return d if isinstance(d, dict) else None


def study(name: str, out, quick: bool = False, *, n_jobs: Optional[int] = None, scheduler=None,
          cache: bool = True, simulation: bool = True, formats: Sequence[str] = TABLE_FORMATS,
          progress: bool = True, force: bool = False, **overrides) -> StudyOutput:
    """Run the study ``name`` into the folder ``out``: its figures (PNG + PDF), its tables
    (``tables/<name>-<table>.csv|parquet``), ``report.md`` (findings with verdicts, computed
    from the tables, and the theory-vs-simulation check) and ``parameters.json``. ``quick``:
    the small grid; ``cache``: keep finished points and tasks in ``out/cache`` (a rerun or an
    interrupted run resumes); ``simulation=False``: theory only. A folder holding another
    study, or this one with other parameters, is not overwritten unless ``force``
    (:class:`~kdlab.errors.OutputError`)."""
    from .. import __version__
    from ._report import write_report

    spec = _spec(name)
    out = Path(out)
    fm = _check_args(n_jobs, formats)
    if not simulation and "simulate" in spec.params:
        overrides = {**overrides, "simulate": False}
    params = study_params(name, quick, **overrides)
    rec = _recorded(out)
    if rec is not None and not force and (rec.get("study") != name or rec.get("params") != params):
        what = (f"the study {rec.get('study')!r}" if rec.get("study") != name
                else f"{name} with other parameters ({run_mode(name, rec.get('params') or {})} run)")
        raise OutputError(f"{out} holds {what}; use --force to replace it or choose another --out")
    check_output(out, cache)
    t0 = time.perf_counter()
    with _client(scheduler) as client:
        ctx = StudyContext(store=out / "cache" if cache else None, n_jobs=n_jobs, scheduler=client,
                           progress=progress)
        if progress:
            print(f"[study {name}]" + (" --quick" if quick else ""), file=sys.stderr, flush=True)
        tables = spec.compute(params, ctx)
    files = []
    for tname, t in tables.items():
        t = t.copy()
        t.insert(0, "study", name)
        t.insert(1, "table", tname)
        tables[tname] = t
        files += write_table(t, out / "tables" / f"{name}-{tname}", fm)
    cmp_ = compare(tables, spec.compare, spec.observables)
    if not cmp_.empty:
        files += write_table(cmp_, out / "tables" / f"{name}-theory-vs-simulation", fm)
    import matplotlib.pyplot as plt

    from ..plotting import label_log_axes

    figs = spec.figures(tables, params)
    for fname, fig in figs.items():
        label_log_axes(fig)
        try:
            for ext in ("png", "pdf"):
                files.append(atomic_write(out / f"{fname}.{ext}",
                                          lambda tmp, ext=ext, fig=fig: fig.savefig(tmp, format=ext,
                                                                                    bbox_inches="tight")))
        finally:
            plt.close(fig)
    elapsed = time.perf_counter() - t0
    mode = run_mode(name, params)
    claim = spec.findings(tables, params)
    defaults = study_params(name)
    for f in claim.findings:
        f.decide(params, defaults)
    meta = {"command": f"kdlab study {name}" + (" --quick" if quick else ""), "mode": mode,
            "version": __version__, "elapsed_s": elapsed}
    report = write_report(out / "report.md", spec, tables, params, claim, cmp_, list(figs), meta)
    files.append(report)
    files.append(write_json(out / "parameters.json", {"study": name, "mode": mode, "params": params}))
    return StudyOutput(name, out, files, tables, params, claim, report, elapsed, mode, cmp_)


def study_all(out, quick: bool = False, **kw) -> dict:
    """Every study, each into ``out/<name>/`` (:func:`study`), and ``out/index.md`` listing
    their verdicts; returns ``{name: StudyOutput}``."""
    from ..io import write_text
    from ..talk._claims import md_table

    out = Path(out)
    t0 = time.perf_counter()
    res = {n: study(n, out / n, quick, **kw) for n in STUDIES}
    rows = [[f"[`{n}`]({n}/report.md)", STUDIES[n].summary, f"**{r.claim.verdict}**", f"{r.elapsed_s:.0f} s"]
            for n, r in res.items()]
    text = "\n".join(["# kdlab studies" + (" (--quick)" if quick else ""), "",
                      f"All studies, in {time.perf_counter() - t0:.0f} s.", "",
                      md_table(["study", "question", "overall verdict", "time"], rows), ""])
    write_text(out / "index.md", text)
    if not out.joinpath("index.md").is_file():  # pragma: no cover
        raise OutputError(f"cannot write {out / 'index.md'}")
    return res
