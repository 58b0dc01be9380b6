"""The pipeline of ``kdlab study``: compute a study's tables (cached), draw its figures, write
them with ``report.md`` and ``parameters.json`` into one folder, on the shared output pipeline
(:mod:`kdlab.reporting`): the folder is owned by the study (``study:<name>`` in its manifest),
every file is written atomically and recorded with its checksum."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from ..errors import OutputError, ParameterError
from ..io import TABLE_FORMATS, dumps_json, ensure_dir, write_json, write_table
from ..reporting.compare import compare_tables
from ..reporting.output import OutputFolder, check_formats, dask_client, resolve_params
from ..reporting.plotting import save_figure
from ..runs.context import RunContext
from . import STUDIES
from ._core import Study, StudyOutput

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
    fm = check_formats(n_jobs, formats, TABLE_FORMATS)
    if not simulation and "simulate" in spec.params:
        overrides = {**overrides, "simulate": False}
    params = study_params(name, quick, **overrides)
    folder = OutputFolder(Path(out), f"study:{name}", force)
    m = folder.manifest()
    if (m is not None and m.get("owner") == folder.owner and m.get("params") is not None and m["params"] != params
            and not force):
        raise OutputError(f"{out} holds {name} with other parameters ({run_mode(name, m.get('params') or {})} run); "
                          "use --force to replace it or choose another --out")
    folder.open()
    if folder.data.get("params") is not None and folder.data["params"] != params:
        folder.clear()  # --force with other parameters: nothing of the previous run is left beside this one
    # the time spent on these results over every call, an interrupted one included (see _spent)
    spent = float(folder.data.get("elapsed_s_total") or 0.0) if folder.data.get("params") == params else 0.0
    folder.record([], params=params, elapsed_s_total=spent)  # an interrupted run of these parameters resumes here
    out = folder.path
    for d in [out / "tables"] + ([out / "cache"] if cache else []):
        ensure_dir(d)
    t0 = time.perf_counter()
    with _spent(folder, spent, t0):
        with dask_client(scheduler) as client:
            ctx = RunContext(store=out / "cache" if cache else None, n_jobs=n_jobs, scheduler=client,
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
        files += _write_table(folder, t, f"{name}-{tname}", fm)
    cmp_ = compare_tables(tables, spec.compare, spec.observables)
    if not cmp_.empty:
        files += _write_table(folder, cmp_, f"{name}-theory-vs-simulation", fm)
    figs = spec.figures(tables, params)
    for fname, fig in figs.items():
        files += save_figure(fig, out, fname)
    elapsed = time.perf_counter() - t0
    mode = run_mode(name, params)
    claim = spec.evaluate(tables, params)
    defaults = study_params(name)
    for f in claim.findings:
        f.decide(params, defaults)
    total = spent + elapsed
    meta = {"command": f"kdlab study {name}" + (" --quick" if quick else ""), "mode": mode,
            "version": __version__, "elapsed_s": elapsed}
    report = write_report(out / "report.md", spec, tables, params, claim, cmp_, list(figs), meta)
    files.append(report)
    files.append(write_json(out / "parameters.json", {"study": name, "mode": mode, "params": params}))
    folder.record(files, params=params, mode=mode, elapsed_s_total=total)
    return StudyOutput(name, out, files, tables, params, claim, report, elapsed, mode, cmp_)


def _write_table(folder: OutputFolder, table, stem: str, formats) -> list:
    """``tables/<stem>.<fmt>`` in ``formats``; a copy in another format from an earlier run is removed."""
    folder.forget(f"tables/{stem}.{fmt}" for fmt in TABLE_FORMATS if fmt not in formats)
    return write_table(table, folder.path / "tables" / stem, formats)


@contextlib.contextmanager
def _spent(folder: OutputFolder, before: float, t0: float):
    """On an interruption (Ctrl-C, an error), add this call's time to the manifest's
    ``elapsed_s_total`` before the exception goes on: a resumed run then reports the time of
    every call, not only its own."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            folder.record([], elapsed_s_total=before + time.perf_counter() - t0)
        raise


def study_all(out, quick: bool = False, *, force: bool = False, **kw) -> dict:
    """Every study, each into ``out/<name>/`` (:func:`study`), and ``out/index.md`` listing
    their verdicts; returns ``{name: StudyOutput}``. ``out`` itself is owned by ``studies``."""
    from ..io import write_text
    from ..reporting import report as sections
    from ..reporting.findings import md_table

    top = OutputFolder(Path(out), "studies", force).open()
    out = top.path
    t0 = time.perf_counter()
    res = {n: study(n, out / n, quick, force=force, **kw) for n in STUDIES}
    meta = {"mode": "quick" if quick else "default"}
    totals = {n: _total(out / n) for n in res}
    rows = [[f"[`{n}`]({n}/report.md)", STUDIES[n].summary, f"**{sections.headline(r.claim, meta)}**",
             f"{r.elapsed_s:.0f} s", "-" if totals[n] is None else f"{totals[n]:.0f} s"] for n, r in res.items()]
    total = sum(v for v in totals.values() if v is not None)
    text = "\n".join(["# kdlab studies" + (" (--quick)" if quick else ""), "",
                      f"All studies: **{total:.0f} s** of computing over every call that made these results "
                      f"(an interrupted run resumed from its cache counts both calls); this call took "
                      f"{time.perf_counter() - t0:.0f} s.", "",
                      md_table(["study", "question", "overall verdict", "this call", "all calls"], rows),
                      ""])
    index = write_text(out / "index.md", text)
    top.record([index], studies=list(STUDIES), elapsed_s_total=total)
    return res


def _total(folder: Path) -> Optional[float]:
    """The time spent on a study's results over every call (its manifest's ``elapsed_s_total``)."""
    v = (OutputFolder(folder, "").manifest() or {}).get("elapsed_s_total")
    return float(v) if isinstance(v, (int, float)) else None
