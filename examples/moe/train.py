"""Train digits_moe (two residual top-2 mixture-of-experts blocks), write
weights and reference fixtures.

    /usr/bin/python3 examples/moe/train.py
"""
import json
import os
import sys
import time
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep examples/common free of __pycache__
sys.path.insert(0, os.path.join(HERE, "..", "common"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import slutil  # noqa: E402
from stdlib_torch import MLP  # noqa: E402
import sluref  # noqa: E402

NAME = "digits_moe"
SLU = os.path.join(HERE, NAME + ".slu")
WEIGHTS = os.path.join(HERE, NAME + ".safetensors")
SEED = 0
EPOCHS = 100
D, HID, N_EXPERTS, TOP_K = 32, 64, 8, 2
BALANCE = 0.05  # coefficient of the load-balancing loss


def top_k_route(scores, k):
    """Indices of the k largest logits (descending, lower index first on
    ties) and their renormalized softmax weights."""
    idx = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    w = torch.softmax(scores.gather(1, idx), dim=1)
    return idx, w


class MoEBlock(nn.Module):
    """h + sum_j w_j * expert[idx_j](ln(h)) with top-k routing by router(ln(h))."""

    def __init__(self, ln, router, ffn):
        super().__init__()
        self.ln, self.router, self.ffn = ln, router, ffn

    def forward(self, h):
        hn = self.ln(h)
        s = self.router(hn)
        idx, w = top_k_route(s, TOP_K)
        # batched: every expert on every row, then gather the chosen ones
        # (numerically the same combination as running only the chosen ones)
        ys = torch.stack([e(hn) for e in self.ffn], dim=1)  # [B, N, D]
        chosen = ys.gather(1, idx.unsqueeze(-1).expand(-1, -1, ys.shape[-1]))  # [B, k, D]
        out = h + (w.unsqueeze(-1) * chosen).sum(1)
        # Switch/GShard load balancing: N * sum_i f_i * P_i, f_i = share of the
        # B*k routing slots given to expert i, P_i = mean router probability
        f = F.one_hot(idx, N_EXPERTS).float().sum((0, 1)) / idx.numel()
        P = torch.softmax(s, dim=1).mean(0)
        aux = N_EXPERTS * (f * P).sum()
        return out, idx, aux


class DigitsMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(64, D)
        self.ln1 = nn.LayerNorm(D, eps=1e-5)
        self.router1 = nn.Linear(D, N_EXPERTS)
        self.ffn1 = nn.ModuleList(MLP(D, HID, D) for _ in range(N_EXPERTS))
        self.ln2 = nn.LayerNorm(D, eps=1e-5)
        self.router2 = nn.Linear(D, N_EXPERTS)
        self.ffn2 = nn.ModuleList(MLP(D, HID, D) for _ in range(N_EXPERTS))
        self.lnf = nn.LayerNorm(D, eps=1e-5)
        self.out = nn.Linear(D, 10)

    def forward(self, x):
        h = self.inp(x)
        h, idx1, aux1 = MoEBlock(self.ln1, self.router1, self.ffn1)(h)
        h, idx2, aux2 = MoEBlock(self.ln2, self.router2, self.ffn2)(h)
        return self.out(self.lnf(h)), (idx1, idx2), aux1 + aux2


def train(data):
    Xtr, ytr = (torch.from_numpy(a) for a in data["train"])
    Xva, yva = (torch.from_numpy(a) for a in data["val"])
    net = DigitsMoE()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(SEED)
    for ep in range(EPOCHS):
        net.train()
        for idx in slutil.batches(len(Xtr), 64, gen):
            logits, _, aux = net(Xtr[idx])
            ce = F.cross_entropy(logits, ytr[idx])
            loss = ce + BALANCE * aux
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (ep + 1) % 50 == 0:
            net.eval()
            with torch.no_grad():
                logits, (i1, i2), aux = net(Xva)
            use = [torch.bincount(i.reshape(-1), minlength=N_EXPERTS).tolist() for i in (i1, i2)]
            print(f"epoch {ep + 1}: ce {float(ce):.4f} balance {float(aux) / 2:.3f} val acc "
                  f"{float((logits.argmax(1) == yva).float().mean()):.3f} expert use {use}")
    return net


def main():
    t0 = time.time()
    slutil.setup(SEED)
    data = slutil.digits_split()
    spec = sluref.Model(SLU)
    net = train(data)
    net.eval()
    slutil.save_weights(WEIGHTS, net, spec.manifest())

    w, _ = slutil.load_safetensors(WEIGHTS)
    ref = sluref.Model(SLU, w)
    Xte, yte = data["test"]
    outputs, records = ref.run_batch(Xte)

    # sanity: routes and outputs agree with the batched module
    with torch.no_grad():
        logits, (i1, i2), _ = net(torch.from_numpy(Xte))
    mism = [i for i, r in enumerate(records)
            if r["routes"]["ffn1"] != i1[i].tolist() or r["routes"]["ffn2"] != i2[i].tolist()]
    assert not [i for i in mism if not records[i]["near_threshold"]]
    d = slutil.max_abs_diff(outputs, torch.softmax(logits, 1).numpy())
    print(f"check: {len(mism)} route decisions differ from the module; max |ref - module| = {d:.2e}")
    assert d < 1e-5

    summary = slutil.write_fixtures(HERE, ref, Xte, yte, outputs, records, OrderedDict([
        ("balance_coefficient", BALANCE),
    ]))
    print(json.dumps(summary, indent=1))
    print("files:", json.dumps(slutil.file_sizes(HERE)))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
