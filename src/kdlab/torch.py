"""The knowledge-distillation loss of the model for PyTorch (optional extra ``kdlab[torch]``).

``KDLoss(chi, temperature)`` is the per-sample student loss of the model (``docs/model.md``),

* binary (logits of shape ``(B,)``, labels in {0, 1} or {-1, +1})::

      (1 - chi) log(1 + exp(-y u)) + c [ softplus(u / T) - sigmoid(ut / T) u / T ]

  i.e. ``(1 - chi) H(y, sigmoid(u)) + c H(sigmoid(ut / T), sigmoid(u / T))``; it equals
  :class:`kdlab.losses.KDLoss` ``(label_weight=1 - chi, kd_weight=c, temperature=T)``;

* multi-class (logits of shape ``(B, K)``, labels as class indices in ``[0, K)``)::

      (1 - chi) CE(y, softmax(u)) + c CE(softmax(ut / T), softmax(u / T))

  with ``CE(p, q) = -sum_k p_k log q_k`` (a cross-entropy, not a KL divergence: the two
  differ by the teacher's entropy, a constant that does not change the gradients),

where ``u`` are the student's logits, ``ut`` the teacher's (detached inside the loss: the
teacher never receives a gradient), and ``c = chi``, or ``chi T^2`` with
``t2_scaling=True`` (Hinton's convention). The hard-label term is always at temperature 1.
Every term is evaluated from ``logsigmoid`` / ``log_softmax``, so logits up to ``1e3`` (and
temperatures down to ``0.05``) give finite values and gradients in float32 and float64.

This module imports PyTorch; ``import kdlab`` does not import it.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["KDLoss", "kd_loss"]

_REDUCTIONS = ("mean", "sum", "none")


def _softplus(x: torch.Tensor) -> torch.Tensor:
    """``log(1 + exp(x))`` exactly (``F.softplus`` switches to ``x`` above a threshold)."""
    return -F.logsigmoid(-x)


def _check_params(chi, temperature, reduction, t2_scaling):
    if isinstance(chi, bool) or not isinstance(chi, Real) or not (0.0 <= float(chi) <= 1.0):
        raise ValueError(f"chi must be a number in [0, 1], got {chi!r}")
    if (isinstance(temperature, bool) or not isinstance(temperature, Real)
            or not math.isfinite(float(temperature)) or not float(temperature) > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")
    if not isinstance(t2_scaling, bool):
        raise ValueError(f"t2_scaling must be a bool, got {t2_scaling!r}")


def _binary_signs(labels: torch.Tensor, dtype, device) -> torch.Tensor:
    """Labels in {0, 1} or {-1, +1} (any numeric/bool dtype) -> signs in {-1, +1}."""
    if labels.is_complex():
        raise ValueError("labels must be real")
    lab = labels.to(device=device, dtype=dtype)
    if lab.numel() == 0:
        return lab
    is01 = bool(((lab == 0) | (lab == 1)).all())
    ispm = bool(((lab == -1) | (lab == 1)).all())
    if is01:
        return 2.0 * lab - 1.0
    if ispm:
        return lab
    bad = lab[~((lab == 0) | (lab == 1) | (lab == -1))]
    detail = f" (e.g. {bad[0].item()!r})" if bad.numel() else " (both 0 and -1 occur)"
    raise ValueError("binary labels must all be in {0, 1} or all in {-1, +1}" + detail)


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            chi: float, temperature: float, reduction: str = "mean",
            t2_scaling: bool = False) -> torch.Tensor:
    """Functional form of :class:`KDLoss` (same arguments, same result)."""
    _check_params(chi, temperature, reduction, t2_scaling)
    for name, t in (("student_logits", student_logits), ("teacher_logits", teacher_logits),
                    ("labels", labels)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    u = student_logits
    if not u.is_floating_point():
        raise ValueError(f"student_logits must be floating point, got {u.dtype}")
    if teacher_logits.shape != u.shape:
        raise ValueError(f"teacher_logits shape {tuple(teacher_logits.shape)} != "
                         f"student_logits shape {tuple(u.shape)}")
    if u.dim() not in (1, 2):
        raise ValueError("student_logits must have shape (B,) (binary) or (B, K) (multi-class), "
                         f"got {tuple(u.shape)}")
    B = u.shape[0]
    if labels.shape != (B,):
        raise ValueError(f"labels must have shape ({B},), got {tuple(labels.shape)}")
    if B == 0 and reduction == "mean":
        raise ValueError("empty batch: the mean of zero losses is undefined")
    # The teacher is fixed: no gradient flows into it, whatever the caller passed.
    ut = teacher_logits.detach().to(device=u.device, dtype=u.dtype)
    chi = float(chi)
    T = float(temperature)
    c = chi * T ** 2 if t2_scaling else chi

    if u.dim() == 1:
        y = _binary_signs(labels, u.dtype, u.device)
        out = u.new_zeros(u.shape)
        if chi < 1.0:
            out = out + (1.0 - chi) * _softplus(-y * u)
        if c > 0.0:
            # soft label s = sigmoid(ut / T); 1 - s as sigmoid(-ut / T) (no cancellation)
            zt = ut / T
            z = u / T
            out = out + c * (torch.sigmoid(zt) * _softplus(-z) + torch.sigmoid(-zt) * _softplus(z))
    else:
        K = u.shape[1]
        if K < 2:
            raise ValueError(f"multi-class logits need K >= 2 columns, got K = {K} "
                             "(for binary problems pass logits of shape (B,))")
        if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
            raise ValueError(f"multi-class labels must be integer class indices, got {labels.dtype}")
        lab = labels.to(device=u.device, dtype=torch.long)
        if B and (bool((lab < 0).any()) or bool((lab >= K).any())):
            raise ValueError(f"multi-class labels must be in [0, {K}), got values in "
                             f"[{int(lab.min())}, {int(lab.max())}]")
        out = u.new_zeros((B,))
        if chi < 1.0:
            out = out - (1.0 - chi) * F.log_softmax(u, dim=1).gather(1, lab[:, None])[:, 0]
        if c > 0.0:
            p = F.softmax(ut / T, dim=1)
            out = out - c * (p * F.log_softmax(u / T, dim=1)).sum(dim=1)

    if reduction == "mean":
        return out.mean()
    if reduction == "sum":
        return out.sum()
    return out


class KDLoss(nn.Module):
    """Knowledge-distillation loss ``(1 - chi) * hard-label CE + chi * soft CE at T``.

    Parameters
    ----------
    chi : float in [0, 1]
        Mixing parameter: 0 = labels only, 1 = teacher only.
    temperature : float > 0
        Temperature ``T`` of the soft labels (teacher and student logits divided by ``T``).
    reduction : {"mean", "sum", "none"}
        Reduction over the batch ("none" returns the per-sample losses, shape ``(B,)``).
    t2_scaling : bool
        Multiply the KD term by ``T^2`` (Hinton et al.'s convention). Off by default, as in
        the model.

    Notes
    -----
    Call as ``loss(student_logits, teacher_logits, labels)``. Binary: logits of shape
    ``(B,)``, labels in {0, 1} or {-1, +1}. Multi-class: logits of shape ``(B, K)``,
    integer labels in ``[0, K)``. Invalid arguments raise :class:`ValueError`.
    For binary logits the per-sample loss equals
    ``kdlab.losses.KDLoss(label_weight=1 - chi, kd_weight=chi (* T**2), temperature=T).value``.
    """

    def __init__(self, chi: float, temperature: float = 1.0, reduction: str = "mean",
                 t2_scaling: bool = False):
        super().__init__()
        _check_params(chi, temperature, reduction, t2_scaling)
        self.chi = float(chi)
        self.temperature = float(temperature)
        self.reduction = reduction
        self.t2_scaling = t2_scaling

    @property
    def kd_weight(self) -> float:
        """Weight of the KD term: ``chi`` (or ``chi T^2`` with ``t2_scaling``)."""
        return self.chi * (self.temperature ** 2 if self.t2_scaling else 1.0)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        return kd_loss(student_logits, teacher_logits, labels, self.chi, self.temperature,
                       self.reduction, self.t2_scaling)

    def extra_repr(self) -> str:
        return (f"chi={self.chi}, temperature={self.temperature}, "
                f"reduction={self.reduction!r}, t2_scaling={self.t2_scaling}")
