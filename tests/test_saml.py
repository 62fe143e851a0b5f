import math

import pytest
import torch

from damer_lite.model.saml import MemoryQueue, supcon_queue_loss


def test_queue_wraps_around_and_keeps_labels():
    q = MemoryQueue(size=5, dim=3)
    assert len(q) == 0 and math.isnan(q.stats()["queue_entropy"])
    q.enqueue(torch.ones(3, 3), torch.tensor([0, 0, 0]))
    assert int(q.ptr) == 3 and len(q) == 3
    q.enqueue(2 * torch.ones(4, 3), torch.tensor([1, 1, 1, 1]))
    assert int(q.ptr) == 2 and len(q) == 5  # 3 + 4 = 7 -> wraps to 2
    assert q.labels.tolist() == [1, 1, 0, 1, 1]
    torch.testing.assert_close(q.features.norm(dim=-1), torch.ones(5))  # L2-normalised (Eq. 18)
    q.enqueue(torch.arange(21.0).view(7, 3), torch.tensor([0, 1, 0, 1, 0, 1, 0]))  # batch > K: last 5 kept
    assert len(q) == 5 and int(q.ptr) == 2
    assert sorted(q.labels.tolist()) == [0, 0, 0, 1, 1]
    s = q.stats()
    assert s["queue_coverage"] == pytest.approx([0.6, 0.4])
    assert s["queue_entropy"] == pytest.approx(-(0.6 * math.log(0.6) + 0.4 * math.log(0.4)))
    assert len(s["queue_centroid_dist"]) == 2
    with pytest.raises(ValueError):
        q.enqueue(torch.ones(2, 4), torch.tensor([0, 1]))
    assert set(dict(q.named_buffers())) == {"features", "labels", "ptr", "filled"}


def test_supcon_edge_cases():
    qf, ql = torch.randn(4, 8, requires_grad=True), torch.tensor([0, 1, 0, 1])
    empty = supcon_queue_loss(qf, ql, torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))
    assert float(empty.detach()) == 0.0
    empty.backward()  # has a graph
    only0 = supcon_queue_loss(qf, ql, torch.randn(6, 8), torch.zeros(6, dtype=torch.long))
    assert torch.isfinite(only0)  # queries of class 1 have no positive and add 0
    keys, kl = torch.randn(10, 8), torch.tensor([0, 1] * 5)
    s = supcon_queue_loss(qf, ql, keys, kl, positives="sum")
    m = supcon_queue_loss(qf, ql, keys, kl, positives="mean")
    assert float(s.detach()) == pytest.approx(5 * float(m.detach()), rel=1e-5)  # 5 positives per query
    with pytest.raises(ValueError):
        supcon_queue_loss(qf, ql, keys, kl, positives="max")


def test_supcon_decreases_on_separable_toy_problem():
    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1] * 16)
    centres = torch.randn(2, 16, generator=g)
    feats = (centres[labels] + 1.5 * torch.randn(32, 16, generator=g)).requires_grad_(True)
    opt = torch.optim.Adam([feats], lr=0.05)
    q = MemoryQueue(size=64, dim=16)
    losses = []
    for _ in range(40):
        q.enqueue(feats.detach(), labels)
        keys, kl = q.contents()
        loss = supcon_queue_loss(feats, labels, keys, kl, tau=0.07)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    floor = math.log(32)  # averaged over 32 positives, the loss cannot go below log(32)
    assert losses[-1] - floor < 0.2 * (losses[0] - floor)
    s = q.stats()
    assert s["queue_coverage"] == pytest.approx([0.5, 0.5])


def _hand_supcon(queries, q_labels, keys, k_labels, tau, positives):
    """Eq. 19-20 in plain python: cosine similarities / τ, log-softmax over the memory, minus the sum (or the
    mean) of the positives' log-probabilities per query, averaged over the queries."""
    def unit(v):
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]

    losses = []
    for q, yq in zip(queries, q_labels, strict=True):
        q = unit(q)
        s = [sum(a * b for a, b in zip(q, unit(k), strict=True)) / tau for k in keys]
        log_z = math.log(sum(math.exp(v) for v in s))
        pos = [s_j - log_z for s_j, yk in zip(s, k_labels, strict=True) if yk == yq]
        total = -sum(pos)
        losses.append(total / max(len(pos), 1) if positives == "mean" else total)
    return sum(losses) / len(losses)


@pytest.mark.parametrize("positives", ["sum", "mean"])
def test_supcon_matches_hand_computation(positives):
    queries = [[1.0, 0.0], [0.6, 0.8], [3.0, 4.0], [0.0, -2.0]]  # not unit length: normalised inside
    q_labels = [0, 1, 1, 2]  # the last query has no positive in the memory: it adds 0
    keys = [[1.0, 0.0], [0.0, 2.0], [0.8, 0.6], [-1.0, 0.0]]
    k_labels = [0, 1, 0, 1]
    tau = 0.5
    got = supcon_queue_loss(torch.tensor(queries), torch.tensor(q_labels), torch.tensor(keys),
                            torch.tensor(k_labels), tau=tau, positives=positives)
    want = _hand_supcon(queries, q_labels, keys, k_labels, tau, positives)
    assert float(got) == pytest.approx(want, rel=1e-6)
    # the first query by hand, written out: similarities 1, 0, 0.8, -1 over τ = 0.5; positives keys 1 and 3
    s = [2.0, 0.0, 1.6, -2.0]
    log_z = math.log(sum(math.exp(v) for v in s))
    first = -((2.0 - log_z) + (1.6 - log_z))
    one = supcon_queue_loss(torch.tensor(queries[:1]), torch.tensor(q_labels[:1]), torch.tensor(keys),
                            torch.tensor(k_labels), tau=tau, positives=positives)
    assert float(one) == pytest.approx(first / 2 if positives == "mean" else first, rel=1e-6)
