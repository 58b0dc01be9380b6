"""Reference values of the talk's teacher-student pair from kdlab 0.2's dedicated pair solver
(``kdlab.theory.teacher`` / ``kdlab.theory.student``, removed in 0.3 when the generic per-stage
map became the only path). ``tests/test_chain_theory.py`` checks that the generic path still
gives these numbers to 1e-10 relative.

Made with (at commit cb8f9f7, the last one with the pair solver)::

    git worktree add /tmp/kd-0.2 cb8f9f7
    PYTHONPATH=/tmp/kd-0.2/src python tests/data/make_pair_reference.py > tests/data/pair-reference.json
"""

import json

from kdlab import BayesOptimalTeacher, GaussianMixture, LogisticTeacher, Student
from kdlab.theory import solve

DATA = GaussianMixture(alpha=2.0, delta=1.0, rho=0.3)
CASES = {
    "logistic-T1": (DATA, LogisticTeacher(lam=0.1), Student(eta=0.5, chi=0.5, temperature=1.0, lam=0.1)),
    "logistic-T3": (DATA, LogisticTeacher(lam=1.0), Student(eta=0.5, chi=0.5, temperature=3.0, lam=0.01)),
    "bayes-T2": (DATA, BayesOptimalTeacher(), Student(eta=0.7, chi=1.0, temperature=2.0, lam=0.01)),
    "t2-scaling": (GaussianMixture(alpha=1.0, delta=0.5, rho=0.4), LogisticTeacher(lam=0.1),
                   Student(eta=0.8, chi=0.7, temperature=2.0, lam=0.05, t2_scaling=True)),
}
KEYS = ("gen_error", "train_error", "train_loss", "m", "q", "bias", "p")
EXTRA = ("V", "Vx", "mhat", "qhat", "qhat12", "Vhat", "Vhat21")

out = {}
for name, (data, teacher, student) in CASES.items():
    r = solve(data, teacher, student, tol=1e-12)
    assert r.status.converged, r.status.message
    out[name] = {
        "problem": {"data": data.to_dict(), "teacher": {"kind": teacher.kind, **teacher.to_dict()},
                    "student": student.to_dict()},
        "stages": [{k: getattr(o, k) for k in KEYS if getattr(o, k, None) is not None}
                   | {k: float(o.extra[k]) for k in EXTRA if k in o.extra} for o in r.stages],
    }
print(json.dumps(out, indent=1))
