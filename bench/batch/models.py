"""The three models of bench/run-batch in PyTorch, in the forms the benchmark
compares.  Module attribute names are the .slu parameter paths, so a
state_dict is the model's safetensors file as it is.

For each model:
  Net          the trainable module (plain nn.Module, as trained);
  compacted()  inference written as an expert batches a conditional network
               in PyTorch: one pass per layer over only the rows that need
               it (rows leaving at an exit are dropped from later layers;
               each gate arm runs on index_select'ed rows; MoE rows grouped
               per expert, index_select + index_add_ as Mixtral's reference
               MixtralSparseMoeBlock does).  Returns (y, decisions); as
               lists (decisions_list()) the decisions per row have the form
               decisions_from_ledger() gives for Sluice's ledger;
  Row          the per-row module for ONNX export with If nodes (batch 1;
               data-dependent `if` under torch.jit.script);
  Masked       the masked batch module for ONNX export: every branch for
               every row, results selected with where / zero weights.

Run with /usr/bin/python3 (Debian's torch 1.13).
"""
import os
import sys
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "common"))
from stdlib_torch import MLP  # noqa: E402  (stdlib nn.mlp, same state_dict names)

MODELS = ("ee1024", "gatetree", "moe2x8")


# ---------------------------------------------------------------------------
# ee1024: early exits at max(softmax) >= t0, t1, t2
# ---------------------------------------------------------------------------

class EE1024(nn.Module):
    def __init__(self, width=1024):
        super().__init__()
        # declaration order = .slu param order = state_dict order
        self.fc1 = nn.Linear(64, width)
        self.head1 = nn.Linear(width, 10)
        self.fc2 = nn.Linear(width, width)
        self.head2 = nn.Linear(width, 10)
        self.fc3 = nn.Linear(width, width)
        self.head3 = nn.Linear(width, 10)
        self.fc4 = nn.Linear(width, width)
        self.out = nn.Linear(width, 10)

    def trunk_and_heads(self):
        return [(self.fc1, self.head1), (self.fc2, self.head2), (self.fc3, self.head3), (self.fc4, self.out)]

    def forward(self, x):
        """Logits of the four heads, no exits (training, calibration)."""
        logits, h = [], x
        for fc, head in self.trunk_and_heads():
            h = F.relu(fc(h))
            logits.append(head(h))
        return logits


def ee_compacted(net, x, th):
    """Rows that leave at an exit are dropped from every later layer."""
    n = x.shape[0]
    y = x.new_empty(n, 10)
    exits = torch.full((n,), 3, dtype=torch.long)
    rows = torch.arange(n)
    h = x
    layers = net.trunk_and_heads()
    for k, (fc, head) in enumerate(layers):
        h = F.relu(fc(h))
        p = F.softmax(head(h), dim=1)
        if k == len(layers) - 1:
            y[rows] = p
            break
        leave = p.max(dim=1).values >= th[k]
        if bool(leave.any()):
            y[rows[leave]] = p[leave]
            exits[rows[leave]] = k
            stay = ~leave
            rows, h = rows[stay], h[stay]
            if rows.numel() == 0:
                break
    return y, exits


class EE1024Row(nn.Module):
    """One input [1, 64]: nested data-dependent ifs (ONNX If nodes).  Holds
    the layers themselves (scripting would compile a held net's forward)."""

    def __init__(self, net, th):
        super().__init__()
        for k in ("fc1", "head1", "fc2", "head2", "fc3", "head3", "fc4", "out"):
            setattr(self, k, getattr(net, k))
        self.t0, self.t1, self.t2 = float(th[0]), float(th[1]), float(th[2])

    def forward(self, x):
        h = F.relu(self.fc1(x))
        y = F.softmax(self.head1(h), dim=1)
        if bool(torch.max(y) < self.t0):
            h = F.relu(self.fc2(h))
            y = F.softmax(self.head2(h), dim=1)
            if bool(torch.max(y) < self.t1):
                h = F.relu(self.fc3(h))
                y = F.softmax(self.head3(h), dim=1)
                if bool(torch.max(y) < self.t2):
                    h = F.relu(self.fc4(h))
                    y = F.softmax(self.out(h), dim=1)
        return y


class EE1024Masked(nn.Module):
    """Every head for every row; the exit each row would take selects."""

    def __init__(self, net, th):
        super().__init__()
        self.net = net
        self.th = [float(t) for t in th]

    def forward(self, x):
        p = [F.softmax(l, dim=1) for l in self.net(x)]
        y = p[3]
        for k in (2, 1, 0):
            y = torch.where((p[k].max(dim=1, keepdim=True).values >= self.th[k]), p[k], y)
        return y


# ---------------------------------------------------------------------------
# gatetree: gate g0 -> branch a | b, then ga | gb -> one of four leaves
# ---------------------------------------------------------------------------

class GateTree(nn.Module):
    def __init__(self, width=512):
        super().__init__()
        L = nn.Linear
        self.trunk = L(64, width)
        self.g0 = L(width, 1)
        self.a1, self.a2, self.ga = L(width, width), L(width, width), L(width, 1)
        self.la0, self.heada0 = L(width, width), L(width, 10)
        self.la1, self.heada1 = L(width, width), L(width, 10)
        self.b1, self.b2, self.gb = L(width, width), L(width, width), L(width, 1)
        self.lb0, self.headb0 = L(width, width), L(width, 10)
        self.lb1, self.headb1 = L(width, width), L(width, 10)

    def branches(self):
        """(first layer, second layer, gate, [(leaf layer, head) x 2]) per branch."""
        return [(self.a1, self.a2, self.ga, [(self.la0, self.heada0), (self.la1, self.heada1)]),
                (self.b1, self.b2, self.gb, [(self.lb0, self.headb0), (self.lb1, self.headb1)])]

    def everything(self, x):
        """Every intermediate for every row: gate logits [g0, ga, gb] and the
        four leaves' logits [a0, a1, b0, b1]."""
        h = F.relu(self.trunk(x))
        gates, leaves = [self.g0(h)[:, 0]], []
        for l1, l2, g, lv in self.branches():
            a = F.relu(l2(F.relu(l1(h))))
            gates.append(g(a)[:, 0])
            leaves += [head(F.relu(l(a))) for l, head in lv]
        return gates, leaves

    def forward(self, x):
        """Soft tree for training: log of the gate-weighted leaf probabilities."""
        gates, leaves = self.everything(x)
        s0, sa, sb = (torch.sigmoid(g)[:, None] for g in gates)
        p = [F.softmax(l, dim=1) for l in leaves]
        mix = s0 * (sa * p[0] + (1 - sa) * p[1]) + (1 - s0) * (sb * p[2] + (1 - sb) * p[3])
        return torch.log(mix + 1e-9), gates


def gatetree_compacted(net, x):
    """Each gate arm runs on the rows routed to it (index_select), its
    results scattered back with index_copy_.  Decision per row: the leaf,
    0 = a0, 1 = a1, 2 = b0, 3 = b1."""
    n = x.shape[0]
    y = x.new_empty(n, 10)
    leaf = torch.empty(n, dtype=torch.long)
    h = F.relu(net.trunk(x))
    c0 = net.g0(h)[:, 0] > 0
    for bi, ((l1, l2, g, leaves), sel) in enumerate(zip(net.branches(), (c0, ~c0))):
        rows = sel.nonzero()[:, 0]
        if rows.numel() == 0:
            continue
        a = F.relu(l2(F.relu(l1(h.index_select(0, rows)))))
        c = g(a)[:, 0] > 0
        for li, ((l, head), sub) in enumerate(zip(leaves, (c, ~c))):
            j = sub.nonzero()[:, 0]
            if j.numel() == 0:
                continue
            r = rows.index_select(0, j)
            y.index_copy_(0, r, F.softmax(head(F.relu(l(a.index_select(0, j)))), dim=1))
            leaf[r] = 2 * bi + li
    return y, leaf


class GateTreeRow(nn.Module):
    """One input [1, 64]: the gates as data-dependent ifs."""

    def __init__(self, net):
        super().__init__()
        for k, _ in net.named_children():
            setattr(self, k, getattr(net, k))

    def forward(self, x):
        h = F.relu(self.trunk(x))
        if bool(self.g0(h)[0, 0] > 0):
            a = F.relu(self.a2(F.relu(self.a1(h))))
            if bool(self.ga(a)[0, 0] > 0):
                y = F.softmax(self.heada0(F.relu(self.la0(a))), dim=1)
            else:
                y = F.softmax(self.heada1(F.relu(self.la1(a))), dim=1)
        else:
            b = F.relu(self.b2(F.relu(self.b1(h))))
            if bool(self.gb(b)[0, 0] > 0):
                y = F.softmax(self.headb0(F.relu(self.lb0(b))), dim=1)
            else:
                y = F.softmax(self.headb1(F.relu(self.lb1(b))), dim=1)
        return y


class GateTreeMasked(nn.Module):
    """All four leaves for every row, selected with where."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        gates, leaves = self.net.everything(x)
        p = [F.softmax(l, dim=1) for l in leaves]
        c0, ca, cb = (g[:, None] > 0 for g in gates)
        return torch.where(c0, torch.where(ca, p[0], p[1]), torch.where(cb, p[2], p[3]))


# ---------------------------------------------------------------------------
# moe2x8: two residual top-2 MoE blocks of 8 experts, mlp[512, 1024, 512]
# ---------------------------------------------------------------------------

N_EXPERTS, TOP_K = 8, 2


def route_top_k(scores, k=TOP_K):
    """The k largest scores, best first (ties to the lower index, as Sluice),
    and their softmax renormalized over the k."""
    idx = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    return idx, F.softmax(scores.gather(1, idx), dim=1)


def moe_sparse(hn, router, experts, k=TOP_K):
    """Mixtral's reference MoE forward (MixtralSparseMoeBlock): rows grouped
    per expert, index_select, the expert on its rows, index_add_ back.
    Returns the combination, the chosen experts [n, k] and the router scores."""
    s = router(hn)
    idx, w = route_top_k(s, k)
    out = torch.zeros_like(hn)
    hit = F.one_hot(idx, len(experts)).permute(2, 1, 0)  # [expert, slot, row]
    for e, expert in enumerate(experts):
        slot, rows = torch.where(hit[e])
        if rows.numel() == 0:
            continue
        ye = expert(hn.index_select(0, rows)) * w[rows, slot, None]
        out.index_add_(0, rows, ye)
    return out, idx, s


class MoE2x8(nn.Module):
    def __init__(self, d=512, hidden=1024):
        super().__init__()
        self.inp = nn.Linear(64, d)
        self.ln1 = nn.LayerNorm(d, eps=1e-5)
        self.router1 = nn.Linear(d, N_EXPERTS)
        self.ffn1 = nn.ModuleList(MLP(d, hidden, d) for _ in range(N_EXPERTS))
        self.ln2 = nn.LayerNorm(d, eps=1e-5)
        self.router2 = nn.Linear(d, N_EXPERTS)
        self.ffn2 = nn.ModuleList(MLP(d, hidden, d) for _ in range(N_EXPERTS))
        self.lnf = nn.LayerNorm(d, eps=1e-5)
        self.out = nn.Linear(d, 10)

    def blocks(self):
        return [(self.ln1, self.router1, self.ffn1), (self.ln2, self.router2, self.ffn2)]

    def forward(self, x):
        """Logits, chosen experts per block, router scores per block (training
        runs the sparse forward too: only the chosen experts)."""
        h = self.inp(x)
        idxs, scores = [], []
        for ln, router, ffn in self.blocks():
            o, idx, s = moe_sparse(ln(h), router, ffn)
            h = h + o
            idxs.append(idx)
            scores.append(s)
        return self.out(self.lnf(h)), idxs, scores


def moe_compacted(net, x):
    """Decision per row: the chosen experts of each block, best first."""
    logits, idxs, _ = net(x)
    return F.softmax(logits, dim=1), idxs


class MoEBlockRow(nn.Module):
    """One row [1, d]: each expert behind an `if` on whether it was chosen."""

    def __init__(self, ln, router, ffn):
        super().__init__()
        self.ln, self.router, self.ffn = ln, router, ffn
        self.k = TOP_K

    def forward(self, h):
        hn = self.ln(h)
        top = torch.topk(self.router(hn)[0], self.k)
        w = F.softmax(top.values, dim=0)
        out = h
        for i, expert in enumerate(self.ffn):  # unrolled by TorchScript
            chosen = top.indices == i
            if bool(chosen.any()):
                out = out + (w * chosen.float()).sum() * expert(hn)
        return out


class MoE2x8Row(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.inp, self.lnf, self.out = net.inp, net.lnf, net.out
        self.block1 = MoEBlockRow(net.ln1, net.router1, net.ffn1)
        self.block2 = MoEBlockRow(net.ln2, net.router2, net.ffn2)

    def forward(self, x):
        h = self.block2(self.block1(self.inp(x)))
        return F.softmax(self.out(self.lnf(h)), dim=1)


class MoEBlockMasked(nn.Module):
    """Every expert on every row, weighted by zero where not chosen."""

    def __init__(self, ln, router, ffn):
        super().__init__()
        self.ln, self.router, self.ffn = ln, router, ffn

    def forward(self, h):
        hn = self.ln(h)
        s = self.router(hn)
        top = torch.topk(s, TOP_K, dim=1)
        wfull = torch.zeros_like(s).scatter(1, top.indices, F.softmax(top.values, dim=1))
        out = h
        ys: List[torch.Tensor] = [expert(hn) for expert in self.ffn]
        for i in range(len(ys)):
            out = out + wfull[:, i:i + 1] * ys[i]
        return out


class MoE2x8Masked(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.inp, self.lnf, self.out = net.inp, net.lnf, net.out
        self.block1 = MoEBlockMasked(net.ln1, net.router1, net.ffn1)
        self.block2 = MoEBlockMasked(net.ln2, net.router2, net.ffn2)

    def forward(self, x):
        h = self.block2(self.block1(self.inp(x)))
        return F.softmax(self.out(self.lnf(h)), dim=1)


# ---------------------------------------------------------------------------
# one interface over the three
# ---------------------------------------------------------------------------

def load_trained(name, d):
    """The net trained into DIR (its weights.safetensors, as train.py saved
    it) and its thresholds.json."""
    import json
    import numpy as np
    import slutil
    net = new_net(name)
    w, _ = slutil.load_safetensors(os.path.join(d, "weights.safetensors"))
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in w.items()})
    net.eval()
    with open(os.path.join(d, "thresholds.json")) as f:
        th = json.load(f)
    return net, th


def new_net(name):
    return {"ee1024": EE1024, "gatetree": GateTree, "moe2x8": MoE2x8}[name]()


def compacted(name, net, x, thresholds):
    """(y, decisions) for a batch x, as the compacted PyTorch inference; the
    decisions as tensors (decisions_list() makes them lists)."""
    if name == "ee1024":
        return ee_compacted(net, x, [thresholds[t] for t in ("t0", "t1", "t2")])
    if name == "gatetree":
        return gatetree_compacted(net, x)
    return moe_compacted(net, x)


def decisions_list(name, dec):
    """compacted()'s decisions as a list per row, the form of
    decisions_from_ledger()."""
    if name == "moe2x8":
        return [[a, b] for a, b in zip(dec[0].tolist(), dec[1].tolist())]
    return dec.tolist()


def row_module(name, net, thresholds):
    if name == "ee1024":
        return EE1024Row(net, [thresholds[t] for t in ("t0", "t1", "t2")])
    return GateTreeRow(net) if name == "gatetree" else MoE2x8Row(net)


def masked_module(name, net, thresholds):
    if name == "ee1024":
        return EE1024Masked(net, [thresholds[t] for t in ("t0", "t1", "t2")])
    return GateTreeMasked(net) if name == "gatetree" else MoE2x8Masked(net)


def decisions_from_ledger(name, rec):
    """A Sluice ledger record's decisions, in the form compacted() returns:
    ee1024 the exit (0, 1, 2; 3 = end); gatetree the leaf (0 = a0, 1 = a1,
    2 = b0, 3 = b1); moe2x8 [experts of ffn1, experts of ffn2]."""
    if name == "ee1024":
        return 3 if rec["exit"] == "end" else int(rec["exit"][4:])
    if name == "gatetree":
        g = rec["gates"]
        return (0 if g["gate1"] else 1) if g["gate0"] else (2 if g["gate2"] else 3)
    return [rec["routes"]["ffn1"], rec["routes"]["ffn2"]]
