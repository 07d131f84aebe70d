"""The model of bench/run-tokens in PyTorch, and its inference written the
way Mixtral's reference code (MixtralSparseMoeBlock) runs a mixture of
experts: every token routed on its own, then per expert the tokens that
chose it gathered (torch.where, index_select), the expert over them, scaled
by their weights, and added back (index_add_).

Module attribute names are the .slu parameter paths (router, experts.E.fc1,
experts.E.fc2), so the state_dict is the safetensors file as it is.  Run
with /usr/bin/python3 (Debian's torch 1.13).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "common"))
from stdlib_torch import MLP  # noqa: E402  (stdlib nn.mlp, same state_dict names)

D, HIDDEN, N_EXPERTS = 256, 1024, 8
TS = (64, 256)        # tokens per sequence
KS = (1, 2, 4, 8)     # experts per token; 8: every expert (the dense model)
ROUTER_SCALE = 4.0    # the router's weights, times nn.Linear's initialisation


class TokenMoE(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(D, N_EXPERTS)
        self.experts = nn.ModuleList(MLP(D, HIDDEN, D) for _ in range(N_EXPERTS))


def new_net():
    """Random weights from torch's current seed."""
    net = TokenMoE()
    with torch.no_grad():
        net.router.weight.mul_(ROUTER_SCALE)
    return net.eval()


def load(path):
    import numpy as np
    import slutil
    net = TokenMoE()
    w, _ = slutil.load_safetensors(path)
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in w.items()})
    return net.eval()


def top_k(scores, k):
    """Per row, the k largest scores, best first, ties to the lower index
    (a stable descending sort, as Sluice: examples/common/seqref.py), and
    their softmax over the k."""
    idx = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    return idx, F.softmax(scores.gather(1, idx), dim=1)


def forward(net, x, k):
    """x [B, T, D] -> (y [B, D], the chosen experts [B * T, k]):
    h = x + route experts(x) top k by router(x); y = pool_mean(h)."""
    b, t, d = x.shape
    tok = x.reshape(b * t, d)
    idx, w = top_k(net.router(tok), k)
    out = torch.zeros_like(tok)
    hit = F.one_hot(idx, N_EXPERTS).permute(2, 1, 0)  # [expert, slot, token]
    for e, expert in enumerate(net.experts):
        slot, rows = torch.where(hit[e])
        if rows.numel() == 0:
            continue
        ye = expert(tok.index_select(0, rows)) * w[rows, slot, None]
        out.index_add_(0, rows, ye)
    h = tok + out
    return h.view(b, t, d).mean(1), idx
