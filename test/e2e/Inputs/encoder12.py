"""Fixtures of test/e2e/encoder12.test: twelve nn.TransformerEncoderLayer(16,
2, 32, batch_first=True) with a mean-pooled head after each, on random
weights (seeded), and 64 random sequences of 1 to 8 tokens.

    /usr/bin/python3 test/e2e/Inputs/encoder12.py

Writes into Inputs/encoder12/ (the layout examples/common/compare.py reads):
encoder12.safetensors (the state_dict as PyTorch has it), test_x.npy
[64, 8, 16] (junk past each input's length), test_lengths.npy,
test_labels.npy (the argmax of the reference outputs: compare.py checks
accuracy, which is then 1), ref/outputs.npy, ref/ledger.jsonl and
ref/summary.json, and the thresholds in encoder12.slu.  The reference is
the module run on each input alone, unpadded, with real exits (a layer runs
only if the previous exit was not taken), checked against the padded batch
with src_key_padding_mask.  The thresholds are chosen from the heads'
confidences so that inputs leave at many layers and none lies within 1e-3
of a threshold it meets.  Needs PyTorch; the test does not.
"""
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "examples", "common"))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import slutil  # noqa: E402
import seqref  # noqa: E402
from stdlib_torch import MeanHead  # noqa: E402

OUT = os.path.join(HERE, "encoder12")
SLU = os.path.join(OUT, "encoder12.slu")
NAME = "encoder12"
SEED = 12
N, MAX_T, D, HEADS, D_FF, LAYERS, CLASSES = 64, 8, 16, 2, 32, 12, 4
GAP = 1e-3  # no score this close to a threshold it is compared with


class Encoder12(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.TransformerEncoderLayer(D, HEADS, D_FF, dropout=0.0,
                                                               batch_first=True)
                                    for _ in range(LAYERS))
        self.heads = nn.ModuleList(MeanHead(D, CLASSES) for _ in range(LAYERS))

    def forward(self, x, pad=None):
        """Every head's probabilities, no exiting."""
        out, h = [], x
        for layer, head in zip(self.layers, self.heads):
            h = layer(h, src_key_padding_mask=pad)
            out.append(torch.softmax(head(h, pad), -1))
        return out


def flops_at(layer, T):
    """FLOPs of an input of T tokens leaving after layer `layer` (0-based)."""
    return (layer + 1) * (seqref.encoder_layer(T, D, HEADS, D_FF) + seqref.mean_head(T, D, CLASSES)
                          + seqref.confidence_exit(CLASSES))


def make_module():
    net = Encoder12()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "norm" in name:  # layernorms off their 1 / 0 defaults
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.2 * torch.randn(p.shape))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape))
            elif ".fc." in name:  # heads: confident enough to exit sometimes
                p.copy_(torch.randn(p.shape) * 2.0 / D ** 0.5)
    net.eval()
    return net


def pick_thresholds(scores):
    """scores [N, LAYERS]: max probability of every head.  Layer by layer,
    let about a fifth of the inputs still running leave (more at the last
    layers), at a threshold halfway between two neighbouring scores at least
    2 * GAP apart; some layers let none leave."""
    remaining = np.arange(len(scores))
    th = []
    for l in range(LAYERS):
        s = np.sort(scores[remaining, l])[::-1]
        want = 0 if l in (2, 7) else max(1, int(round(len(s) * (0.2 if l < 9 else 0.35))))
        t = None
        for k in [want] + [want + j for j in (1, -1, 2, -2, 3, -3)]:
            if 0 < k < len(s) and s[k - 1] - s[k] >= 2 * GAP:
                t = float(np.float32((s[k - 1] + s[k]) / 2))
                break
            if k == 0 and s[0] < 0.999:
                t = float(np.float32(min(1.0, s[0] + 0.05)))  # nobody leaves here
                break
        assert t is not None, l
        th.append(t)
        remaining = remaining[scores[remaining, l] < t]
    return th


@torch.no_grad()
def run_alone(net, x, th):
    """One input [T, 16], no padding, real exits."""
    h = torch.from_numpy(x)[None]
    T = x.shape[0]
    near = False
    for l in range(LAYERS):
        h = net.layers[l](h)
        p = torch.softmax(net.heads[l](h)[0], 0)
        take, close = seqref.ge_decision(p.max(), th[l])
        near |= close
        if take:
            return p.numpy().copy(), f"exit{l}", flops_at(l, T), near
    return p.numpy().copy(), "end", flops_at(LAYERS - 1, T), near


def main():
    slutil.setup(SEED)
    net = make_module()
    rng = np.random.RandomState(SEED)
    lengths = rng.randint(1, MAX_T + 1, size=N).astype(np.int64)
    lengths[:4] = [1, MAX_T, 1, MAX_T]  # both ends for sure
    x = rng.standard_normal((N, MAX_T, D)).astype(np.float32)
    pad = np.arange(MAX_T)[None, :] >= lengths[:, None]
    x[pad] = (10.0 * rng.standard_normal(x.shape)).astype(np.float32)[pad]  # junk

    # the padded batch with its mask: every head on every input
    with torch.no_grad():
        probs = [p.numpy() for p in net(torch.from_numpy(x), torch.from_numpy(pad))]
    scores = np.stack([p.max(1) for p in probs], 1)
    th = pick_thresholds(scores)

    outs, records = [], []
    for i in range(N):
        T = int(lengths[i])
        y, ex, fl, near = run_alone(net, x[i, :T], th)
        k = LAYERS - 1 if ex == "end" else int(ex[4:])
        d = slutil.max_abs_diff(y, probs[k][i])
        assert d < 1e-5, (i, d)
        # the batch decides the same, no score near a threshold it meets
        for l in range(k + 1):
            assert abs(scores[i, l] - th[l]) >= GAP, (i, l)
            assert (scores[i, l] >= th[l]) == (l == k and ex != "end"), (i, l)
        outs.append(y)
        records.append(OrderedDict([("input", i), ("tokens", T), ("exit", ex), ("flops", fl),
                                    ("dense_flops", flops_at(LAYERS - 1, T)),
                                    ("near_threshold", near)]))
    outs = np.stack(outs).astype(np.float32)
    labels = outs.argmax(1)

    os.makedirs(os.path.join(OUT, "ref"), exist_ok=True)
    slutil.save_safetensors(os.path.join(OUT, NAME + ".safetensors"), slutil.state_dict_f32(net))
    np.save(os.path.join(OUT, "test_x.npy"), x)
    np.save(os.path.join(OUT, "test_lengths.npy"), lengths)
    np.save(os.path.join(OUT, "test_labels.npy"), labels.astype(np.float32))
    names = OrderedDict((f"t{l}", t) for l, t in enumerate(th))
    slutil.set_slu_thresholds(SLU, names)
    s = seqref.write_ref(os.path.join(OUT, "ref"), NAME, names, LAYERS, labels, outs, records)
    print("thresholds:", " ".join(slutil.fmt_threshold(t) for t in th))
    print("exits:", dict(s["exits"]))
    print("files:", dict(slutil.file_sizes(OUT)))


if __name__ == "__main__":
    main()
