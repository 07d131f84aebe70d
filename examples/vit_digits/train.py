"""Train vit_digits (a small vision transformer with an exit after every
encoder layer), write weights and reference fixtures.

    /usr/bin/python3 examples/vit_digits/train.py

The reference is the trained nn.Module itself, run one input at a time with
real early exits (layers after the exit never run); it is checked against
the same module run on the whole batch with every head computed.
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
from stdlib_torch import ClsHead  # noqa: E402

NAME = "vit_digits"
SLU = os.path.join(HERE, NAME + ".slu")
WEIGHTS = os.path.join(HERE, NAME + ".safetensors")
SEED = 0
EPOCHS = 100
D, HEADS, D_FF, LAYERS, CLASSES = 32, 4, 64, 3, 10
PATCHES, PATCH = 16, 4  # 16 tokens of 2x2 pixels
T2 = 0.9  # the last exit's threshold: it only marks confident final answers


def patches(X):
    """[N, 64] images (row-major 8x8) -> [N, 16, 4]: the 2x2 patches in
    row-major order, each patch's pixels row-major."""
    X = np.asarray(X, dtype=np.float32)
    return np.ascontiguousarray(
        X.reshape(-1, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4).reshape(-1, PATCHES, PATCH))


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        # state_dict order: the module's own parameters, then its children,
        # each in the order assigned (= the .slu's param order)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos = nn.Parameter(torch.randn(1, PATCHES + 1, D) * 0.02)
        self.embed = nn.Linear(PATCH, D)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(D, HEADS, D_FF, dropout=0.1, batch_first=True)
            for _ in range(LAYERS))
        self.heads = nn.ModuleList(ClsHead(D, CLASSES) for _ in range(LAYERS))

    def tokens(self, x):
        """[B, 16, 4] -> [B, 17, D]: class token, embedded patches, + pos."""
        cls = self.cls_token.expand(len(x), -1, -1)
        return torch.cat([cls, self.embed(x)], 1) + self.pos

    def forward(self, x):
        """Logits of every head (no exiting), one per layer."""
        h = self.tokens(x)
        out = []
        for layer, head in zip(self.layers, self.heads):
            h = layer(h)
            out.append(head(h))
        return out


# FLOPs along each path (seqref's cost model; equal to `sluicec --cost`)
S = PATCHES + 1
FLOPS_IN = seqref.dense(PATCHES, PATCH, D) + S * D  # embedding, + pos
FLOPS_LAYER = (seqref.encoder_layer(S, D, HEADS, D_FF) + seqref.cls_head(D, CLASSES)
               + seqref.confidence_exit(CLASSES))
FLOPS_AT = [FLOPS_IN + (i + 1) * FLOPS_LAYER for i in range(LAYERS)]  # exit_i
DENSE_FLOPS = FLOPS_AT[-1]  # = end; every exit's value is already computed
EXITS = [f"exit{i}" for i in range(LAYERS)] + ["end"]


def train(data):
    Xtr, ytr = torch.from_numpy(patches(data["train"][0])), torch.from_numpy(data["train"][1])
    Xva, yva = torch.from_numpy(patches(data["val"][0])), torch.from_numpy(data["val"][1])
    net = ViT()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    gen = torch.Generator().manual_seed(SEED)
    for ep in range(EPOCHS):
        net.train()
        for idx in slutil.batches(len(Xtr), 64, gen):
            loss = sum(F.cross_entropy(l, ytr[idx]) for l in net(Xtr[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if (ep + 1) % 25 == 0:
            net.eval()
            with torch.no_grad():
                accs = [float((l.argmax(1) == yva).float().mean()) for l in net(Xva)]
            print(f"epoch {ep + 1}: loss {float(loss):.4f} val acc per head "
                  + " ".join(f"{a:.3f}" for a in accs), flush=True)
    net.eval()
    return net


def simulate(probs, th):
    """Batched exit decisions from every head's probabilities (float32, the
    .slu's rule): the first layer i with max(p_i) >= t_i, else end (the last
    head's answer)."""
    n = len(probs[0])
    which = torch.full((n,), LAYERS, dtype=torch.long)
    for i in reversed(range(LAYERS)):
        which[probs[i].max(1).values >= seqref.f32(th[i])] = i
    out = torch.stack(probs + [probs[-1]], 0)[which, torch.arange(n)]
    return which, out


def choose_thresholds(net, data):
    """t0, t1 from a grid: the lowest mean FLOPs on the validation split such
    that accuracy stays within 0.7 points of the last head's, both early
    exits take at least 10 % and at least 10 % reach the last layer."""
    Xva, yva = torch.from_numpy(patches(data["val"][0])), torch.from_numpy(data["val"][1])
    with torch.no_grad():
        probs = [torch.softmax(l, 1) for l in net(Xva)]
    final_acc = float((probs[-1].argmax(1) == yva).float().mean())
    fl = torch.tensor(FLOPS_AT + [FLOPS_AT[-1]], dtype=torch.float64)
    grid = [0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9998]
    best = None
    for t0 in grid:
        for t1 in grid:
            which, out = simulate(probs, (t0, t1, T2))
            acc = float((out.argmax(1) == yva).float().mean())
            share = torch.bincount(which, minlength=LAYERS + 1).double() / len(which)
            if acc < final_acc - 0.007 or share[:2].min() < 0.10 or share[2:].sum() < 0.10:
                continue
            key = (float(fl[which].mean()), -acc)
            if best is None or key < best[0]:
                best = (key, (t0, t1), acc, share.tolist())
    print(f"val: last head acc {final_acc:.4f}; chosen thresholds {best[1]} -> acc {best[2]:.4f}, "
          f"exit shares {[round(s, 3) for s in best[3]]}, mean flops {best[0][0]:.0f}")
    return OrderedDict([("t0", best[1][0]), ("t1", best[1][1]), ("t2", T2)])


@torch.no_grad()
def run_one(net, x, th, index, force=None):
    """One input [16, 4] through the module with real early exits: layer i+1
    runs only if exit i is not taken.  ``force``: leave at that layer
    (None: by the thresholds; LAYERS: never).  Returns (probabilities,
    ledger record)."""
    h = net.tokens(x[None])
    flops, near = FLOPS_IN, False
    exit_name = "end"
    for i in range(LAYERS):
        h = net.layers[i](h)
        p = torch.softmax(net.heads[i](h)[0], 0)
        flops += FLOPS_LAYER
        take, close = seqref.ge_decision(p.max(), th[i])
        near |= close
        if force is not None:
            take = i == force
        if take:
            exit_name = f"exit{i}"
            break
    rec = OrderedDict([("input", index), ("exit", exit_name), ("flops", flops),
                       ("dense_flops", DENSE_FLOPS), ("near_threshold", near)])
    return p.numpy().copy(), rec


def run_all(net, X, th, force=None):
    outs, recs = [], []
    for i in range(len(X)):
        o, r = run_one(net, torch.from_numpy(X[i]), th, i, force)
        outs.append(o)
        recs.append(r)
    return np.stack(outs).astype(np.float32), recs


def main():
    t0 = time.time()
    slutil.setup(SEED)
    data = slutil.digits_split()
    net = train(data)

    # The state_dict as PyTorch has it: names and shapes untouched (the class
    # token [1, 1, D] and the position table [1, 17, D] included).
    slutil.save_safetensors(WEIGHTS, slutil.state_dict_f32(net))
    w, _ = slutil.load_safetensors(WEIGHTS)
    sd = net.state_dict()
    assert list(w) == list(sd) and all(list(w[k].shape) == list(sd[k].shape) for k in w)
    print(f"weights: {len(w)} tensors, {sum(v.size for v in w.values())} floats, "
          f"cls_token {list(w['cls_token'].shape)}, pos {list(w['pos'].shape)}")
    # the module the fixtures come from holds exactly the file's values
    net.load_state_dict(OrderedDict((k, torch.from_numpy(v.copy())) for k, v in w.items()))
    net.eval()
    print("flops per exit:", FLOPS_AT, "dense:", DENSE_FLOPS)

    th = choose_thresholds(net, data)
    if slutil.set_slu_thresholds(SLU, th):
        print(f"updated threshold defaults in {SLU}")
    thv = list(th.values())

    Xte, yte = patches(data["test"][0]), data["test"][1]
    outputs, records = run_all(net, Xte, thv)

    # checks: the batched module, every head computed, gives the same
    # probabilities and (away from thresholds) the same exits
    with torch.no_grad():
        probs = [torch.softmax(l, 1) for l in net(torch.from_numpy(Xte))]
    for i in range(LAYERS + 1):
        o, recs = run_all(net, Xte, thv, force=i)
        assert all(r["exit"] == EXITS[i] for r in recs)
        d = slutil.max_abs_diff(o, probs[min(i, LAYERS - 1)].numpy())
        print(f"check forced {EXITS[i]}: max |one at a time - batched| = {d:.2e}")
        assert d < 1e-5
    which, sim = simulate(probs, thv)
    mism = [i for i, r in enumerate(records) if r["exit"] != EXITS[int(which[i])]]
    print(f"check thresholds: {len(mism)} exit decisions differ from the batched module "
          f"(near-threshold among them: {sum(records[i]['near_threshold'] for i in mism)}); "
          f"max |one at a time - batched| = {slutil.max_abs_diff(outputs, sim.numpy()):.2e}")
    assert not [i for i in mism if not records[i]["near_threshold"]]

    head_acc = [round(float((p.argmax(1).numpy() == yte).mean()), 6) for p in probs]
    os.makedirs(os.path.join(HERE, "ref"), exist_ok=True)
    np.save(os.path.join(HERE, "test_x.npy"), Xte)
    np.save(os.path.join(HERE, "test_labels.npy"), np.asarray(yte, dtype=np.float32))
    extra = OrderedDict([
        ("last_head_accuracy", head_acc[-1]),
        ("head_accuracy", head_acc),
        ("flops_per_exit", OrderedDict(zip(EXITS, FLOPS_AT + [DENSE_FLOPS]))),
    ])
    summary = seqref.write_ref(os.path.join(HERE, "ref"), NAME, th, LAYERS, yte, outputs, records,
                               extra)
    print(json.dumps(summary, indent=1))
    print("files:", json.dumps(slutil.file_sizes(HERE)))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
