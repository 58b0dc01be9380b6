"""kdlab.torch.KDLoss: the model's KD loss for PyTorch.

PyTorch is required here (the test command installs ``kdlab[dev,torch]``): a missing torch
fails loudly instead of skipping.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kdlab.torch as kt
from kdlab.losses import KDLoss as NumpyKDLoss
from kdlab.torch import KDLoss, kd_loss

torch.set_num_threads(1)
f64 = torch.float64


def _numpy_loss(chi, T, t2):
    return NumpyKDLoss(label_weight=1.0 - chi, kd_weight=chi * (T ** 2 if t2 else 1.0), temperature=T)


def _binary_batch(B=64, scale=5.0, seed=0, dtype=f64):
    g = torch.Generator().manual_seed(seed)
    u = scale * torch.randn(B, generator=g, dtype=dtype)
    ut = scale * torch.randn(B, generator=g, dtype=dtype)
    lab01 = torch.randint(0, 2, (B,), generator=g)
    return u, ut, lab01


def _extreme_binary(dtype=f64):
    """Logits up to |1e3| in every sign combination, plus ordinary values."""
    vals = torch.tensor([-1e3, -300.0, -30.0, -1.0, 0.0, 1.0, 30.0, 300.0, 1e3], dtype=dtype)
    u, ut = torch.meshgrid(vals, vals, indexing="ij")
    u, ut = u.reshape(-1), ut.reshape(-1)
    u = torch.cat([u, u])
    ut = torch.cat([ut, ut])
    lab01 = torch.cat([torch.zeros(81, dtype=torch.long), torch.ones(81, dtype=torch.long)])
    return u, ut, lab01


def test_import_resolves_to_pytorch():
    # ``import torch`` inside kdlab/torch.py is PyTorch (absolute import), not the module itself
    assert kt.torch is torch
    assert kt.nn is torch.nn
    assert issubclass(KDLoss, torch.nn.Module)


def test_kdlab_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import kdlab, kdlab.cli, kdlab.experiments\n"
            "assert sys.modules['torch'] is None\n"
            "print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout


def test_import_kdlab_does_not_import_torch():
    code = "import sys, kdlab, kdlab.cli; print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


# ------------------------------------------------------------------ equality with numpy


@pytest.mark.parametrize("chi,T,t2", [(0.0, 1.0, False), (0.3, 1.0, False), (0.5, 2.0, False),
                                      (0.5, 2.0, True), (0.8, 0.05, False), (0.8, 0.05, True),
                                      (1.0, 4.0, False), (1.0, 100.0, True)])
@pytest.mark.parametrize("encoding", ["01", "pm1"])
def test_binary_equals_numpy_loss(chi, T, t2, encoding):
    for u, ut, lab01 in (_binary_batch(), _extreme_binary()):
        y = 2 * lab01 - 1
        labels = lab01 if encoding == "01" else y
        got = KDLoss(chi, T, reduction="none", t2_scaling=t2)(u, ut, labels)
        want = _numpy_loss(chi, T, t2).value(u.numpy(), y.numpy().astype(float), ut.numpy())
        assert got.dtype == f64 and got.shape == u.shape
        # float64 agreement. The numpy loss forms 1 - sigmoid(ut/T) by subtraction (absolute
        # error up to eps, multiplied by c softplus(u/T)); the torch loss uses sigmoid(-ut/T)
        # and is exact to a few ulps (test_binary_exact_to_float64_precision).
        c = chi * T ** 2 if t2 else chi
        eps = np.finfo(float).eps
        tol = 1e-14 * (1 + np.abs(want)) + 2 * eps * c * np.logaddexp(0, u.numpy() / T)
        assert np.all(np.abs(got.numpy() - want) <= tol)
        for red, fn in (("mean", np.mean), ("sum", np.sum)):
            tot = KDLoss(chi, T, reduction=red, t2_scaling=t2)(u, ut, labels)
            assert tot.dim() == 0
            np.testing.assert_allclose(tot.item(), fn(want), rtol=1e-12)


@pytest.mark.parametrize("chi,T,t2", [(0.3, 1.0, False), (0.8, 0.05, False), (1.0, 100.0, True),
                                      (0.5, 4.0, False)])
def test_binary_exact_to_float64_precision(chi, T, t2):
    # reference in 50-digit arithmetic, on the same float64 inputs: every element, even a tiny
    # one, to a few ulps times the condition number of exp at the arguments (~ |u|/T)
    import mpmath  # a dependency of torch

    mpmath.mp.dps = 50
    u, ut, lab01 = _extreme_binary()
    got = KDLoss(chi, T, reduction="none", t2_scaling=t2)(u, ut, lab01).numpy()
    c = chi * T ** 2 if t2 else chi
    for i in range(len(u)):
        uu, tt, y = mpmath.mpf(u[i].item()), mpmath.mpf(ut[i].item()), int(2 * lab01[i] - 1)
        sp = lambda x: mpmath.log1p(mpmath.exp(x))  # noqa: E731
        Tm = mpmath.mpf(T)
        s, s_c = 1 / (1 + mpmath.exp(-tt / Tm)), 1 / (1 + mpmath.exp(tt / Tm))  # s, 1 - s
        ref = float((1 - chi) * sp(-y * uu) + c * (s * sp(-uu / Tm) + s_c * sp(uu / Tm)))
        cond = 1 + abs(u[i].item()) * (1 + 1 / T) + abs(ut[i].item()) / T
        assert abs(got[i] - ref) <= 4 * np.finfo(float).eps * cond * abs(ref), (i, got[i], ref)


@pytest.mark.parametrize("label_dtype", [torch.long, torch.int32, torch.float64, torch.float32, torch.bool])
def test_binary_label_dtypes(label_dtype):
    u, ut, lab01 = _binary_batch(B=16)
    ref = KDLoss(0.4, 2.0, reduction="none")(u, ut, lab01)
    got = KDLoss(0.4, 2.0, reduction="none")(u, ut, lab01.to(label_dtype))
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    if label_dtype != torch.bool:
        got_pm = KDLoss(0.4, 2.0, reduction="none")(u, ut, (2 * lab01 - 1).to(label_dtype))
        torch.testing.assert_close(got_pm, ref, rtol=0, atol=0)


def test_binary_grad_equals_numpy_grad():
    chi, T = 0.6, 3.0
    u, ut, lab01 = _extreme_binary()
    u = u.clone().requires_grad_(True)
    KDLoss(chi, T, reduction="sum")(u, ut, lab01).backward()
    want = _numpy_loss(chi, T, False).grad(u.detach().numpy(), (2 * lab01 - 1).numpy().astype(float),
                                           ut.numpy())
    np.testing.assert_allclose(u.grad.numpy(), want, rtol=1e-13, atol=1e-15)


def test_t2_scaling_multiplies_kd_term_by_T2():
    u, ut, lab01 = _binary_batch()
    T = 3.0
    kd = KDLoss(1.0, T, reduction="none")(u, ut, lab01)
    lab = KDLoss(0.0, T, reduction="none")(u, ut, lab01)
    for chi in (0.25, 0.7):
        got = KDLoss(chi, T, reduction="none", t2_scaling=True)(u, ut, lab01)
        torch.testing.assert_close(got, (1 - chi) * lab + chi * T ** 2 * kd, rtol=1e-14, atol=1e-14)
    assert KDLoss(0.5, T, t2_scaling=True).kd_weight == pytest.approx(0.5 * T ** 2)
    assert KDLoss(0.5, T).kd_weight == 0.5


# ------------------------------------------------------------------ limits chi = 0, 1


def test_chi0_is_plain_cross_entropy_and_ignores_teacher():
    u, ut, lab01 = _binary_batch()
    got = KDLoss(0.0, 2.0, reduction="none")(u, ut, lab01)
    torch.testing.assert_close(got, F.binary_cross_entropy_with_logits(u, lab01.double(), reduction="none"))
    torch.testing.assert_close(KDLoss(0.0, 2.0, reduction="none")(u, -ut * 7, lab01), got, rtol=0, atol=0)
    # multi-class
    g = torch.Generator().manual_seed(1)
    U = 4 * torch.randn(32, 5, generator=g, dtype=f64)
    Ut = 4 * torch.randn(32, 5, generator=g, dtype=f64)
    y = torch.randint(0, 5, (32,), generator=g)
    torch.testing.assert_close(KDLoss(0.0, 3.0)(U, Ut, y), F.cross_entropy(U, y))
    torch.testing.assert_close(KDLoss(0.0, 3.0)(U, torch.zeros_like(Ut), y), F.cross_entropy(U, y))


def test_chi1_is_soft_cross_entropy_and_ignores_labels():
    T = 2.5
    u, ut, lab01 = _binary_batch()
    got = KDLoss(1.0, T, reduction="none")(u, ut, lab01)
    want = F.binary_cross_entropy_with_logits(u / T, torch.sigmoid(ut / T), reduction="none")
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(KDLoss(1.0, T, reduction="none")(u, ut, 1 - lab01), got, rtol=0, atol=0)
    g = torch.Generator().manual_seed(2)
    U = 4 * torch.randn(32, 7, generator=g, dtype=f64)
    Ut = 4 * torch.randn(32, 7, generator=g, dtype=f64)
    y = torch.randint(0, 7, (32,), generator=g)
    want = F.cross_entropy(U / T, F.softmax(Ut / T, dim=1))  # soft-target cross-entropy
    torch.testing.assert_close(KDLoss(1.0, T)(U, Ut, y), want)
    torch.testing.assert_close(KDLoss(1.0, T)(U, Ut, (y + 1) % 7), KDLoss(1.0, T)(U, Ut, y),
                               rtol=0, atol=0)


# ------------------------------------------------------------------ multi-class


def _direct_multiclass(U, Ut, y, chi, T, t2):
    """Direct implementation from log_softmax (per sample)."""
    c = chi * T ** 2 if t2 else chi
    hard = -F.log_softmax(U, dim=1)[torch.arange(len(y)), y]
    soft = -(F.softmax(Ut / T, dim=1) * F.log_softmax(U / T, dim=1)).sum(1)
    return (1 - chi) * hard + c * soft


@pytest.mark.parametrize("chi,T,t2", [(0.2, 1.0, False), (0.5, 4.0, False), (0.5, 4.0, True),
                                      (0.9, 0.05, False), (0.7, 20.0, True)])
@pytest.mark.parametrize("K", [2, 3, 10])
def test_multiclass_matches_direct_log_softmax(chi, T, t2, K):
    g = torch.Generator().manual_seed(K)
    U = 6 * torch.randn(40, K, generator=g, dtype=f64)
    Ut = 6 * torch.randn(40, K, generator=g, dtype=f64)
    U[0, 0], Ut[1, -1] = 1e3, -1e3
    y = torch.randint(0, K, (40,), generator=g)
    want = _direct_multiclass(U, Ut, y, chi, T, t2)
    for red, fn in (("none", lambda a: a), ("mean", torch.mean), ("sum", torch.sum)):
        got = KDLoss(chi, T, reduction=red, t2_scaling=t2)(U, Ut, y)
        torch.testing.assert_close(got, fn(want), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("chi,T", [(0.0, 1.0), (0.4, 3.0), (1.0, 0.5)])
def test_two_class_softmax_equals_binary(chi, T):
    # logits (0, u) under softmax are the binary model with pre-activation u
    u, ut, lab01 = _extreme_binary()
    z = torch.zeros_like(u)
    multi = KDLoss(chi, T, reduction="none")(torch.stack([z, u], 1), torch.stack([z, ut], 1), lab01)
    binary = KDLoss(chi, T, reduction="none")(u, ut, lab01)
    torch.testing.assert_close(multi, binary, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("t2", [False, True])
def test_gradcheck_binary(t2):
    u, ut, lab01 = _binary_batch(B=12, scale=3.0, seed=5)
    for chi, T in ((0.0, 1.0), (0.35, 2.0), (1.0, 0.7)):
        for labels in (lab01, 2 * lab01 - 1):
            fn = lambda x: kd_loss(x, ut, labels, chi, T, "none", t2)  # noqa: E731
            assert torch.autograd.gradcheck(fn, (u.clone().requires_grad_(True),))
            assert torch.autograd.gradgradcheck(fn, (u.clone().requires_grad_(True),))


@pytest.mark.parametrize("t2", [False, True])
def test_gradcheck_multiclass(t2):
    g = torch.Generator().manual_seed(6)
    U = 3 * torch.randn(8, 4, generator=g, dtype=f64)
    Ut = 3 * torch.randn(8, 4, generator=g, dtype=f64)
    y = torch.randint(0, 4, (8,), generator=g)
    for chi, T in ((0.0, 1.0), (0.5, 3.0), (1.0, 0.5)):
        for red in ("none", "mean"):
            loss = KDLoss(chi, T, reduction=red, t2_scaling=t2)
            assert torch.autograd.gradcheck(lambda x: loss(x, Ut, y), (U.clone().requires_grad_(True),))


def test_teacher_logits_receive_no_gradient():
    g = torch.Generator().manual_seed(7)
    X = torch.randn(16, 5, generator=g, dtype=f64)
    teacher = torch.nn.Linear(5, 3).double()
    student = torch.nn.Linear(5, 3).double()
    y = torch.randint(0, 3, (16,), generator=g)
    KDLoss(0.5, 2.0)(student(X), teacher(X), y).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in student.parameters())
    # binary: a leaf teacher tensor that requires grad gets none either
    u, ut, lab01 = _binary_batch(B=8)
    ut = ut.clone().requires_grad_(True)
    u = u.clone().requires_grad_(True)
    KDLoss(0.7, 2.0)(u, ut, lab01).backward()
    assert ut.grad is None and u.grad is not None


# ------------------------------------------------------------------ float32 stability


@pytest.mark.parametrize("T", [0.05, 1.0, 4.0, 100.0])
@pytest.mark.parametrize("t2", [False, True])
def test_float32_stable_with_logits_1e3(T, t2):
    u, ut, lab01 = _extreme_binary(dtype=torch.float32)
    for chi in (0.0, 0.5, 1.0):
        x = u.clone().requires_grad_(True)
        val = KDLoss(chi, T, reduction="none", t2_scaling=t2)(x, ut, lab01)
        val.sum().backward()
        assert val.dtype == torch.float32
        assert torch.isfinite(val).all() and (val >= 0).all()
        assert torch.isfinite(x.grad).all()
        ref = _numpy_loss(chi, T, t2).value(u.double().numpy(), (2 * lab01 - 1).numpy().astype(float),
                                            ut.double().numpy())
        np.testing.assert_allclose(val.detach().double().numpy(), ref, rtol=1e-5, atol=1e-5)
    g = torch.Generator().manual_seed(8)
    U = (1e3 * torch.sign(torch.randn(32, 10, generator=g))).float()
    Ut = (1e3 * torch.randn(32, 10, generator=g)).float()
    y = torch.randint(0, 10, (32,), generator=g)
    for chi in (0.0, 0.5, 1.0):
        x = U.clone().requires_grad_(True)
        val = KDLoss(chi, T, reduction="none", t2_scaling=t2)(x, Ut, y)
        val.sum().backward()
        assert torch.isfinite(val).all() and torch.isfinite(x.grad).all()
        ref = _direct_multiclass(U.double(), Ut.double(), y, chi, T, t2)
        torch.testing.assert_close(val.double(), ref, rtol=1e-5, atol=1e-3)


def test_float64_grads_finite_with_logits_1e3():
    u, ut, lab01 = _extreme_binary()
    x = u.clone().requires_grad_(True)
    KDLoss(0.5, 0.05, t2_scaling=True)(x, ut, lab01).backward()
    assert torch.isfinite(x.grad).all()


def test_teacher_dtype_follows_student():
    u, ut, lab01 = _binary_batch(B=8)
    got = KDLoss(0.5, 2.0)(u.float(), ut, lab01)  # float64 teacher, float32 student
    assert got.dtype == torch.float32
    assert math.isclose(got.item(), KDLoss(0.5, 2.0)(u, ut, lab01).item(), rel_tol=1e-6)


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("kwargs,match", [
    (dict(chi=-0.1, temperature=1.0), "chi"),
    (dict(chi=1.5, temperature=1.0), "chi"),
    (dict(chi=float("nan"), temperature=1.0), "chi"),
    (dict(chi=True, temperature=1.0), "chi"),
    (dict(chi="0.5", temperature=1.0), "chi"),
    (dict(chi=0.5, temperature=0.0), "temperature"),
    (dict(chi=0.5, temperature=-2.0), "temperature"),
    (dict(chi=0.5, temperature=float("inf")), "temperature"),
    (dict(chi=0.5, temperature=float("nan")), "temperature"),
    (dict(chi=0.5, temperature=1.0, reduction="avg"), "reduction"),
    (dict(chi=0.5, temperature=1.0, t2_scaling="yes"), "t2_scaling"),
])
def test_invalid_parameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        KDLoss(**kwargs)


def test_invalid_inputs_raise():
    loss = KDLoss(0.5, 2.0)
    u, ut, lab01 = _binary_batch(B=6)
    with pytest.raises(ValueError, match="teacher_logits shape"):
        loss(u, ut[:5], lab01)
    with pytest.raises(ValueError, match="labels must have shape"):
        loss(u, ut, lab01[:5])
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        loss(u, ut, torch.tensor([0, 1, 2, 0, 1, 0]))
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        loss(u, ut, torch.tensor([0, 1, -1, 0, 1, 0]))  # mixed encodings
    with pytest.raises(ValueError, match=r"\{0, 1\}"):
        loss(u, ut, torch.tensor([0.5, 1, 1, 0, 1, 0], dtype=f64))
    with pytest.raises(ValueError, match="floating point"):
        loss(lab01, ut, lab01)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        loss(u.reshape(1, 2, 3), ut.reshape(1, 2, 3), lab01)
    with pytest.raises(ValueError, match=r"\(B,\)"):
        loss(u[0], ut[0], lab01[0])
    with pytest.raises(ValueError, match="torch.Tensor"):
        loss(u.numpy(), ut, lab01)
    with pytest.raises(ValueError, match="empty batch"):
        loss(u[:0], ut[:0], lab01[:0])
    assert KDLoss(0.5, 2.0, reduction="sum")(u[:0], ut[:0], lab01[:0]).item() == 0.0
    U = torch.randn(6, 3, dtype=f64)
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        loss(U, U, torch.tensor([0, 1, 3, 0, 1, 2]))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        loss(U, U, torch.tensor([0, 1, -1, 0, 1, 2]))
    with pytest.raises(ValueError, match="integer class indices"):
        loss(U, U, torch.tensor([0, 1, 2, 0, 1, 2], dtype=f64))
    with pytest.raises(ValueError, match="K >= 2"):
        loss(U[:, :1], U[:, :1], lab01)
    with pytest.raises(ValueError, match="labels must have shape"):
        loss(U, U, torch.zeros(6, 3, dtype=torch.long))


def test_module_repr_and_functional_agree():
    loss = KDLoss(0.25, 3.0, reduction="sum", t2_scaling=True)
    assert "chi=0.25" in repr(loss) and "t2_scaling=True" in repr(loss)
    u, ut, lab01 = _binary_batch()
    assert loss(u, ut, lab01).item() == kd_loss(u, ut, lab01, 0.25, 3.0, "sum", True).item()
