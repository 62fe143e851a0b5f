"""The CPU dropout mask and the low-precision attention path of model.ops against torch's own kernels."""

import math

import pytest
import torch
import torch.nn.functional as F

from damer_lite.model import ops


def test_dropout_mask_rate_scale_and_seed():
    torch.manual_seed(0)
    m = ops.dropout_mask(torch.Size((64, 128, 128)), 0.1, torch.float32, torch.device("cpu"))
    dropped = (m == 0).double().mean().item()
    exact = round(0.1 * 65536) / 65536  # the 16-bit quantised rate
    n = m.numel()
    assert abs(dropped - exact) < 5 * math.sqrt(exact * (1 - exact) / n)  # 5 sigma on ~1M draws
    assert torch.all((m == 0) | torch.isclose(m, torch.tensor(1 / 0.9)))
    torch.manual_seed(0)
    again = ops.dropout_mask(torch.Size((64, 128, 128)), 0.1, torch.float32, torch.device("cpu"))
    assert torch.equal(m, again)
    odd = ops.dropout_mask(torch.Size((3, 5)), 0.5, torch.bfloat16, torch.device("cpu"))  # numel not /4
    assert odd.shape == (3, 5) and odd.dtype == torch.bfloat16


def test_dropout_module_modes_and_gradient():
    d = ops.Dropout(0.25)
    x = torch.randn(8, 16, 32, requires_grad=True)
    d.eval()
    assert d(x) is x
    d.train()
    torch.manual_seed(3)
    y = d(x)
    y.sum().backward()
    kept = y.detach() != 0
    assert torch.allclose(y.detach()[kept], x.detach()[kept] / 0.75)
    assert torch.allclose(x.grad, kept.float() / 0.75)  # d y / d x is the scaled mask
    assert ops.Dropout(0.0).train()(x) is x
    with pytest.raises(ValueError, match="dropout"):
        ops.Dropout(1.0)
    with ops.torch_kernels():  # the reference: torch's Bernoulli dropout, same expectation
        torch.manual_seed(3)
        z = d(torch.ones(200_000))
    assert abs(z.mean().item() - 1.0) < 0.02 and abs((z == 0).float().mean().item() - 0.25) < 0.01


def test_attention_low_precision_path_matches_fused_fp32():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(4, 4, n, 32, generator=g) for n in (128, 84, 84))
    ref = F.scaled_dot_product_attention(q, k, v)
    assert torch.equal(ops.attention(q, k, v), ref)  # fp32: torch's fused kernel itself
    qb, kb, vb = (t.bfloat16().requires_grad_() for t in (q, k, v))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # as in training: the fp32 kernel runs despite autocast
        out = ops.attention(qb, kb, vb)
    assert out.dtype == torch.bfloat16
    up = F.scaled_dot_product_attention(qb.detach().float(), kb.detach().float(), vb.detach().float())
    assert torch.equal(out.detach(), up.bfloat16())  # fp32 arithmetic on the bf16 inputs, one final rounding
    assert (out.float() - ref).abs().max().item() < 0.05  # bf16 inputs and output: ~3 significant digits
    out.float().sum().backward()
    assert all(t.grad is not None and torch.isfinite(t.grad).all() for t in (qb, kb, vb))
    with ops.torch_kernels():
        fused = ops.attention(qb.detach(), kb.detach(), vb.detach())
    assert (fused.float() - ref).abs().max().item() < 0.05
