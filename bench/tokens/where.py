"""The threshold mixture-of-depths model of bench/run-where, in Sluice and in
PyTorch, and its weights and thresholds.

    /usr/bin/python3 bench/tokens/where.py OUT     (after make.py OUT)

A sequence of T = 64 or 256 tokens of 256, a router dense[256 -> 1], and a
residual MLP block x + fc2(relu(fc1(x))) (256 -> 1024 -> 256) run only on
the tokens whose router score is above a threshold, however many:

    h = route blk(x) tokens where (router(x)[:, 0] > theta)
    y = pool_mean(h)

theta is a run-time threshold, so one compiled model serves every fraction:
for each fraction F of FRACTIONS, theta is set between the scores that let
F of the tokens of make.py's inputs through (thetas.json).  PyTorch runs the
same model the way a gather/scatter implementation of mixture of depths
does: the tokens above the threshold selected (torch.where, index_select),
the block over them, copied back (index_copy_).

Writes into OUT (build/bench-tokens): where_tT/model.slu,
weights_where.safetensors, thetas_where.json; only what changed.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import moe  # noqa: E402  (D, HIDDEN, TS: the same sizes as the MoE bench)
from stdlib_torch import MLP  # noqa: E402

FRACTIONS = (0.125, 0.25, 0.5, 1.0)
SEED = 13
MARGIN = 1e-3  # no token's score within this of a threshold

MODEL = """\
# bench/run-where: a residual MLP block on the tokens whose router score
# is above theta, however many, over sequences of {T} tokens.
# Written by bench/tokens/where.py.
layer ffn[d, h] {{
  tokens S
  input  x: f32[S, d]
  output y: f32[S, d]
  param fc1: dense[d -> h]
  param fc2: dense[h -> d]
  y = x + fc2(relu(fc1(x)))
}}

model where_t{T} {{
  tokens T min {T} max {T}
  input  x: f32[T, {D}]
  output y: f32[{D}]

  param router: dense[{D} -> 1]
  param blk: ffn[{D}, {H}]
  threshold theta = 0

  h = route blk(x) tokens where (router(x)[:, 0] > theta)
  y = pool_mean(h)
}}
"""


class WhereMoD(nn.Module):
    def __init__(self):
        super().__init__()
        self.router = nn.Linear(moe.D, 1)
        self.blk = MLP(moe.D, moe.HIDDEN, moe.D)


def load_into(net, path):
    """net with the weights of a safetensors file, in eval mode."""
    import slutil
    w, _ = slutil.load_safetensors(path)
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in w.items()})
    return net.eval()


def load(path):
    return load_into(WhereMoD(), path)


def forward(net, x, theta):
    """x [B, T, D] -> (y [B, D], the chosen token rows of the B * T, ascending)."""
    b, t, d = x.shape
    tok = x.reshape(b * t, d)
    rows = torch.where(net.router(tok)[:, 0] > theta)[0]
    sel = tok.index_select(0, rows)
    h = tok.index_copy(0, rows, sel + net.blk(sel))
    return h.view(b, t, d).mean(1), rows


def expected_flops(t, k):
    """docs/language.md ("Cost") for one sequence of t tokens, k through the
    block: the router (a dense per token), > theta, the choosing, the block
    on k tokens (two dense layers, the ReLU, the residual add), pool_mean."""
    d, h = moe.D, moe.HIDDEN
    blk = (2 * d * h + h) + h + (2 * h * d + d) + d
    return t * (2 * d + 1) + t + t + k * blk + t * d


def thresholds(scores):
    """For each fraction F, a theta that lets about F of the scores through
    (within 2% of them): the middle of the widest gap between neighbouring
    sorted scores there, so that no score is within MARGIN of it."""
    s = np.sort(scores)[::-1]
    n = len(s)
    out = {}
    for f in FRACTIONS:
        m = int(round(f * n))
        if m >= n:
            theta = float(s[-1]) - 1.0
        else:
            w = max(1, n // 50)
            m = max(range(max(1, m - w), min(n - 1, m + w) + 1), key=lambda j: s[j - 1] - s[j])
            theta = (float(s[m - 1]) + float(s[m])) / 2
        theta = float(np.float32(theta))
        gap = np.abs(scores - theta).min()
        if gap < MARGIN:
            raise SystemExit(f"where.py: a score lies within {gap:.1e} of theta at {f}")
        out[str(f)] = theta
    return out


def write(out, name, model, net):
    """A family's files in OUT: NAME_tT/model.slu from the text `model`
    (formatted with T, D, H) for each T, weights_NAME.safetensors from `net`
    (its `router` scores the tokens), thetas_NAME.json; only what changed."""
    import make
    changed = []
    for t in moe.TS:
        d = os.path.join(out, f"{name}_t{t}")
        os.makedirs(d, exist_ok=True)
        text = model.format(T=t, D=moe.D, H=moe.HIDDEN).encode()
        if make.write_if_changed(os.path.join(d, "model.slu"), text):
            changed.append(os.path.join(d, "model.slu"))
    w = os.path.join(out, f"weights_{name}.safetensors")
    if make.save_if_changed(w, net.state_dict()):
        changed.append(w)
    thetas = {}
    with torch.no_grad():
        for t in moe.TS:
            x = np.load(os.path.join(out, f"inputs_t{t}.npy")).reshape(-1, moe.D)
            scores = net.router(torch.from_numpy(x))[:, 0].double().numpy()
            thetas[str(t)] = thresholds(scores)
    p = os.path.join(out, f"thetas_{name}.json")
    if make.write_if_changed(p, (json.dumps(thetas, indent=1) + "\n").encode()):
        changed.append(p)
    print(f"{name}.py: " + ("wrote " + ", ".join(changed) if changed else "nothing to change"))


NAME = "where"
SELECTED = "blk"  # the ledger's key for the chosen tokens


def main():
    torch.manual_seed(SEED)
    write(sys.argv[1], NAME, MODEL, WhereMoD().eval())


if __name__ == "__main__":
    main()
