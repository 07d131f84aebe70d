"""The per-token early-exit layer of bench/run-where's `calm` family, in
Sluice and in PyTorch, and its weights and thresholds.

    /usr/bin/python3 bench/tokens/calm.py OUT     (after make.py OUT)

A sequence of T = 64 or 256 tokens of 256, a router dense[256 -> 1], and a
pre-norm encoder layer (nn.TransformerEncoderLayer(256, 4, 1024,
norm_first=True)) run on the tokens whose router score is above a
threshold, however many, with every token in view of its attention (CALM's
exited tokens, their state frozen):

    h = route blk(x) tokens where (router(x)[:, 0] > theta) attending all
    y = pool_mean(h)

theta is a run-time threshold (where.py chooses it per fraction).  PyTorch
runs the same thing the way a hand-written CALM layer does: norm1 and the
k, v projection of every token, q of the chosen; per sequence, the chosen
tokens' queries against all keys and values (softmax(q k^T / sqrt(dh)) v:
this torch has no scaled_dot_product_attention); the
output projection, the residual and the feed-forward block on the chosen
tokens (index_select), copied back (index_copy).

Writes into OUT (build/bench-tokens): calm_tT/model.slu,
weights_calm.safetensors, thetas_calm.json; only what changed.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import moe  # noqa: E402  (D, HIDDEN, TS: the same sizes as the MoE bench)
import where  # noqa: E402  (thresholds, FRACTIONS, write)

NAME = "calm"
SELECTED = "blk"  # the ledger's key for the chosen tokens
HEADS = 4
FRACTIONS = where.FRACTIONS
SEED = 14

MODEL = """\
# bench/run-where calm: a pre-norm encoder layer on the tokens whose router
# score is above theta, however many, every token in view of its
# attention, over sequences of {T} tokens.  Written by bench/tokens/calm.py.
import transformer

model calm_t{T} {{
  tokens T min {T} max {T}
  input  x: f32[T, {D}]
  output y: f32[{D}]

  param router: dense[{D} -> 1]
  param blk: encoder_layer_pre[{D}, %d, {H}]
  threshold theta = 0

  h = route blk(x) tokens where (router(x)[:, 0] > theta) attending all
  y = pool_mean(h)
}}
""" % HEADS


class Calm(nn.Module):
    """A router and a pre-norm encoder layer: calm's model, and above's."""

    def __init__(self):
        super().__init__()
        self.router = nn.Linear(moe.D, 1)
        self.blk = nn.TransformerEncoderLayer(moe.D, HEADS, moe.HIDDEN, dropout=0.0,
                                              batch_first=True, norm_first=True)


def load(path):
    return where.load_into(Calm(), path)


def forward(net, x, theta):
    """x [B, T, D] -> (y [B, D], the chosen token rows of the B * T, ascending)."""
    b, t, d = x.shape
    blk, att = net.blk, net.blk.self_attn
    dh = d // HEADS
    live = net.router(x)[..., 0] > theta                        # [B, T]
    n1 = blk.norm1(x)
    kv = F.linear(n1, att.in_proj_weight[d:], att.in_proj_bias[d:])
    k, v = (z.view(b, t, HEADS, dh).transpose(1, 2) for z in kv.split(d, -1))
    tok = x.reshape(b * t, d)
    rows = torch.where(live.reshape(-1))[0]
    q = F.linear(n1.reshape(b * t, d).index_select(0, rows), att.in_proj_weight[:d],
                 att.in_proj_bias[:d])                          # the chosen tokens'
    ctx, scale, at = [], dh ** -0.5, 0
    for i in range(b):  # the chosen queries of sequence i against all its keys
        ki = int(live[i].sum())
        if ki:
            qi = q[at:at + ki].view(ki, HEADS, dh).transpose(0, 1)  # [H, K_i, dh]
            p = torch.softmax(torch.matmul(qi, k[i].transpose(1, 2)) * scale, -1)
            ctx.append(torch.matmul(p, v[i]).transpose(0, 1).reshape(-1, d))
            at += ki
    if len(rows):
        sel = tok.index_select(0, rows)
        h = sel + att.out_proj(torch.cat(ctx))
        h = h + blk.linear2(F.relu(blk.linear1(blk.norm2(h))))
        tok = tok.index_copy(0, rows, h)
    return tok.view(b, t, d).mean(1), rows


def expected_flops(t, k):
    """docs/language.md ("Cost") for one sequence of t tokens, k chosen: the
    router (a dense per token), > theta, the choosing, and with k > 0 the
    layer: norm1, k and v on all t, the attention's q and output projection
    on the k and its k * t pairs, the rest on the k (two adds, norm2,
    linear1, the ReLU, linear2); pool_mean."""
    d, h = moe.D, moe.HIDDEN
    outside = t * (2 * d + 1) + t + t + t * d
    if k == 0:
        return outside
    every = d + 2 * d * 2 * d + 2 * d
    chosen = 2 * (2 * d * d + d) + d + d + (2 * d * h + h) + h + (2 * h * d + d) + d
    return outside + t * every + k * chosen + k * t * (4 * d + HEADS)


def main():
    torch.manual_seed(SEED)
    where.write(sys.argv[1], NAME, MODEL, Calm().eval())


if __name__ == "__main__":
    main()
