"""The token-selection model of bench/run-where's `above` family, in Sluice
and in PyTorch, and its weights and thresholds.

    /usr/bin/python3 bench/tokens/above.py OUT     (after make.py OUT)

A sequence of T = 64 or 256 tokens of 256, a router dense[256 -> 1], then
the tokens whose router score is above a threshold (or the best one) kept
for the rest of the model: a pre-norm encoder layer
(nn.TransformerEncoderLayer(256, 4, 1024, norm_first=True)) and a mean:

    h = tokens_above(x, router(x), theta)
    y = pool_mean(blk(h))

theta is a run-time threshold (where.py chooses it per fraction).  PyTorch
runs it the way a batch of sequences of different lengths runs there: the
kept tokens of each sequence gathered into a batch padded to the longest
(index_select), the layer over it with src_key_padding_mask, the mean over
each sequence's kept tokens.

Writes into OUT (build/bench-tokens): above_tT/model.slu,
weights_above.safetensors, thetas_above.json; only what changed.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import calm  # noqa: E402  (Calm: the same router and layer; HEADS)
import moe  # noqa: E402  (D, HIDDEN, TS: the same sizes as the MoE bench)
import where  # noqa: E402  (thresholds, FRACTIONS, write, load_into)

NAME = "above"
SELECTED = "tokens_above"  # the ledger's key for the kept tokens
HEADS = calm.HEADS
FRACTIONS = where.FRACTIONS
SEED = 15

MODEL = """\
# bench/run-where above: the tokens whose router score is above theta (or
# the best one) kept for a pre-norm encoder layer and a mean, over
# sequences of {T} tokens.  Written by bench/tokens/above.py.
import transformer

model above_t{T} {{
  tokens T min {T} max {T}
  input  x: f32[T, {D}]
  output y: f32[{D}]

  param router: dense[{D} -> 1]
  param blk: encoder_layer_pre[{D}, %d, {H}]
  threshold theta = 0

  h = tokens_above(x, router(x), theta)
  y = pool_mean(blk(h))
}}
""" % HEADS


def load(path):
    return where.load_into(calm.Calm(), path)


def forward(net, x, theta):
    """x [B, T, D] -> (y [B, D], the kept token rows of the B * T, ascending)."""
    b, t, d = x.shape
    s = net.router(x)[..., 0]
    keep = s > theta
    none = ~keep.any(1)
    if none.any():  # the best one
        keep[none, s[none].argmax(1)] = True
    n = keep.sum(1)
    most = int(n.max())
    rows = torch.where(keep.reshape(-1))[0]
    # each sequence's kept tokens at the front of a padded batch
    slot = torch.arange(most).expand(b, most)
    pad = slot >= n[:, None]
    h = torch.zeros(b * most, d)
    h.index_copy_(0, torch.where(~pad.reshape(-1))[0], x.reshape(b * t, d).index_select(0, rows))
    h = net.blk(h.view(b, most, d), src_key_padding_mask=pad)
    y = h.masked_fill(pad[..., None], 0).sum(1) / n[:, None]
    return y, rows


def expected_flops(t, k):
    """docs/language.md ("Cost") for one sequence of t tokens, k kept: the
    router (a dense per token), the choosing (one per score), then on the k
    the layer (its attention over k tokens, norm1, norm2, two adds, linear1,
    the ReLU, linear2) and pool_mean."""
    d, h = moe.D, moe.HIDDEN
    attention = k * (8 * d * d + 4 * d) + k * k * (4 * d + HEADS)
    layer = attention + k * (d + d + (2 * d * h + h) + h + (2 * h * d + d) + d + d)
    return t * (2 * d + 1) + t + layer + k * d


def main():
    torch.manual_seed(SEED)
    where.write(sys.argv[1], NAME, MODEL, calm.Calm().eval())


if __name__ == "__main__":
    main()
