"""Reference simulations of K-class chains (issue 17): ``tests/test_multiclass_reference.py``
checks the theory against them (3 standard errors plus 1 %) in the slow suite.

Made with::

    python tests/data/make_multiclass_reference.py 1000

which writes ``tests/data/multiclass-reference.json`` after every chain and resumes where it
stopped (``N`` and the seeds are recorded in the file, with the commit and the seconds per
chain). The stored file is at N = 1000, 16 seeds (the issue asks N = 2000: at the load of the
shared 2-core machine, about 25 in average, a chain took 4 to 9 minutes at N = 2000).
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from kdlab import Fresh, LogisticTeacher, MulticlassMixture, Problem, Student, simulate

N, SEEDS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000, 16
PAIR = MulticlassMixture.from_geometry("pair", 3, 0.6, alpha=2.0, delta=0.5, prior=[0.5, 0.3, 0.2])
T = LogisticTeacher(lam=0.05)
CHAINS = {
    "k3-soft": Problem(PAIR, (T, Student(eta=0.5, chi=1.0, temperature=4.0, lam=0.05))),
    "k3-balanced-orthogonal-noise": Problem(
        MulticlassMixture.from_geometry("equal", 3, 0.0, alpha=2.0, delta=0.5, label_noise=0.2),
        (LogisticTeacher(lam=0.1), Student(eta=0.7, chi=0.5, temperature=2.0, lam=0.1))),
    "k3-fresh": Problem(MulticlassMixture.from_geometry("equal", 3, 0.3, alpha=2.0, delta=0.5, prior=[0.2, 0.3, 0.5]),
                        (T, Student(eta=0.8, chi=1.0, temperature=2.0, lam=0.05, data=Fresh(alpha=3.0)))),
    "k3-hard": Problem(PAIR, (T, Student(eta=1.0, chi=1.0, target="hard", lam=0.1))),
    "k3-chi-1.5": Problem(MulticlassMixture.from_geometry("equal", 3, 0.5, alpha=2.0, delta=0.5),
                          (T, Student(eta=0.6, chi=1.5, temperature=1.0, lam=0.05))),
    "k3-top": Problem(PAIR, (T, Student(eta=0.8, chi=1.0, temperature=3.0, lam=0.05, target="top"))),
    "k3-smooth": Problem(PAIR, (T, Student(eta=0.8, chi=0.5, temperature=1.0, lam=0.05, target="smooth",
                                           smoothing=0.1))),
    "k3-three-stages": Problem(PAIR, (T, Student(eta=0.8, chi=0.8, temperature=2.0, lam=0.05),
                                      Student(eta=0.8, chi=0.8, temperature=2.0, lam=0.05))),
    "k4-soft": Problem(MulticlassMixture.from_geometry("equal", 4, 0.3, alpha=2.0, delta=0.5),
                       (T, Student(eta=0.6, chi=1.0, temperature=3.0, lam=0.05))),
    "k4-unbalanced-noise-fresh": Problem(
        MulticlassMixture.from_geometry("pair", 4, 0.6, alpha=2.0, delta=0.5, prior=[0.4, 0.3, 0.2, 0.1],
                                        label_noise=0.1),
        (T, Student(eta=0.7, chi=0.7, temperature=2.0, lam=0.05, data=Fresh(alpha=2.0)))),
}
OUT = Path(__file__).resolve().parent / "multiclass-reference.json"
KEYS = ("gen_error", "gen_error_test", "train_error", "train_loss", "class_errors", "M", "Q", "bias", "P")


def _plain(v):
    return np.asarray(v, float).tolist() if v is not None else None


def main():
    """Simulate the chains not yet in the output file (``OUT``), rewriting it after each one."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = json.loads(OUT.read_text()) if OUT.exists() else {"n_features": N, "seeds": SEEDS, "chains": {}}
    if out["n_features"] != N or out["seeds"] != SEEDS:
        sys.exit(f"{OUT} holds N = {out['n_features']}, {out['seeds']} seeds: remove it first")
    out["commit"] = commit
    for name in [n for n in (sys.argv[2:] or CHAINS) if n not in out["chains"]]:
        p = CHAINS[name]
        t0 = time.time()
        r = simulate(p, n_features=N, seeds=SEEDS, n_jobs=2)
        out["chains"][name] = {
            "problem": p.to_dict(),
            "seconds": round(time.time() - t0, 1),
            "stages": [{k: [_plain(getattr(o, k)), _plain(o.stderr.get(k))] for k in KEYS
                        if getattr(o, k, None) is not None} for o in r.stages],
        }
        tmp = OUT.with_suffix(".tmp")
        tmp.write_text(json.dumps(out, indent=1, allow_nan=True))
        tmp.replace(OUT)
        print(name, out["chains"][name]["seconds"], file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
