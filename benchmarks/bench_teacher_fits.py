"""Teacher fits in ``kdlab reproduce --quick``: counted against the distinct (seed, alpha, teacher).

Run: ``python benchmarks/bench_teacher_fits.py``. Within a run, simulation points that differ
only in their student share the teacher's fit at each seed
(:func:`kdlab.simulation.run.simulate_many`); this runs the quick reproduction without cache
in one process and compares the number of teacher fits made (the ``teacher_fits`` column of
the simulated rows) with the number of distinct (seed, alpha, teacher) triples.
"""

from __future__ import annotations

import tempfile
import time

import pandas as pd


def main():
    from kdlab.talk import FIGURES, reproduce

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        reproduce(out, quick=True, n_jobs=1, cache=False, progress=False)
        dt = time.perf_counter() - t0
        tables = [pd.read_parquet(f"{out}/tables/{f.name}.parquet") for f in FIGURES.values()]
    fits, triples = 0, set()
    for t in tables:
        sim = t[t["kind"] == "simulate"]
        fits += int(sim["teacher_fits"].sum())
        for _, r in sim.iterrows():
            teacher = (r["teacher"], round(float(r["teacher_lam"]), 12), float(r.get("teacher_eta", 1.0) or 1.0),
                       float(r["rho"]), float(r["delta"]))
            for seed in range(int(r["n_seeds"])):
                triples.add((seed, float(r["alpha"]), teacher, int(r["n_features"])))
    print(f"kdlab reproduce --quick (1 process, no cache): {dt:.1f} s")
    print(f"teacher fits: {fits}; distinct (seed, alpha, teacher) triples: {len(triples)}"
          f" -> {'equal' if fits == len(triples) else 'NOT equal'}")


if __name__ == "__main__":
    main()
