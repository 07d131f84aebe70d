"""Train seq_digits (a two-layer transformer over the rows of a digit, of
4 to 8 rows per input, with one early exit), write weights and reference
fixtures.

    /usr/bin/python3 examples/seq_digits/train.py

The reference runs the trained nn.Module on the whole padded batch with
src_key_padding_mask (every head computed, the exit rule applied after),
and checks it against each input run alone on its own rows, unpadded, with
a real early exit: equal outputs show that the padding does not leak.
"""
import json
import os
import sys
import time
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep examples/common free of __pycache__
sys.path.insert(0, os.path.join(HERE, "..", "common"))
# Two OpenMP threads spinning at a barrier on a busy 2-core machine make
# small ops 30x slower; sleeping threads give the same numbers.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import slutil  # noqa: E402
import seqref  # noqa: E402
from stdlib_torch import MeanHead  # noqa: E402

NAME = "seq_digits"
SLU = os.path.join(HERE, NAME + ".slu")
WEIGHTS = os.path.join(HERE, NAME + ".safetensors")
SEED = 0
EPOCHS = 100
D, HEADS, D_FF, LAYERS, CLASSES = 32, 4, 64, 2, 10
ROWS, MIN_ROWS = 8, 4  # an input keeps its top 4 to 8 rows


def rows(X):
    """[N, 64] images -> [N, 8, 8]: one token per pixel row, top first."""
    return np.asarray(X, dtype=np.float32).reshape(-1, ROWS, 8)


def crop(X, seed):
    """The fixed crop of a split: each image keeps its top L rows, L uniform
    in 4..8 from RandomState(seed); the rows past L are replaced by junk
    (uniform in [0, 1), from the same generator) that no correct model
    reads.  Returns the padded [N, 8, 8] float32 and the lengths (int64)."""
    rng = np.random.RandomState(seed)
    X = rows(X).copy()
    lengths = rng.randint(MIN_ROWS, ROWS + 1, size=len(X)).astype(np.int64)
    junk = rng.random_sample(X.shape).astype(np.float32)
    pad = np.arange(ROWS)[None, :] >= lengths[:, None]
    X[pad] = junk[pad]
    return np.ascontiguousarray(X), lengths


def pad_mask(lengths, width=ROWS):
    """[N, width] bool, True at padding (src_key_padding_mask)."""
    lengths = torch.as_tensor(lengths)
    return torch.arange(width)[None, :] >= lengths[:, None]


class SeqDigits(nn.Module):
    def __init__(self):
        super().__init__()
        # state_dict order: the module's own parameter, then its children in
        # the order assigned (= the .slu's param order)
        self.pos = nn.Parameter(torch.randn(1, ROWS, D) * 0.02)
        self.embed = nn.Linear(8, D)
        layer = nn.TransformerEncoderLayer(D, HEADS, D_FF, dropout=0.1, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.heads = nn.ModuleList(MeanHead(D, CLASSES) for _ in range(LAYERS))

    def forward(self, x, pad=None):
        """x [B, S, 8], pad [B, S] (True at padding) or None: the logits of
        both heads (no exiting)."""
        h = self.embed(x) + self.pos[:, :x.shape[1]]
        out = []
        for layer, head in zip(self.encoder.layers, self.heads):
            h = layer(h, src_key_padding_mask=pad)
            out.append(head(h, pad))
        return out


# FLOPs for an input of T tokens (seqref's cost model; = `sluicec --cost`)
def flops_in(T):
    return seqref.dense(T, 8, D) + T * D  # embedding, + pos[:T]


def flops_layer(T):
    return seqref.encoder_layer(T, D, HEADS, D_FF) + seqref.mean_head(T, D, CLASSES)


def flops_exit0(T):
    return flops_in(T) + flops_layer(T) + seqref.confidence_exit(CLASSES)


def flops_end(T):  # = the dense count: the exit's value is computed anyway
    return flops_exit0(T) + flops_layer(T) + CLASSES  # + the last softmax


EXITS = ["exit0", "end"]


def train(data):
    Xtr, ytr = torch.from_numpy(rows(data["train"][0])), torch.from_numpy(data["train"][1])
    Xva, lva = crop(data["val"][0], SEED + 2)
    yva = torch.from_numpy(data["val"][1])
    net = SeqDigits()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    gen = torch.Generator().manual_seed(SEED)
    for ep in range(EPOCHS):
        net.train()
        for idx in slutil.batches(len(Xtr), 64, gen):
            # a new crop every time: each image with 4 to 8 of its rows,
            # the batch padded to its longest, the padding masked
            lengths = torch.randint(MIN_ROWS, ROWS + 1, (len(idx),), generator=gen)
            width = int(lengths.max())
            pad = pad_mask(lengths, width)
            xb = Xtr[idx, :width].masked_fill(pad.unsqueeze(-1), 0.0)
            loss = sum(F.cross_entropy(l, ytr[idx]) for l in net(xb, pad))
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if (ep + 1) % 25 == 0:
            net.eval()
            with torch.no_grad():
                accs = [float((l.argmax(1) == yva).float().mean())
                        for l in net(torch.from_numpy(Xva), pad_mask(lva))]
            print(f"epoch {ep + 1}: loss {float(loss):.4f} val acc per head "
                  + " ".join(f"{a:.3f}" for a in accs), flush=True)
    net.eval()
    return net


@torch.no_grad()
def batched(net, X, lengths):
    """Every head's probabilities for the padded batch, with the padding mask."""
    return [torch.softmax(l, 1) for l in net(torch.from_numpy(X), pad_mask(lengths))]


def decide(probs, lengths, t0, force=None):
    """The .slu's rule on batched probabilities: exit0 when max(p0) >= t0.
    Returns (outputs, ledger records); ``force``: 0 = always exit0, 1 = never."""
    outs, recs = [], []
    for i in range(len(lengths)):
        T = int(lengths[i])
        take, near = seqref.ge_decision(probs[0][i].max(), t0)
        if force is not None:
            take = force == 0
        k = 0 if take else 1
        outs.append(probs[k][i].numpy())
        recs.append(OrderedDict([("input", i), ("tokens", T), ("exit", EXITS[k]),
                                 ("flops", flops_exit0(T) if take else flops_end(T)),
                                 ("dense_flops", flops_end(T)), ("near_threshold", near)]))
    return np.stack(outs).astype(np.float32), recs


@torch.no_grad()
def run_alone(net, x, t0, force=None):
    """One input [T, 8], unpadded and without a mask, with a real exit: the
    second layer runs only if the exit is not taken."""
    x = torch.from_numpy(x)[None]
    h = net.embed(x) + net.pos[:, :x.shape[1]]
    h = net.encoder.layers[0](h)
    p = torch.softmax(net.heads[0](h)[0], 0)
    take, _ = seqref.ge_decision(p.max(), t0)
    if force is not None:
        take = force == 0
    if take:
        return p.numpy().copy(), "exit0"
    h = net.encoder.layers[1](h)
    return torch.softmax(net.heads[1](h)[0], 0).numpy().copy(), "end"


def choose_threshold(net, data):
    """t0 from a grid: the lowest mean FLOPs on the (cropped) validation
    split such that accuracy stays within 0.7 points of the last head's and
    at least 10 % of the inputs reach the last layer."""
    Xva, lva = crop(data["val"][0], SEED + 2)
    yva = data["val"][1]
    probs = batched(net, Xva, lva)
    final_acc = float((probs[1].argmax(1).numpy() == yva).mean())
    best = None
    for t0 in [0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9998, 0.9999]:
        out, recs = decide(probs, lva, t0)
        acc = float((out.argmax(1) == yva).mean())
        late = sum(r["exit"] == "end" for r in recs) / len(recs)
        if acc < final_acc - 0.007 or late < 0.10:
            continue
        key = (float(np.mean([r["flops"] for r in recs])), -acc)
        if best is None or key < best[0]:
            best = (key, t0, acc, late)
    print(f"val: last head acc {final_acc:.4f}; chosen t0 = {best[1]} -> acc {best[2]:.4f}, "
          f"share reaching the end {best[3]:.3f}, mean flops {best[0][0]:.0f}")
    return OrderedDict([("t0", best[1])])


def main():
    t0 = time.time()
    slutil.setup(SEED)
    data = slutil.digits_split()
    net = train(data)

    # The state_dict as PyTorch has it (the position table [1, 8, D] included).
    slutil.save_safetensors(WEIGHTS, slutil.state_dict_f32(net))
    w, _ = slutil.load_safetensors(WEIGHTS)
    sd = net.state_dict()
    assert list(w) == list(sd) and all(list(w[k].shape) == list(sd[k].shape) for k in w)
    print(f"weights: {len(w)} tensors, {sum(v.size for v in w.values())} floats")
    net.load_state_dict(OrderedDict((k, torch.from_numpy(v.copy())) for k, v in w.items()))
    net.eval()
    print("flops at T = 4..8: exit0", [flops_exit0(T) for T in range(4, 9)],
          "end (dense)", [flops_end(T) for T in range(4, 9)])

    th = choose_threshold(net, data)
    if slutil.set_slu_thresholds(SLU, th):
        print(f"updated threshold defaults in {SLU}")
    t0v = th["t0"]

    Xte, lte = crop(data["test"][0], SEED + 1)
    yte = data["test"][1]
    probs = batched(net, Xte, lte)
    outputs, records = decide(probs, lte, t0v)

    # checks: each input alone, unpadded, with a real exit, equals the padded
    # batch (forcing each path, then by the threshold)
    for force in (0, 1, None):
        o_b, r_b = decide(probs, lte, t0v, force)
        alone = [run_alone(net, Xte[i, :lte[i]], t0v, force) for i in range(len(lte))]
        d = slutil.max_abs_diff(np.stack([a[0] for a in alone]), o_b)
        mism = [i for i, a in enumerate(alone) if a[1] != r_b[i]["exit"]]
        what = "thresholds" if force is None else "forced " + EXITS[force]
        print(f"check {what}: max |alone unpadded - padded batch| = {d:.2e}, "
              f"{len(mism)} exits differ (near: {sum(r_b[i]['near_threshold'] for i in mism)})")
        assert not [i for i in mism if not r_b[i]["near_threshold"]]
        assert d < 1e-5
    # and the padding's values do not matter: other junk, the same outputs
    Xz = Xte.copy()
    Xz[pad_mask(lte).numpy()] = 0.0
    d = max(slutil.max_abs_diff(a, b) for a, b in zip(batched(net, Xz, lte), probs))
    print(f"check padding zeroed: max |difference| = {d:.2e}")
    assert d < 1e-5

    head_acc = [round(float((p.argmax(1).numpy() == yte).mean()), 6) for p in probs]
    by_len = OrderedDict()
    for T in range(MIN_ROWS, ROWS + 1):
        sel = lte == T
        by_len[str(T)] = round(float((outputs[sel].argmax(1) == yte[sel]).mean()), 6)
    os.makedirs(os.path.join(HERE, "ref"), exist_ok=True)
    np.save(os.path.join(HERE, "test_x.npy"), Xte)
    np.save(os.path.join(HERE, "test_lengths.npy"), lte)
    np.save(os.path.join(HERE, "test_labels.npy"), np.asarray(yte, dtype=np.float32))
    summary = seqref.write_ref(os.path.join(HERE, "ref"), NAME, th, 1, yte, outputs, records,
                               OrderedDict([
                                   ("last_head_accuracy", head_acc[-1]),
                                   ("head_accuracy", head_acc),
                                   ("accuracy_by_tokens", by_len),
                               ]))
    print(json.dumps(summary, indent=1))
    print("files:", json.dumps(slutil.file_sizes(HERE)))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
