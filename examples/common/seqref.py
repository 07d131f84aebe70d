"""Helpers for the sequence examples (vit_digits, seq_digits, moe_tokens)
and test/e2e/Inputs/encoder12.py: the cost model of stdlib/transformer.slu's
layers written out in Python, the near-threshold rule, and summaries of a
reference ledger when there is no sluref model to summarize it (sluref.py
reads vector models only).

FLOPs follow docs/language.md ("Cost") and the compiler's counting of the
sequence operations: per token, a dense layer costs 2*in*out + out, a
layernorm d, every elementwise operation (add, relu, gelu) one per element;
attention over S tokens costs S * (8*d*d + 4*d) for the four projections
plus S*S * (4*d + heads) for the pairs (q.k, the weighted sum of v, one
softmax step per head); pooling costs one per element of the sequence;
slicing, concatenating, taking a token, constants and thresholds cost
nothing.  A per-token route (every token of f32[S, d] routed on its own by
its row of f32[S, N]) costs, per token, N (top-k) + k (softmax) + 2*d*k
(combine) plus the k chosen experts' bodies; its dense count runs and
combines all N: N + k + 2*d*N + N * expert.
A mixture-of-depths route (`route blk(x) top k tokens by scores
[scaled]`, examples/mod_tokens) costs one per row of x (choosing), 3*k*d
when scaled, and blk on the k chosen tokens; its dense count is the same.
"""
from collections import OrderedDict

import torch

import slutil

NEAR = 1e-5  # a decision within this of flipping is "near_threshold"


# ---------------------------------------------------------------------------
# FLOPs
# ---------------------------------------------------------------------------

def dense(tokens, n_in, n_out):
    return tokens * (2 * n_in * n_out + n_out)


def attention(tokens, d, heads):
    return tokens * (8 * d * d + 4 * d) + tokens * tokens * (4 * d + heads)


def encoder_layer(tokens, d, heads, d_ff):
    """Any of encoder_layer, _gelu, _pre, _pre_gelu: attention, two residual
    adds, two layernorms, linear1, the activation, linear2."""
    return (attention(tokens, d, heads) + 2 * tokens * d + 2 * tokens * d
            + dense(tokens, d, d_ff) + tokens * d_ff + dense(tokens, d_ff, d))


def cls_head(d, classes):
    """layernorm on token 0 (taking it costs nothing), then the dense."""
    return d + dense(1, d, classes)


def mean_head(tokens, d, classes):
    return tokens * d + d + dense(1, d, classes)


def confidence_exit(classes):
    """softmax(logits) then max(p) >= t: softmax n, max n, the compare 1."""
    return classes + classes + 1


def mlp(tokens, n_in, hidden, n_out):
    """stdlib nn's mlp[i, h, o] on each token: fc1, relu, fc2."""
    return dense(tokens, n_in, hidden) + tokens * hidden + dense(tokens, hidden, n_out)


def route_tokens(tokens, d, n, k, expert):
    """A per-token route `route bank(h) top k by scores`, h f32[S, d] and
    scores f32[S, n], each token routed on its own; ``expert`` is one
    expert's FLOPs for one token (the experts of a bank are alike).  Per
    token: top-k n, the softmax over the chosen k, the combine 2*d per chosen
    expert, and the k chosen experts' bodies.  The scores' own cost (the
    router) is not included."""
    return tokens * (n + k + 2 * d * k + k * expert)


def route_tokens_dense(tokens, d, n, k, expert):
    """route_tokens with every expert run on every token and combined:
    per token n + k + 2*d*n + n * expert."""
    return tokens * (n + k + 2 * d * n + n * expert)


def moe_encoder_layer(tokens, d, heads, n, k, d_ff, dense_count=False):
    """A post-norm encoder layer whose feed-forward is a per-token top-k
    mixture of n experts mlp[d, d_ff, d], routed by a dense[d -> n] on the
    same tokens (examples/moe_tokens' moe_encoder):
        h = norm1(x + self_attn(x))
        y = norm2(h + route experts(h) top k by router(h))
    attention, two residual adds, two layernorms, the router, the route;
    ``dense_count``: every expert on every token."""
    expert = mlp(1, d, d_ff, d)
    rt = route_tokens_dense if dense_count else route_tokens
    return (attention(tokens, d, heads) + 2 * tokens * d + 2 * tokens * d
            + dense(tokens, d, n) + rt(tokens, d, n, k, expert))


def route_top_tokens(rows, k, d, block, scaled=True):
    """Mixture-of-depths: `route blk(x) top k tokens by scores [scaled]`, x
    f32[rows, d], one score per row; ``block`` is blk's FLOPs on k tokens
    (e.g. encoder_layer(k, ...)).  Choosing the k rows costs one per row
    (per score); `scaled` adds 3*k*d (x + s * (out - x): a subtract, a
    multiply and an add per element of the chosen rows); gathering the k
    rows and scattering them back cost nothing.  The scores' own cost (the
    router) is not included.  Every input runs exactly k tokens through the
    block: the dense count is the same."""
    return rows + (3 * k * d if scaled else 0) + block


def mod_encoder_layer(tokens, k, d, heads, d_ff, scaled=True):
    """A mixture-of-depths encoder layer (examples/mod_tokens):
        h = route blk(h) top k tokens by sigmoid(router(h)) [scaled]
    with router a dense[d -> 1] on every token (2*d + 1 per token), the
    sigmoid one per token, and blk an encoder_layer[d, heads, d_ff] run on
    the k chosen tokens only."""
    return (dense(tokens, d, 1) + tokens
            + route_top_tokens(tokens, k, d, encoder_layer(k, d, heads, d_ff), scaled))


# ---------------------------------------------------------------------------
# decisions
# ---------------------------------------------------------------------------

def f32(v):
    return torch.tensor(float(v), dtype=torch.float32)


def ge_decision(score, threshold):
    """`score >= threshold` in float32, and whether it is near flipping
    (|score - threshold| <= 1e-5, as sluref.py)."""
    s = torch.as_tensor(score, dtype=torch.float32)
    t = f32(threshold)
    return bool(s >= t), float((s - t).abs()) <= NEAR


def top_k(scores, k):
    """A route's decision on scores [..., N] (float32): the indices of the k
    largest, descending, ties to the lower index (a stable sort), and the
    gap between the k-th and (k+1)-th largest (float32, as a float; inf
    when k = N): near flipping when <= 1e-5."""
    s = torch.as_tensor(scores, dtype=torch.float32)
    order = torch.sort(s, dim=-1, descending=True, stable=True).indices
    idx = order[..., :k]
    if k == s.shape[-1]:
        gap = torch.full(s.shape[:-1], float("inf"))
    else:
        top = s.gather(-1, order[..., k - 1:k + 1])
        gap = top[..., 0] - top[..., 1]
    return idx, gap


def top_tokens(scores, k):
    """A mixture-of-depths route's decision on one score per row, scores
    [..., rows] (or [..., rows, 1]), float32: the k rows with the largest
    scores (ties to the lower index), in ascending row order (the order
    they are gathered in and the ledger's "selected"), and the gap between
    the k-th and (k+1)-th largest scores (inf when k = rows)."""
    s = torch.as_tensor(scores, dtype=torch.float32)
    if s.shape[-1] == 1 and s.dim() >= 2:
        s = s[..., 0]
    idx, gap = top_k(s, k)
    return idx.sort(dim=-1).values, gap


# ---------------------------------------------------------------------------
# summaries
# ---------------------------------------------------------------------------

class _Shape:
    """What slutil.summarize reads of a sluref.Model."""

    def __init__(self, name, thresholds, n_exits, dense):
        self.name = name
        self.thresholds = OrderedDict(thresholds)
        self.n_exits = n_exits
        self.gate_names, self.route_names, self.block_names = [], [], []
        self._dense = dense

    def dense_flops(self):
        return self._dense


def summarize(name, thresholds, n_exits, outputs, labels, records, overrides=None):
    """slutil.summarize's summary of a reference ledger.  A sequence model's
    dense FLOPs depend on each input's token count: dense_flops is then their
    mean (as the executable's summary), flops_ratio the mean executed over the
    mean dense, and the summary adds min/max dense FLOPs and a histogram of
    the token counts."""
    dense = [r["dense_flops"] for r in records]
    mean_dense = sum(dense) / len(dense)
    s = slutil.summarize(_Shape(name, thresholds, n_exits, mean_dense), outputs, labels,
                         records, overrides)
    if "tokens" in records[0]:
        s["dense_flops"] = round(mean_dense, 3)
        s["min_dense_flops"] = int(min(dense))
        s["max_dense_flops"] = int(max(dense))
        hist = OrderedDict()
        for r in sorted(records, key=lambda r: r["tokens"]):
            hist[str(r["tokens"])] = hist.get(str(r["tokens"]), 0) + 1
        s["tokens"] = hist
    return s


def token_routes(records, banks, n):
    """Expert usage of per-token routes, for a summary: for each bank (the
    ledger's name), over the real tokens of every input that reached it,
    the number of tokens routed, how often each expert was chosen (k per
    token) and chosen first, and the chosen sets (sorted indices) by
    frequency."""
    out = OrderedDict()
    for name in banks:
        chosen, first, sets, tokens = [0] * n, [0] * n, {}, 0
        for r in records:
            v = r["routes"].get(name)
            if v is None:
                continue
            for tok in v:
                tokens += 1
                first[tok[0]] += 1
                for e in tok:
                    chosen[e] += 1
                key = ",".join(str(e) for e in sorted(tok))
                sets[key] = sets.get(key, 0) + 1
        out[name] = OrderedDict([
            ("tokens", tokens), ("chosen", chosen), ("top1", first),
            ("sets", OrderedDict(sorted(sets.items(), key=lambda kv: (-kv[1], kv[0]))))])
    return out


def token_selection(records, layers, rows):
    """Mixture-of-depths usage, for a summary: for each routed layer (the
    ledger's "selected" key), the number of inputs that reached it and how
    often each row position (0 .. rows - 1) was among its chosen."""
    out = OrderedDict()
    for name in layers:
        counts, reached = [0] * rows, 0
        for r in records:
            v = r["selected"].get(name)
            if v is None:
                continue
            reached += 1
            for t in v:
                counts[t] += 1
        out[name] = OrderedDict([("reached", reached), ("per_position", counts)])
    return out


def write_ref(refdir, name, thresholds, n_exits, labels, outputs, records, extra=None):
    """outputs.npy, ledger.jsonl and summary.json, as slutil.write_ref."""
    import json
    import os
    import numpy as np
    os.makedirs(refdir, exist_ok=True)
    outputs = np.ascontiguousarray(outputs, dtype=np.float32)
    np.save(os.path.join(refdir, "outputs.npy"), outputs)
    with open(os.path.join(refdir, "ledger.jsonl"), "w") as f:
        for r in records:
            f.write(slutil.ledger_line(r) + "\n")
    s = summarize(name, thresholds, n_exits, outputs, labels, records)
    if extra:
        s.update(extra)
    with open(os.path.join(refdir, "summary.json"), "w") as f:
        json.dump(s, f, indent=2)
        f.write("\n")
    return s
