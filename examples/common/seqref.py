"""Helpers for the sequence examples (vit_digits, seq_digits) and
test/e2e/Inputs/encoder12.py: the cost model of stdlib/transformer.slu's
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
nothing.
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
