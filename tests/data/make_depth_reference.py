"""Reference simulations of deep chains and of the model-collapse workflows at N = 2000,
16 seeds (issue 19): ``tests/test_depth.py`` checks the theory against them (3 standard errors
plus 1 %) in the slow suite, beside a small live simulation.

Made with::

    python tests/data/make_depth_reference.py > tests/data/depth-reference.json

(on the 2-core development machine, about 20 minutes; the commit is recorded in the file).
"""

import json
import subprocess
import sys
import time

from kdlab import GaussianMixture, LogisticTeacher, Problem, Student, simulate
from kdlab.workflows import accumulate, mix, replace

N, SEEDS = 2000, 16
D = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3, label_noise=0.2)
D1 = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3, label_noise=0.1)
T = LogisticTeacher(lam=0.1)
CHAINS = {
    "replace-hard-8": replace(D, 8),
    "replace-soft-8": replace(D, 8, temperature=2.0),
    "accumulate-hard-3": accumulate(D, 3, syn_alpha=1.0, lam=0.05, teacher=T),
    "accumulate-soft-5": accumulate(D, 5, syn_alpha=1.0, temperature=2.0, lam=0.05, teacher=T),
    "mix-6": mix(D, 6, syn_alpha=1.0, real_alpha=1.0, temperature=0.0),
    "soft-students-6": Problem(D, (T,) + tuple(Student(eta=1.0, chi=0.7, temperature=2.0, lam=0.05)
                                               for _ in range(6))),
    "hard-students-4": Problem(D1, (T,) + tuple(Student(eta=1.0, chi=1.0, temperature=0.0, lam=0.1)
                                                for _ in range(4))),
}
KEYS = ("gen_error", "gen_error_test", "train_error", "train_loss", "m", "q", "bias", "p")


def main():
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = {"n_features": N, "seeds": SEEDS, "commit": commit, "chains": {}}
    for name, p in CHAINS.items():
        t0 = time.time()
        r = simulate(p, n_features=N, seeds=SEEDS, n_jobs=2)
        out["chains"][name] = {
            "problem": p.to_dict(),
            "seconds": round(time.time() - t0, 1),
            "stages": [{k: [getattr(o, k), o.stderr.get(k)] for k in KEYS if getattr(o, k, None) is not None}
                       for o in r.stages],
        }
        print(name, out["chains"][name]["seconds"], file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1, allow_nan=True))


if __name__ == "__main__":
    main()
