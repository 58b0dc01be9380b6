"""The stages trained on one training set: a *group* and its input side (``docs/theory.md``,
"Chains of stages").

A chain is split into groups of consecutive stages on one training set; the first group holds
the teacher, every Fresh stage opens a new group whose first member is the fixed vector it
distils (``ext``, the last stage of the previous group: no loss, no response). Stage ``k`` of
a group trains on a random subset of ``eta_k N`` coordinates, independent between stages, so
the coordinates split into *classes* (which stages are active on them); the input side sums,
over the classes containing ``k``, the restricted regularized problem
``Lambda_S w_S = mhat_S v + sqrt(Delta) z_S - (the parents' responses)``, with
``Lambda_S = diag(lam) + Delta Vhat_S`` lower triangular.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["Group"]


class Group:
    """Stages trained on one training set (+ the fixed external parent, if any)."""

    def __init__(self, data, alpha, ext=None, ext_chain_m=None, ext_chain_Q=None):
        self.data, self.alpha = data, float(alpha)
        self.members: list = []
        self.ext = ext
        if ext is not None:
            self.members.append(ext)
        # global (chain) m's and ext's overlaps with every earlier chain stage
        self.ext_chain_m = ext_chain_m
        self.ext_chain_Q = ext_chain_Q

    def stage_positions(self, upto):
        return [j for j in range(upto + 1) if not self.members[j].is_ext]

    def classes(self, pos):
        """Coordinate classes (active stage positions, containing pos) and probabilities."""
        others = [j for j in self.stage_positions(pos) if j != pos]
        eta_k = self.members[pos].eta
        out = []
        for bits in itertools.product((0, 1), repeat=len(others)):
            S = [j for j, bt in zip(others, bits) if bt] + [pos]
            P = eta_k
            for j, bt in zip(others, bits):
                e = self.members[j].eta
                P *= e if bt else (1.0 - e)
            if P > 0:
                out.append((S, P))
        return out

    def input_side(self, pos, mhat_k, Qhat_k, Vhat_k, chain_m=None, chain_Q_ext=None):
        """Row pos of m, Q (over group positions) and V from the conjugates (all classes).

        ``Vhat_k`` / ``Qhat_k``: row of stage pos (over positions 0..pos). With ``chain_m``
        (m of every earlier chain stage) and ``chain_Q_ext`` (ext's overlaps with them), also
        returns the overlaps with every earlier chain stage.
        """
        d = self.data.delta
        mem = self.members
        has_ext = self.ext is not None
        mext = mem[0].m if has_ext else 0.0
        qext = mem[0].Q[0] if has_ext else 0.0
        m = 0.0
        Q = np.zeros(pos + 1)
        V = np.zeros(pos + 1)
        Qc = None if chain_m is None else np.zeros(len(chain_m))

        def vhat(i, j):
            return Vhat_k[j] if i == pos else mem[i].Vhat[j]

        def qhat(i, j):
            if i == pos:
                return Qhat_k[j]
            if j == pos:
                return Qhat_k[i]
            return mem[i].Qhat[j] if j <= i else mem[j].Qhat[i]

        def mh(i):
            return mhat_k if i == pos else mem[i].mhat

        for S, P in self.classes(pos):
            n = len(S)
            Lam = np.zeros((n, n))
            for a, ia in enumerate(S):
                for b_, ib in enumerate(S[:a + 1]):
                    Lam[a, b_] = d * vhat(ia, ib)
                Lam[a, a] += mem[ia].lam
            mv = np.array([mh(i) for i in S])
            e = np.array([-d * vhat(i, 0) for i in S]) if has_ext else np.zeros(n)
            Li = np.linalg.inv(Lam)
            r = Li[-1]
            m += P * (r @ (mv + e * mext))
            Qh = np.array([[qhat(i, j) for j in S] for i in S])
            M = (np.outer(mv, mv) + mext * (np.outer(mv, e) + np.outer(e, mv)) + qext * np.outer(e, e)
                 + d * Qh)
            rM = r @ M
            for a, ia in enumerate(S):
                Q[ia] += P * (rM @ Li[a])
                V[ia] += P * d * Li[-1, a]
            if has_ext:
                Q[0] += P * (r @ (mv * mext + e * qext))
            if Qc is not None:
                for i in range(len(chain_m)):
                    Qc[i] += P * (r @ (mv * chain_m[i] + e * (chain_Q_ext[i] if has_ext else 0.0)))
        return m, Q, V, Qc

