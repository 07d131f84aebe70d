"""Train digits_ee (early-exit MLP), write weights and reference fixtures.

    /usr/bin/python3 examples/early_exit/train.py
"""
import json
import os
import sys
import time
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep examples/common free of __pycache__
sys.path.insert(0, os.path.join(HERE, "..", "common"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import slutil  # noqa: E402
import sluref  # noqa: E402

NAME = "digits_ee"
SLU = os.path.join(HERE, NAME + ".slu")
WEIGHTS = os.path.join(HERE, NAME + ".safetensors")
SEED = 0
EPOCHS = 150


class EarlyExitMLP(nn.Module):
    def __init__(self):
        super().__init__()
        # declaration order = .slu param order = state_dict order
        self.fc1 = nn.Linear(64, 64)
        self.head1 = nn.Linear(64, 10)
        self.fc2 = nn.Linear(64, 128)
        self.head2 = nn.Linear(128, 10)
        self.fc3 = nn.Linear(128, 128)
        self.head3 = nn.Linear(128, 10)
        self.fc4 = nn.Linear(128, 128)
        self.out = nn.Linear(128, 10)

    def forward(self, x):
        """Logits of all four heads (no exiting): [exit0, exit1, exit2, final]."""
        h = F.relu(self.fc1(x))
        l1 = self.head1(h)
        h = F.relu(self.fc2(h))
        l2 = self.head2(h)
        h = F.relu(self.fc3(h))
        l3 = self.head3(h)
        h = F.relu(self.fc4(h))
        return [l1, l2, l3, self.out(h)]


def train(data):
    Xtr, ytr = (torch.from_numpy(a) for a in data["train"])
    Xva, yva = (torch.from_numpy(a) for a in data["val"])
    net = EarlyExitMLP()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(SEED)
    for ep in range(EPOCHS):
        net.train()
        for idx in slutil.batches(len(Xtr), 64, gen):
            logits = net(Xtr[idx])
            loss = sum(F.cross_entropy(l, ytr[idx]) for l in logits)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (ep + 1) % 50 == 0:
            with torch.no_grad():
                accs = [float((l.argmax(1) == yva).float().mean()) for l in net(Xva)]
            print(f"epoch {ep + 1}: loss {float(loss):.4f} val acc per head "
                  + " ".join(f"{a:.3f}" for a in accs))
    return net


def simulate(probs, t1, t2, t3):
    """Batched early-exit decisions (float32, same rules as the .slu)."""
    p1, p2, p3, p4 = probs
    c1 = p1.max(1).values >= t1
    ent = -torch.xlogy(p2, p2).sum(1)
    c2 = ent <= t2
    s3 = p3.sort(1, descending=True).values
    c3 = (s3[:, 0] - s3[:, 1]) >= t3
    which = torch.full((len(p1),), 3, dtype=torch.long)
    which[c3] = 2
    which[c2] = 1
    which[c1] = 0
    out = torch.stack(probs, 0)[which, torch.arange(len(p1))]
    return which, out


def choose_thresholds(net, data, flop_at_exit):
    """Smallest mean FLOPs on the validation split such that accuracy stays
    within 0.7 points of the final head, every exit takes >= 10% and
    >= 5% reach the final head."""
    Xva, yva = (torch.from_numpy(a) for a in data["val"])
    with torch.no_grad():
        probs = [torch.softmax(l, 1) for l in net(Xva)]
    final_acc = float((probs[3].argmax(1) == yva).float().mean())
    best = None
    fl = torch.tensor(flop_at_exit, dtype=torch.float64)
    for t1 in [0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995]:
        for t2 in [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]:
            for t3 in [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995]:
                which, out = simulate(probs, np.float32(t1), np.float32(t2), np.float32(t3))
                acc = float((out.argmax(1) == yva).float().mean())
                share = torch.bincount(which, minlength=4).double() / len(which)
                if acc < final_acc - 0.007 or share[:3].min() < 0.10 or share[3] < 0.05:
                    continue
                cost = float(fl[which].mean())
                key = (cost, -acc)
                if best is None or key < best[0]:
                    best = (key, (t1, t2, t3), acc, share.tolist())
    print(f"val: final head acc {final_acc:.4f}; chosen thresholds {best[1]} -> acc {best[2]:.4f}, "
          f"exit shares {[round(s, 3) for s in best[3]]}, mean flops {best[0][0]:.0f}")
    return OrderedDict(zip(("t1", "t2", "t3"), best[1]))


def main():
    t0 = time.time()
    slutil.setup(SEED)
    data = slutil.digits_split()
    spec = sluref.Model(SLU)  # parse only, for the manifest
    net = train(data)
    net.eval()

    # FLOPs of an input leaving at each exit, measured with the reference
    # interpreter (the thresholds force the exit).
    slutil.save_weights(WEIGHTS, net, spec.manifest())
    w, _ = slutil.load_safetensors(WEIGHTS)
    ref = sluref.Model(SLU, w)
    force = [{"t1": 0.0}, {"t1": 2.0, "t2": 1e9}, {"t1": 2.0, "t2": -1.0, "t3": -1.0},
             {"t1": 2.0, "t2": -1.0, "t3": 2.0}]
    x0 = data["val"][0][0]
    flop_at_exit = [ref.run(x0, f)[1]["flops"] for f in force]
    print("flops per exit:", flop_at_exit, "dense:", ref.dense_flops())

    th = choose_thresholds(net, data, flop_at_exit)
    if slutil.set_slu_thresholds(SLU, th):
        print(f"updated threshold defaults in {SLU}")

    # ---- reference fixtures: reload weights from the file, run the .slu ----
    w, _ = slutil.load_safetensors(WEIGHTS)
    ref = sluref.Model(SLU, w)
    assert OrderedDict((k, list(v.shape)) for k, v in w.items()) == OrderedDict(ref.manifest())
    Xte, yte = data["test"]
    outputs, records = ref.run_batch(Xte)

    # sanity: forcing each exit, the reference equals the module's head
    with torch.no_grad():
        mod = [torch.softmax(l, 1).numpy() for l in net(torch.from_numpy(Xte))]
    for i, f in enumerate(force):
        o, recs = ref.run_batch(Xte, f)
        want = "exit%d" % i if i < 3 else "end"
        assert all(r["exit"] == want for r in recs), want
        d = slutil.max_abs_diff(o, mod[i])
        print(f"check forced {want}: max |ref - module| = {d:.2e}")
        assert d < 1e-5
    # and with the default thresholds, against the batched simulation
    which, sim = simulate([torch.from_numpy(m) for m in mod], *[np.float32(v) for v in th.values()])
    names = ["exit0", "exit1", "exit2", "end"]
    mism = [i for i, r in enumerate(records) if r["exit"] != names[int(which[i])]]
    print(f"check default thresholds: {len(mism)} exit decisions differ from the batched module "
          f"(near-threshold among them: {sum(records[i]['near_threshold'] for i in mism)}); "
          f"max |ref - module| = {slutil.max_abs_diff(outputs, sim.numpy()):.2e}")
    assert not [i for i in mism if not records[i]["near_threshold"]]

    final_acc = float((mod[3].argmax(1) == yte).mean())
    summary = slutil.write_fixtures(HERE, ref, Xte, yte, outputs, records, OrderedDict([
        ("final_head_accuracy", round(final_acc, 6)),
        ("head_accuracy", [round(float((m.argmax(1) == yte).mean()), 6) for m in mod]),
        ("flops_per_exit", OrderedDict(zip(names, flop_at_exit))),
    ]))
    # a second fixture set with thresholds overridden at run time by name
    over = OrderedDict([("t1", 0.9), ("t2", 0.1), ("t3", 0.5)])
    o2, r2 = ref.run_batch(Xte, over)
    s2 = slutil.write_ref(os.path.join(HERE, "ref", "override"), ref, yte, o2, r2, thresholds=over)
    print(f"override {dict(over)}: accuracy {s2['accuracy']}, mean flops {s2['mean_flops']}, "
          f"exits {dict(s2['exits'])}")
    print(json.dumps(summary, indent=1))
    print("files:", json.dumps(slutil.file_sizes(HERE)))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
