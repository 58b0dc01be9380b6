"""Build docs/tutorial.ipynb from the cells below, execute it and save it with its outputs.

    PYTHONPATH=src python docs/_make_tutorial.py            # build + execute (about a minute)
    PYTHONPATH=src python docs/_make_tutorial.py --no-execute

The site renders the saved notebook as is (mkdocs-jupyter, ``execute: false``), so rerun this
script after changing a cell or the library. ``tests/test_tutorial.py`` executes the saved
notebook again and checks that no cell fails.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
OUT = HERE / "tutorial.ipynb"

# Links point at the rendered site pages (``../model/``): mkdocs-jupyter does not rewrite
# ``.md`` links inside a notebook.
CELLS: list[tuple[str, str]] = [
    ("md", """# Tutorial: from one theory point to a chain of students

This notebook walks through kdlab's Python API in five steps:

1. one point of the exact asymptotic theory (`kdlab.theory.solve`);
2. a learning curve (`kdlab.theory.curve`) plotted with matplotlib;
3. a finite-size simulation (`kdlab.simulate`) on top of the curve;
4. optimal hyper-parameters (`kdlab.runs.tuning.optimal_lam`);
5. a chain of stages: a teacher, a student, and a student of the student.

The model is described on [The model](../model/) and the equations on [The theory](../theory/);
chains are described on [Chains of stages](../chains/). The whole notebook runs in well under a
minute on two cores (small sizes, few seeds)."""),
    ("code", """import time
import numpy as np
import matplotlib.pyplot as plt

import kdlab
from kdlab import GaussianMixture, LogisticTeacher, Student, simulate, theory
from kdlab.problem import Fresh

T0 = time.perf_counter()
print("kdlab", kdlab.__version__)"""),
    ("md", """## 1. The problem and one theory point

A problem is **data plus a chain of stages**.

* The data, `GaussianMixture(alpha, delta, rho)`: each input is the label y = ±1 times a hidden
  centre v (scaled by one over the square root of the dimension N) plus Gaussian noise of
  variance Delta; a label is +1 with probability rho; there are M = alpha N training samples.
* Stage 0, the teacher, `LogisticTeacher(lam)`: logistic regression on the labels, with a
  ridge penalty lam_t / 2 times the squared norm of its weights.
* Stage 1, the student, `Student(eta, chi, temperature, lam)`: a linear model that trains only
  a fraction eta of the coordinates (the others stay 0). Its per-sample loss mixes the hard
  labels and the teacher's soft labels: (1 - chi) times the logistic loss on the label, plus chi
  times the cross-entropy between the teacher's probability sigmoid(ut / T) and its own
  sigmoid(u / T), where u and ut are the student's and the teacher's pre-activations and T the
  temperature; plus its own ridge lam / 2 times the squared norm.

`theory.solve` gives the exact limit N → ∞ at fixed alpha: it solves the state-evolution
(fixed-point) equations for the overlaps m (with the centre), q (the squared norm per
coordinate) and p (student-teacher overlap), and the generalization error follows in closed
form from them. It takes a fraction of a second."""),
    ("code", """data = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3)
teacher = LogisticTeacher(lam=0.1)
student = Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.1)

res = theory.solve(data, teacher, student)
print(res)
print()
print(f"teacher gen_error = {res.teacher.gen_error:.4f}, student gen_error = {res.student.gen_error:.4f}")
print("converged:", res.status.converged)"""),
    ("md", """The result carries every observable of every stage (`res.stages[k]`, with `res.teacher`
and `res.student` the first and last), the solver `status` (converged or not, and why) and in
`res.extra` the Bayes-optimal error of the data (`bayes_error`, the best any classifier can do)
and of a model restricted to a fraction eta of the coordinates (`bayes_error_sparse`, the
floor for this sparse student). The matrix `res.overlaps` holds the overlaps w_j · w_k / N
between the stages' weights."""),
    ("code", """print("Bayes-optimal error:", round(res.extra["bayes_error"], 4))
print("sparse floor (eta = 0.5):", round(res.extra["bayes_error_sparse"], 4))
print("overlaps (teacher, student):")
print(np.round(res.overlaps, 4))"""),
    ("md", """## 2. A learning curve

A learning curve is the error as a function of alpha, the number of samples per dimension.
`theory.curve` solves the theory at each value in order, starting every point from its
neighbours' solution (a secant extrapolation), and returns a `pandas.DataFrame` with one row
per value (the flat `Result.to_record()` columns). `values="0.5:5:30"` means 30 values evenly
spaced from 0.5 to 5."""),
    ("code", """t = time.perf_counter()
df = theory.curve(data, teacher, student, along="alpha", values="0.5:5:30")
print(f"{len(df)} points in {time.perf_counter() - t:.1f} s; all converged: {bool(df.status_converged.all())}")
df[["alpha", "stage0_gen_error", "stage1_gen_error", "bayes_error", "bayes_error_sparse"]].head()"""),
    ("code", """fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(df.alpha, df.stage0_gen_error, "C0-", label="teacher (theory)")
ax.plot(df.alpha, df.stage1_gen_error, "C1-", label="KD student (theory)")
ax.plot(df.alpha, df.bayes_error, "k:", label="Bayes-optimal")
ax.plot(df.alpha, df.bayes_error_sparse, "k--", lw=0.8, label="Bayes-optimal, eta = 0.5")
ax.set_xlabel("alpha = M / N")
ax.set_ylabel("generalization error")
ax.legend()
fig.tight_layout()
plt.show()"""),
    ("md", """## 3. A simulation on top of the curve

`simulate` runs the same problem at a finite dimension N: for every seed it draws a training
set, fits the teacher and then the student exactly (convex optimization to a tight gradient
tolerance), and measures the generalization error from the overlaps. The result is the mean
over seeds with its standard error (`res.student.gen_error_stderr`). Here N = 400 with 8 seeds
at five values of alpha, so the markers should sit on the theory lines up to finite-size
corrections of order one over the square root of N."""),
    ("code", """alphas = [0.5, 1.0, 2.0, 3.0, 5.0]
t = time.perf_counter()
sims = [simulate(data.replace(alpha=a), teacher, student, n_features=400, seeds=range(8), n_jobs=2)
        for a in alphas]
print(f"{len(sims)} simulations in {time.perf_counter() - t:.1f} s")
for a, s in zip(alphas, sims):
    print(f"alpha={a:3.1f}: teacher {s.teacher.gen_error:.4f} ± {s.teacher.gen_error_stderr:.4f}, "
          f"student {s.student.gen_error:.4f} ± {s.student.gen_error_stderr:.4f}")"""),
    ("code", """fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(df.alpha, df.stage0_gen_error, "C0-", label="teacher (theory)")
ax.plot(df.alpha, df.stage1_gen_error, "C1-", label="KD student (theory)")
ax.errorbar(alphas, [s.teacher.gen_error for s in sims], yerr=[s.teacher.gen_error_stderr for s in sims],
            fmt="o", color="C0", capsize=3, label="teacher (N = 400, 8 seeds)")
ax.errorbar(alphas, [s.student.gen_error for s in sims], yerr=[s.student.gen_error_stderr for s in sims],
            fmt="s", color="C1", capsize=3, label="student (N = 400, 8 seeds)")
ax.plot(df.alpha, df.bayes_error, "k:", label="Bayes-optimal")
ax.set_xlabel("alpha = M / N")
ax.set_ylabel("generalization error")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()"""),
    ("md", """## 4. Optimal hyper-parameters

`kdlab.runs.tuning.optimal_lam` finds the ridge that minimizes the generalization error in
the theory: a coarse log-spaced scan of lam, then a bounded one-dimensional search on
log10 lam around the best scan point. With `which="teacher"` it tunes the teacher's ridge
lam_t; with a student (the default `which="student"`) the student's lam, the teacher held
fixed. It returns an `Optimum`: the optimal values (`params`), the error there, the theory
`Result` at the optimum, the number of solves, and `at_bound` (true if the optimum sits on the
search interval's edge, so the true optimum may lie beyond it)."""),
    ("code", """from kdlab.runs.tuning import optimal_lam

t = time.perf_counter()
best_teacher = optimal_lam(data, teacher, which="teacher")
best_student = optimal_lam(data, teacher, student)
print(f"({time.perf_counter() - t:.1f} s)")
print(f"teacher: lam_t* = {best_teacher.value:.4g}, gen_error = {best_teacher.gen_error:.4f} "
      f"({best_teacher.n_evals} solves, at bound: {best_teacher.at_bound})")
print(f"student: lam*   = {best_student.value:.4g}, gen_error = {best_student.gen_error:.4f} "
      f"({best_student.n_evals} solves, at bound: {best_student.at_bound})")
print(f"student at lam = 0.1 (section 1): {res.student.gen_error:.4f}")"""),
    ("md", """## 5. A chain of stages

A chain is a list of stages: stage 0 a teacher, every further stage a `Student` that distils
the stage before it. A student trains on its parent's training set by default
(`data=Shared()`), or on a new independent one of alpha N samples with `data=Fresh(alpha)`.
Here the second student distils the first at temperature T = 2 with soft labels only
(chi = 1), on a fresh training set of 3 N samples.

The simulation handles any chain. `res.stages` has one block per stage and `res.overlaps` is
the 3 × 3 matrix of w_j · w_k / N (its diagonal is q of each stage, its off-diagonal entries
the overlaps between stages)."""),
    ("code", """student2 = Student(eta=0.5, chi=1.0, temperature=2.0, lam=0.1, data=Fresh(alpha=3.0))
chain = [teacher, student, student2]

t = time.perf_counter()
sim_chain = simulate(data, chain, n_features=400, seeds=range(8), n_jobs=2)
print(f"({time.perf_counter() - t:.1f} s)")
for k, (spec, obs) in enumerate(zip(sim_chain.chain, sim_chain.stages)):
    print(f"stage {k} {type(spec).__name__:16s} gen_error = {obs.gen_error:.4f} ± {obs.gen_error_stderr:.4f}")
print("overlaps w_j . w_k / N:")
print(np.round(sim_chain.overlaps, 3))"""),
    ("md", """The theory solves the same chain stage after stage (the state evolution of a chain:
a stage on fresh data sees its parent as a fixed vector; a stage on its parent's set responds
to every ancestor's reaction to each sample). Theory and simulation agree stage by stage,
within the simulation's standard errors, and so do the overlaps between the stages."""),
    ("code", """th_chain = theory.solve(data, chain)
print("converged:", th_chain.status.converged)
for k, (sim_obs, th_obs) in enumerate(zip(sim_chain.stages, th_chain.stages)):
    print(f"stage {k}: theory {th_obs.gen_error:.4f}, simulation {sim_obs.gen_error:.4f} "
          f"± {sim_obs.gen_error_stderr:.4f}")
print("theory overlaps:")
print(np.round(th_chain.overlaps, 3))
print("simulated overlaps:")
print(np.round(sim_chain.overlaps, 3))"""),
    ("md", """## Where next

* [Chains of stages](../chains/): the chain API, TOML problem files and the `--problem` option.
* [Commands](../commands/): the same computations from the command line
  (`kdlab theory`, `kdlab theory-curve`, `kdlab simulate`, `kdlab optimize`).
* [Reproducing the talk](../reproducing/) and the [figures of a full run](../figures/)."""),
    ("code", """print(f"notebook computations: {time.perf_counter() - T0:.1f} s")"""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 600) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    return nb


def main(argv: list[str]) -> int:
    nb = build()
    if "--no-execute" not in argv:
        t = time.perf_counter()
        execute(nb)
        print(f"executed in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    for cell in nb.cells:  # stable files: no per-run execution timestamps
        cell.get("metadata", {}).pop("execution", None)
    nbformat.validate(nb)
    nbformat.write(nb, OUT)
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
