"""A study's ``report.md``: the question, the overall verdict, every finding with its verdict,
numbers and rule, the figures, the key table, the theory-vs-simulation check and the solver /
optimizer status. Everything is computed from the study's tables; the only fixed text is the
question and the rules (in the study's module)."""

from __future__ import annotations

from pathlib import Path

from ..io import write_text
from ..reporting import report as sections
from ..reporting.findings import md_table
from ._core import edge_rows

__all__ = ["build_report", "write_report"]

#: How a study's rows are obtained, unless its :attr:`~kdlab.studies._core.Study.method` says otherwise.
TUNED = ("Theory = the N -> infinity state evolution (`kdlab.theory`), with every tuned parameter (ridge, chi, "
         "temperature) chosen to minimize the theory's generalization error; simulation = finite-N empirical risk "
         "minimization (`kdlab.simulate`) at those parameters.")


def build_report(spec, tables, params, claim, cmp_, figures, meta) -> str:
    """The study's Markdown report, from the shared sections (:mod:`kdlab.reporting.report`)."""
    meta = dict(meta or {})
    L = sections.header(spec.title, meta, f"kdlab study {spec.name}")
    L += [f"> **Question.** {spec.question}", "",
          "Every number below is computed from the tables in `tables/`; each verdict follows the rule stated "
          "next to it. " + (spec.method or TUNED) + " " + sections.MODEL_SENTENCE, ""]
    L += sections.undecided_note([claim], meta, f"kdlab study {spec.name}")
    L += [f"## Verdict: {sections.headline(claim, meta)}", "", f"*{claim.statement}*", "",
          md_table(["finding", "verdict"], [[f.name, f"**{f.verdict}**" + (f" ({sections.undecided_label(meta)})"
                                                                          if f.undecided else "")]
                                           for f in claim.findings]), "", "## Findings", ""]
    L += sections.findings_lines(claim, meta)
    if figures:
        L += ["## Figures", ""] + [f"![{n}]({n}.png)" for n in figures] + [""]
    if claim.table:
        L += ["## Numbers", "", claim.table, ""]
    coords = [c for c in ("rho", "alpha", "label_noise", "teacher_eta", "round", "generation")
              if cmp_ is not None and not cmp_.empty and c in cmp_]
    L += sections.simulation_section(cmp_, "table", coords or ("alpha",),
                                     intro="Each simulated point is at the parameters of its theory row.")
    bad = []
    for name, t in tables.items():
        if t is not None and "converged" in t and (t["kind"] == "theory").any():
            th = t[t["kind"] == "theory"]
            nb = int((~th["converged"].fillna(False).astype(bool)).sum())
            if nb:
                bad.append(f"`{name}`: {nb} of {len(th)} theory rows did not converge (NaN in the table, left "
                           "out of every number above)")
    search, natural = edge_rows(tables)
    n_opt = sum(int((t["kind"] == "theory").sum()) for t in tables.values()
                if t is not None and "at_bound" in t)
    L += ["## Solver and optimizer status", ""]
    L.append("; ".join(bad) + "." if bad else "Every theory row converged.")
    L.append("")
    if search:
        L += [f"Tuned parameters on the edge of their **search interval** ({n_opt} optimized theory rows in all; "
              "the optimum may lie beyond the edge):", ""] + [f"- {e}" for e in search] + [""]
    else:
        L += [f"No tuned parameter of the {n_opt} optimized theory rows sits on the edge of its search interval.", ""]
    if natural:
        L += ["Tuned parameters on a **limit of the model's range** (chi = 0: the labels alone are best; chi = 1 "
              "where chi > 1 is not allowed): the optimum is that limit.", ""] + [f"- {e}" for e in natural] + [""]
    L += ["## Parameters", "", sections.params_line(params) + ".", ""]
    return "\n".join(L)


def write_report(path, spec, tables, params, claim, cmp_, figures, meta) -> Path:
    return write_text(Path(path), build_report(spec, tables, params, claim, cmp_, figures, meta))
