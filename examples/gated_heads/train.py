"""Train digits_gate (trunk + super-class gate + one head per super-class),
write weights and reference fixtures.

    /usr/bin/python3 examples/gated_heads/train.py
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
from stdlib_torch import MLP  # noqa: E402
import sluref  # noqa: E402

NAME = "digits_gate"
SLU = os.path.join(HERE, NAME + ".slu")
WEIGHTS = os.path.join(HERE, NAME + ".safetensors")
SEED = 0
EPOCHS = 150
OTHER_WEIGHT = 0.3
# The super-classes group digits a classifier confuses with each other, so that
# the gate's decision is easy and each head resolves the confusable ones: among
# all splits into groups of 4, 3, 3, the one with the fewest cross-group
# confusions of a 5-fold cross-validated logistic regression on the training
# split (derive_groups() recomputes it).
GROUPS = [[1, 5, 8, 9], [0, 2, 3], [4, 6, 7]]
GROUP_OF = torch.tensor([next(g for g, c in enumerate(GROUPS) if d in c) for d in range(10)])


class GatedHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(64, 128)
        self.g = nn.Linear(128, 3)
        self.head0 = MLP(128, 96, 10)
        self.head1 = MLP(128, 96, 10)
        self.head2 = MLP(128, 96, 10)

    def forward(self, x):
        """Gate logits [B, 3] and every head's logits [3, B, 10] (batched; no branching)."""
        h = F.relu(self.trunk(x))
        return self.g(h), torch.stack([self.head0(h), self.head1(h), self.head2(h)])

    def predict(self, x):
        gl, heads = self(x)
        k = gl.argmax(1)
        return k, torch.softmax(heads[k, torch.arange(len(x))], 1)


def derive_groups(data):
    import itertools
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import confusion_matrix
    from sklearn.model_selection import cross_val_predict
    X, y = data["train"]
    pred = cross_val_predict(LogisticRegression(max_iter=2000), X, y, cv=5)
    C = confusion_matrix(y, pred)
    S = C + C.T
    best = None
    for g0 in itertools.combinations(range(10), 4):
        rest = [d for d in range(10) if d not in g0]
        for g1 in itertools.combinations(rest, 3):
            g2 = tuple(d for d in rest if d not in g1)
            if g1[0] > g2[0]:
                continue
            grp = {d: i for i, g in enumerate((g0, g1, g2)) for d in g}
            cross = sum(S[i, j] for i in range(10) for j in range(i + 1, 10) if grp[i] != grp[j])
            if best is None or cross < best[0]:
                best = (cross, [list(g0), list(g1), list(g2)])
    return best[1], int(best[0])


def train(data):
    Xtr, ytr = (torch.from_numpy(a) for a in data["train"])
    Xva, yva = (torch.from_numpy(a) for a in data["val"])
    net = GatedHeads()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(SEED)
    for ep in range(EPOCHS):
        net.train()
        for idx in slutil.batches(len(Xtr), 64, gen):
            x, y = Xtr[idx], ytr[idx]
            grp = GROUP_OF[y]
            gl, heads = net(x)
            loss = F.cross_entropy(gl, grp)
            # each head learns all 10 classes; its own super-class's samples
            # weigh 1, the others OTHER_WEIGHT (so a head still answers
            # sensibly when the gate sends it an input of another group)
            for g in range(3):
                wt = torch.where(grp == g, 1.0, OTHER_WEIGHT)
                loss = loss + (F.cross_entropy(heads[g], y, reduction="none") * wt).sum() / len(y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (ep + 1) % 50 == 0:
            net.eval()
            with torch.no_grad():
                k, p = net.predict(Xva)
            print(f"epoch {ep + 1}: loss {float(loss):.4f} val gate acc "
                  f"{float((k == GROUP_OF[yva]).float().mean()):.3f} val acc "
                  f"{float((p.argmax(1) == yva).float().mean()):.3f}")
    return net


def main():
    t0 = time.time()
    slutil.setup(SEED)
    data = slutil.digits_split()
    spec = sluref.Model(SLU)
    groups, cross = derive_groups(data)
    print(f"confusion-derived groups {groups} ({cross} cross-group confusions)")
    assert groups == GROUPS
    slutil.setup(SEED)
    net = train(data)
    net.eval()
    slutil.save_weights(WEIGHTS, net, spec.manifest())

    w, _ = slutil.load_safetensors(WEIGHTS)
    ref = sluref.Model(SLU, w)
    Xte, yte = data["test"]
    outputs, records = ref.run_batch(Xte)

    # sanity: per input, the reference's arm and output agree with the module
    with torch.no_grad():
        k, p = net.predict(torch.from_numpy(Xte))
    arm = [0 if r["gates"]["gate0"] == 1 else (1 if r["gates"]["gate1"] == 1 else 2) for r in records]
    mism = [i for i in range(len(arm)) if arm[i] != int(k[i])]
    assert not [i for i in mism if not records[i]["near_threshold"]]
    d = slutil.max_abs_diff(outputs, p.numpy())
    print(f"check: {len(mism)} arm decisions differ from the module; max |ref - module| = {d:.2e}")
    assert d < 1e-5

    gte = GROUP_OF[torch.from_numpy(yte)].numpy()
    gate_acc = float((np.array(arm) == gte).mean())
    # accuracy of each head on its own group (oracle gate) and of the oracle-gated model
    with torch.no_grad():
        _, heads = net(torch.from_numpy(Xte))
    oracle = heads[torch.from_numpy(gte), torch.arange(len(yte))].argmax(1).numpy()
    summary = slutil.write_fixtures(HERE, ref, Xte, yte, outputs, records, OrderedDict([
        ("groups", GROUPS),
        ("gate_accuracy", round(gate_acc, 6)),
        ("arm_counts", [arm.count(a) for a in range(3)]),
        ("oracle_gate_accuracy", round(float((oracle == yte).mean()), 6)),
    ]))
    print(json.dumps(summary, indent=1))
    print("files:", json.dumps(slutil.file_sizes(HERE)))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
