"""A scikit-learn estimator for the KD student, usable on any binary data.

``KDClassifier`` minimizes
``sum_mu [(1 - chi) log(1 + exp(-y u)) + chi H(sigmoid(ut / T), sigmoid(u / T))] + (lam / 2) ||w||^2``
with ``u = X w + b`` (no ``1/sqrt(N)`` scaling here: scale ``X`` yourself to match the model),
an unregularized intercept, and the teacher's logits ``ut`` for the positive class
``classes_[1]``. It reuses :class:`kdlab.losses.KDLoss` and :func:`kdlab.simulation.erm.fit_linear`.

scikit-learn compatibility: with ``chi = 0`` (plain L2 logistic regression) it passes every
check of :func:`sklearn.utils.estimator_checks.check_estimator`. With ``chi > 0`` (the default
0.5) :meth:`KDClassifier.fit` needs the teacher's logits, which sklearn's generic checks do not
pass, so those checks fail by design with "teacher_logits are required when chi > 0" (38 of
63 with scikit-learn 1.8); ``tests/test_estimator.py`` holds both statements.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .params import check_int
from .problem import Student
from .simulation.erm import fit_linear

__all__ = ["KDClassifier"]

#: Sample weights above this are rescaled (with lam) before the fit.
_MAX_WEIGHT = 1e6


class KDClassifier(ClassifierMixin, BaseEstimator):
    """Knowledge-distillation logistic classifier (binary).

    Parameters
    ----------
    chi : float in [0, 1] (above 1 allowed at temperature 1)
        Weight of the KD term; ``chi = 0`` is plain L2 logistic regression.
    temperature : float >= 0 (0: hard labels, the sign of the teacher's logit)
        Temperature ``T`` of both the teacher's soft labels and the student's KD output.
    lam : float >= 0
        Ridge on the coefficients (``lam = 1 / C`` in scikit-learn's parametrization).
    t2_scaling : bool
        Multiply the KD term by ``T^2`` (Hinton's convention).
    fit_intercept : bool
        Fit an unregularized intercept.
    tol, max_iter : float, int
        Newton stopping rule on the relative gradient norm, and its iteration cap.
    """

    def __init__(self, chi=0.5, temperature=1.0, lam=1.0, t2_scaling=False, fit_intercept=True,
                 tol=1e-10, max_iter=200):
        self.chi = chi
        self.temperature = temperature
        self.lam = lam
        self.t2_scaling = t2_scaling
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def _student(self) -> Student:
        return Student(eta=1.0, chi=self.chi, temperature=self.temperature, lam=self.lam,
                       t2_scaling=self.t2_scaling)

    def fit(self, X, y, teacher_logits=None, sample_weight=None):
        """Fit on ``(X, y)`` with the teacher's logits for ``classes_[1]`` (one per sample,
        shape ``(n_samples,)`` or ``(n_samples, 1)``; required if chi > 0). ``sample_weight``:
        finite, non-negative, not all zero; weights above 1e6 are divided, with ``lam``, by
        the largest one (the same minimizer, without overflow)."""
        student = self._student()
        max_iter = check_int("max_iter", self.max_iter, low=1)
        if not (isinstance(self.tol, (int, float)) and 0 < self.tol < 1):
            raise ValueError(f"tol must be in (0, 1), got {self.tol!r}")
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if type_of_target(y, input_name="y", raise_unknown=True) != "binary":
            raise ValueError("Only binary classification is supported. The type of the target "
                             f"is {type_of_target(y, input_name='y')}.")
        self.classes_ = np.unique(y)
        if len(self.classes_) != 2:
            raise ValueError(f"KDClassifier is binary: y must have exactly 2 classes, got "
                             f"{len(self.classes_)} class{'es' if len(self.classes_) != 1 else ''}")
        ys = np.where(y == self.classes_[1], 1.0, -1.0)
        ut = None
        if student.chi > 0:
            if teacher_logits is None:
                raise ValueError("teacher_logits are required when chi > 0")
            ut = np.asarray(teacher_logits, dtype=np.float64)
            if ut.shape not in ((X.shape[0],), (X.shape[0], 1)):
                raise ValueError(f"teacher_logits must have shape ({X.shape[0]},): one logit of classes_[1] "
                                 f"per sample, got shape {ut.shape}")
            ut = ut.reshape(-1)
            if not np.all(np.isfinite(ut)):
                raise ValueError("teacher_logits must be finite numbers")
        lam = student.lam
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, float)
            if sample_weight.shape != (X.shape[0],):
                raise ValueError(f"sample_weight must have shape ({X.shape[0]},), got {sample_weight.shape}")
            if not np.all(np.isfinite(sample_weight)) or np.any(sample_weight < 0):
                raise ValueError("sample_weight must be finite and non-negative, one per sample")
            top = float(sample_weight.max())
            if not top > 0:
                raise ValueError("sample_weight must not be all zero")
            if top > _MAX_WEIGHT:  # the objective divided by top: the same minimizer, no overflow
                sample_weight, lam = sample_weight / top, lam / top
        fit = fit_linear(X, ys, student.loss(), lam, ut=ut, fit_bias=self.fit_intercept,
                         tol=self.tol, max_iter=max_iter, sample_weight=sample_weight)
        if not (np.all(np.isfinite(fit.w)) and np.isfinite(fit.bias)):
            raise ValueError("the fit gave non-finite coefficients (extreme sample weights or inputs?)")
        self.coef_ = fit.w[None, :]
        self.intercept_ = np.array([fit.bias])
        self.n_iter_ = np.array([fit.iterations])
        return self

    def decision_function(self, X):
        """``u = X w + b``, the logit of ``classes_[1]``."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        p = expit(self.decision_function(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        u = self.decision_function(X)
        return self.classes_[(u > 0).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags
