"""The stages seen from one training set (``docs/theory.md``, "Training sets").

On a sample of set ``s`` the fields of the stages that matter there are jointly Gaussian
before the proximal steps: the stages that train on ``s`` (each with its own loss on ``s``),
and the label sources of those that never saw ``s`` (*external* members: ``u = c``). In
Cholesky-standardized variables member ``j``'s cavity field is
``c_j = y m_j + b_j + sum_{l<=j} L_jl xi_l - sum_{i<j, i trains on s} V_ji g_i``.
:func:`set_view` lists those members (chain order) for the stage being solved, which comes
last; a stage that is the constant classifier is not a member: its sign is bound as a constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

__all__ = ["Solved", "SetMember", "SetView", "set_view", "set_members"]


@dataclass
class Solved:
    """A solved stage of the chain: its plan, bias and global rows (``Q``, ``V`` over stages
    ``0..k``); ``constant`` is the fixed field ``+-inf`` of a stage that is the constant
    classifier (``None`` otherwise)."""

    index: int
    plan: object
    m: float = math.nan
    b: float = math.nan
    constant: Optional[float] = None


@dataclass
class SetMember:
    """Member ``index`` of one set's view: ``loss`` on the set (``None``: external), the view
    positions of its sources ``src`` (a float: a constant source), its rows ``L`` and ``V`` over
    the view's positions."""

    index: int
    loss: object = None
    src: tuple = ()
    hard_src: tuple = ()
    temperature: float = math.inf
    m: float = math.nan
    b: float = math.nan
    L: np.ndarray = None
    V: np.ndarray = None

    @property
    def is_ext(self) -> bool:
        return self.loss is None

    @property
    def hard_labels(self) -> bool:
        return bool(self.hard_src)


@dataclass
class SetView:
    """Set ``name`` (``alpha`` samples per dimension) seen by stage ``k``: its members in chain
    order, stage ``k`` last (``members[-1]``, its rows filled in by the stage's map)."""

    name: str
    alpha: float
    members: list = field(default_factory=list)

    @property
    def indices(self) -> list:
        return [m.index for m in self.members]

    @property
    def pos(self) -> int:
        return len(self.members) - 1


def set_members(problem, solved: list, k: int, name: str) -> list:
    """Chain indices of the members of set ``name`` for stage ``k`` (``k`` last): every earlier
    stage that trains on it and every label source used on it (by those or by ``k``), the
    constant stages left out."""
    out = set()
    for j in range(k + 1):
        use = problem.plan(j).use(name)
        if use is None:
            continue
        if j < k:
            out.add(j)
        out.update(use.source_stages)
    return sorted(j for j in out if j < k and solved[j].constant is None) + [k]


def set_view(problem, solved: list, inputs, k: int, name: str, alpha: float) -> SetView:
    """The view of set ``name`` for stage ``k``: frozen members with their Cholesky rows
    (``Delta Q`` restricted to the members, in their order) and response rows; stage ``k``'s
    member holds its loss and sources (its rows come from the map's state)."""
    idx = set_members(problem, solved, k, name)
    pos = {j: p for p, j in enumerate(idx)}
    d = inputs.delta
    n = len(idx)
    frozen = idx[:-1]
    Lmat = np.zeros((n, n))
    if frozen:
        Lmat[:n - 1, :n - 1] = cholesky_rows(d * inputs.Q[np.ix_(frozen, frozen)])
    view = SetView(name, alpha)
    for p, j in enumerate(idx):
        use = problem.plan(j).use(name)
        mem = SetMember(index=j)
        if use is not None:
            mem.loss = use.loss
            src, hard = [], []
            for s in use.sources:
                c = solved[s.stage].constant
                src.append(pos[s.stage] if c is None else c)
                if s.hard and c is None:
                    hard.append(pos[s.stage])
            mem.src, mem.hard_src, mem.temperature = tuple(src), tuple(hard), use.temperature
        if j < k:
            mem.m, mem.b = float(inputs.m[j]), float(solved[j].b)
            mem.L = Lmat[p].copy()
            V = np.zeros(n)
            for q, i in enumerate(idx[:p + 1]):
                if problem.plan(i).use(name) is not None:
                    V[q] = d * inputs.R[j, i]
            mem.V = V
        view.members.append(mem)
    return view


#: A frozen member whose field keeps less than this share of its variance after the earlier
#: members' is a copy of them (its pivot is set to 0): e.g. a stage distilled at T = 1 from a
#: teacher with its own ridge, which reproduces it to the fixed-point tolerance; a pivot of the
#: order of that tolerance would make the rules resolve noise.
DEGENERATE = 1e-9


def cholesky_rows(S: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with ``L L^T = S`` (``S`` positive semi-definite); a row whose
    remaining variance is below ``DEGENERATE`` of its variance gets a zero pivot (a field that is
    a function of the earlier ones)."""
    n = S.shape[0]
    L = np.zeros((n, n))
    for i in range(n):
        L[i, :i + 1] = cholesky_next(L[:i, :i], S[i, :i], S[i, i], degenerate=DEGENERATE)
    return L


def cholesky_next(Lpar: np.ndarray, cov: np.ndarray, var: float, degenerate: float = 0.0) -> np.ndarray:
    """The next row of a Cholesky factor: ``L_prev L^T = cov``, ``L . L = var`` (a pivot below
    ``1e-14``, or whose square is below ``degenerate * var``, is 0)."""
    k = Lpar.shape[0]
    L = np.zeros(k + 1)
    for j in range(k):
        s = cov[j] - Lpar[j, :j] @ L[:j]
        L[j] = s / Lpar[j, j] if Lpar[j, j] > 1e-14 else 0.0
    rest = var - L[:k] @ L[:k]
    L[k] = math.sqrt(rest) if rest > max(degenerate * var, 0.0) else 0.0
    return L
