"""The input side of the whole chain (``docs/theory.md``, "The input side").

Stage ``k`` minimizes a ridge-regularized loss on its ``eta_k N`` coordinates; given the
conjugates, its weights solve the linear problem (one row per stage, lower triangular)

    w_k = M_k (mhat_k v + sqrt(Delta) xi_k - sum_{i<k} Lam_ki w_i) / Lam_kk,

with ``Lam_ki = Delta Vhat_ki`` (``i < k``), ``Lam_kk = lam_k + Delta Vhat_kk``, the Gaussian
noises ``E[xi_k xi_j] = Qhat_kj`` and ``M_k`` the 0/1 mask of stage ``k``'s coordinates
(independent between stages, ``E M_k = eta_k``). Because ``M_k`` appears once, in front, every
average over the masks reduces to a recursion over the earlier rows (exact, ``O(k^2)`` per row):

    X_kj = E[xi_k w_j] = eta_j (sqrt(Delta) Qhat_kj - sum_{i<j} Lam_ji X_ki) / Lam_jj
    m_k  = eta_k (mhat_k - sum_i Lam_ki m_i) / Lam_kk
    Q_kj = eta_k (mhat_k m_j + sqrt(Delta) X_kj - sum_i Lam_ki Q_ij) / Lam_kk            (j < k)
    Q_kk = eta_k (mhat_k^2 + Delta Qhat_kk + sum_ii' Lam_ki Lam_ki' Q_ii'
                  - 2 mhat_k sum_i Lam_ki m_i - 2 sqrt(Delta) sum_i Lam_ki X_ki) / Lam_kk^2
    R_kk = eta_k / Lam_kk,   R_kj = -eta_k sum_{j<=i<k} Lam_ki R_ij / Lam_kk,   V = Delta R.

``V_kj`` is the response of stage ``k``'s field on a sample to stage ``j``'s gradient on it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["ChainInputs"]


class ChainInputs:
    """The frozen rows of the solved stages and the input side of the next one."""

    def __init__(self, delta: float, n: int):
        self.delta = float(delta)
        self.n = n
        nan = math.nan
        self.eta = np.full(n, nan)
        self.Lam = np.zeros((n, n))
        self.Qhat = np.zeros((n, n))
        self.X = np.zeros((n, n))  # X[k, j] = E[xi_k w_j], j < k
        self.m = np.full(n, nan)
        self.Q = np.full((n, n), nan)
        self.R = np.zeros((n, n))

    def row(self, k: int, eta: float, lam: float, mhat: float, Qhat_row, Vhat_row):
        """``(m_k, Q_k[0..k], V_k[0..k], X_k[0..k-1])`` from stage ``k``'s conjugates (rows over
        stages ``0..k``; ``Vhat_row[k]`` the self term)."""
        d, sd = self.delta, math.sqrt(self.delta)
        Qh = np.asarray(Qhat_row, float)
        lam_row = d * np.asarray(Vhat_row, float)
        lam_row[k] += lam
        Lkk = lam_row[k]
        Lk = lam_row[:k]
        X = np.zeros(k)
        for j in range(k):
            X[j] = self.eta[j] * (sd * Qh[j] - self.Lam[j, :j] @ X[:j]) / self.Lam[j, j]
        m_prev, Q_prev = self.m[:k], self.Q[:k, :k]
        m = eta * (mhat - Lk @ m_prev) / Lkk
        Q = np.empty(k + 1)
        Q[:k] = eta * (mhat * m_prev + sd * X - Lk @ Q_prev) / Lkk
        Q[k] = eta * (mhat * mhat + d * Qh[k] + Lk @ Q_prev @ Lk - 2 * mhat * (Lk @ m_prev)
                      - 2 * sd * (Lk @ X)) / (Lkk * Lkk)
        R = np.empty(k + 1)
        R[k] = eta / Lkk
        for j in range(k):
            R[j] = -eta * (Lk[j:] @ self.R[j:k, j]) / Lkk
        return m, Q, d * R, X

    def freeze(self, k: int, eta: float, lam: float, mhat: float, Qhat_row, Vhat_row):
        """Store stage ``k``'s rows (its conjugates solved)."""
        m, Q, V, X = self.row(k, eta, lam, mhat, Qhat_row, Vhat_row)
        self.eta[k] = eta
        lam_row = self.delta * np.asarray(Vhat_row, float)
        lam_row[k] += lam
        self.Lam[k, :k + 1] = lam_row
        self.Qhat[k, :k + 1] = Qhat_row
        self.Qhat[:k + 1, k] = Qhat_row
        self.X[k, :k] = X
        self.m[k] = m
        self.Q[k, :k + 1] = Q
        self.Q[:k + 1, k] = Q
        self.R[k, :k + 1] = V / self.delta
        return m, Q, V

    def freeze_constant(self, k: int, eta: float):
        """Stage ``k`` is the constant classifier: ``w_k = 0`` (no conjugates, no response)."""
        self.eta[k] = eta
        self.Lam[k, k] = 1.0  # w_k = 0 whatever the rest: a unit diagonal keeps the recursion defined
        self.m[k] = 0.0
        self.Q[k, :k + 1] = 0.0
        self.Q[:k + 1, k] = 0.0
