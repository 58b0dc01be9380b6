"""A scikit-learn estimator for the KD student, usable on any binary data.

``KDClassifier`` minimizes
``sum_mu [(1 - chi) log(1 + exp(-y u)) + chi H(sigmoid(ut / T), sigmoid(u / T))] + (lam / 2) ||w||^2``
with ``u = X w + b`` (no ``1/sqrt(N)`` scaling here: scale ``X`` yourself to match the model),
an unregularized intercept, and the teacher's logits ``ut`` for the positive class
``classes_[1]``. It reuses :class:`kdlab.losses.KDLoss` and :func:`kdlab.simulation.erm.fit_linear`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .problem import Student
from .simulation.erm import fit_linear

__all__ = ["KDClassifier"]


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
        """Fit on ``(X, y)`` with the teacher's logits for ``classes_[1]`` (required if chi > 0)."""
        student = self._student()
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
            ut = np.asarray(teacher_logits, dtype=np.float64).reshape(-1)
            if ut.shape[0] != X.shape[0] or not np.all(np.isfinite(ut)):
                raise ValueError(f"teacher_logits must be {X.shape[0]} finite numbers, one per sample")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, float)
            if sample_weight.shape != (X.shape[0],) or np.any(sample_weight < 0):
                raise ValueError("sample_weight must be non-negative, one per sample")
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight must not be all zero")
        if not (0 < self.tol < 1):
            raise ValueError(f"tol must be in (0, 1), got {self.tol!r}")
        fit = fit_linear(X, ys, student.loss(), student.lam, ut=ut, fit_bias=self.fit_intercept,
                         tol=self.tol, max_iter=int(self.max_iter), sample_weight=sample_weight)
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
