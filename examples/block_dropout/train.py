"""Train digits_blocks (activation-dependent block dropout with REINFORCE-trained
policies, after Bengio, Bacon, Pineau & Precup 2016), write weights and
reference fixtures.

    /usr/bin/python3 examples/block_dropout/train.py

Training, in two phases:
 1. joint (EPOCHS_JOINT epochs).  Each hidden layer l has a policy
    sigma_l = sigmoid(policy_l(h_{l-1})) over its K=8 blocks of 16 units.  A
    mask u_l ~ Bernoulli(sigma_l) is sampled per input; the layer's output is
    relu(u_l (x) (W_l h_{l-1} + b_l)), dropped blocks exactly 0 (no rescaling).
    * network weights: backprop of the cross-entropy through the sampled masks;
    * policies: REINFORCE, the per-input cost c(x) = -log p(y|x) minus a
      baseline (running mean of the cost) times grad log pi(u | h), plus the
      paper's regularizers on sigma, differentiated directly:
        L_b = sum_j | E_x[sigma_j] - tau |          (each block on tau of the time)
        L_e = E_x | mean_j sigma_j - tau |          (each input uses tau of the blocks)
        L_v = - sum_j var_x(sigma_j)                (decisions that vary across inputs)
      L_pol = L_PG + LAMBDA_S (L_b + L_e) + LAMBDA_V L_v.
      The policy input is detached: the policy gradient trains only the
      policies, the cross-entropy only the network.
 2. fine-tune (EPOCHS_FT epochs): policies frozen, masks deterministic
    (sigma > TB, exactly the inference rule), network weights trained with
    the cross-entropy, so the network fits the masks it will see at run time.
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

NAME = "digits_blocks"
SLU = os.path.join(HERE, NAME + ".slu")
WEIGHTS = os.path.join(HERE, NAME + ".safetensors")
SEED = 0
K, HID = 8, 128
TB = 0.5
TAU = 0.5            # target fraction of active blocks
LAMBDA_S = 1.0       # sparsity regularizers L_b + L_e
LAMBDA_V = 1.0       # variance regularizer L_v
POLICY_LR = 1e-2     # Adam, policies (network: 1e-3)
EPOCHS_JOINT = 150
EPOCHS_FT = 40


class BlockNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.policy1 = nn.Linear(64, K)
        self.fc1 = nn.Linear(64, HID)
        self.policy2 = nn.Linear(HID, K)
        self.fc2 = nn.Linear(HID, HID)
        self.policy3 = nn.Linear(HID, K)
        self.fc3 = nn.Linear(HID, HID)
        self.out = nn.Linear(HID, 10)

    def layers(self):
        return [(self.policy1, self.fc1), (self.policy2, self.fc2), (self.policy3, self.fc3)]

    def policy_parameters(self):
        return [p for pol, _ in self.layers() for p in pol.parameters()]

    def network_parameters(self):
        ids = {id(p) for p in self.policy_parameters()}
        return [p for p in self.parameters() if id(p) not in ids]

    def forward(self, x, mode, gen=None, tb=TB):
        """mode: 'sample' (u ~ Bernoulli(sigma)), 'threshold' (u = sigma > tb),
        'all' (every block on).  Returns logits, per-layer sigma, per-layer
        mask, and log pi(u|.) summed over layers and blocks."""
        h = x
        sigmas, masks, logp = [], [], 0.0
        for pol, fc in self.layers():
            z = pol(h.detach())
            sig = torch.sigmoid(z)
            if mode == "sample":
                u = torch.bernoulli(sig.detach(), generator=gen)
            elif mode == "threshold":
                u = (sig > tb).float()
            else:
                u = torch.ones_like(sig)
            logp = logp - F.binary_cross_entropy_with_logits(z, u, reduction="none").sum(1)
            m = u.repeat_interleave(HID // K, dim=1)
            h = F.relu(fc(h) * m)
            sigmas.append(sig)
            masks.append(u)
        return self.out(h), sigmas, masks, logp


def regularizers(sigmas):
    lb = le = lv = 0.0
    for s in sigmas:
        lb = lb + (s.mean(0) - TAU).abs().sum()
        le = le + (s.mean(1) - TAU).abs().mean()
        lv = lv - s.var(0, unbiased=False).sum()
    return lb, le, lv


def evaluate(net, X, y, mode):
    with torch.no_grad():
        logits, _, masks, _ = net(X, mode)
    acc = float((logits.argmax(1) == y).float().mean())
    frac = float(torch.cat(masks, 1).mean())
    return acc, frac


def train(data):
    Xtr, ytr = (torch.from_numpy(a) for a in data["train"])
    Xva, yva = (torch.from_numpy(a) for a in data["val"])
    net = BlockNet()
    opt_net = torch.optim.Adam(net.network_parameters(), lr=1e-3, weight_decay=1e-4)
    opt_pol = torch.optim.Adam(net.policy_parameters(), lr=POLICY_LR)
    gen = torch.Generator().manual_seed(SEED)
    sgen = torch.Generator().manual_seed(SEED + 1)  # mask sampling
    baseline = None
    for ep in range(EPOCHS_JOINT):
        net.train()
        for idx in slutil.batches(len(Xtr), 64, gen):
            logits, sigmas, masks, logp = net(Xtr[idx], "sample", gen=sgen)
            cost = F.cross_entropy(logits, ytr[idx], reduction="none")
            ce = cost.mean()
            c = cost.detach()
            baseline = float(c.mean()) if baseline is None else 0.9 * baseline + 0.1 * float(c.mean())
            l_pg = ((c - baseline) * logp).mean()
            lb, le, lv = regularizers(sigmas)
            l_pol = l_pg + LAMBDA_S * (lb + le) + LAMBDA_V * lv
            opt_net.zero_grad()
            opt_pol.zero_grad()
            ce.backward(inputs=net.network_parameters())
            l_pol.backward(inputs=net.policy_parameters())
            opt_net.step()
            opt_pol.step()
        if (ep + 1) % 50 == 0:
            net.eval()
            a_s, f_s = evaluate(net, Xva, yva, "threshold")
            print(f"joint epoch {ep + 1}: ce {float(ce):.4f} L_b {float(lb):.3f} L_e {float(le):.3f} "
                  f"L_v {float(lv):.3f}  val acc (sigma>tb) {a_s:.3f}, active {f_s:.3f}")
    for ep in range(EPOCHS_FT):
        net.train()
        for idx in slutil.batches(len(Xtr), 64, gen):
            logits, _, _, _ = net(Xtr[idx], "threshold")
            ce = F.cross_entropy(logits, ytr[idx])
            opt_net.zero_grad()
            ce.backward(inputs=net.network_parameters())
            opt_net.step()
        if (ep + 1) % 20 == 0:
            net.eval()
            a_s, f_s = evaluate(net, Xva, yva, "threshold")
            print(f"fine-tune epoch {ep + 1}: ce {float(ce):.4f} val acc {a_s:.3f}, active {f_s:.3f}")
    return net


def dense_baseline(data):
    """The same 64-128-128-128-10 MLP without policies, trained plainly: the
    accuracy the block dropout should stay close to."""
    Xtr, ytr = (torch.from_numpy(a) for a in data["train"])
    net = nn.Sequential(nn.Linear(64, HID), nn.ReLU(), nn.Linear(HID, HID), nn.ReLU(),
                        nn.Linear(HID, HID), nn.ReLU(), nn.Linear(HID, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(EPOCHS_JOINT):
        for idx in slutil.batches(len(Xtr), 64, gen):
            loss = F.cross_entropy(net(Xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def main():
    t0 = time.time()
    slutil.setup(SEED)
    data = slutil.digits_split()
    spec = sluref.Model(SLU)
    net = train(data)
    net.eval()
    slutil.save_weights(WEIGHTS, net, spec.manifest())

    w, _ = slutil.load_safetensors(WEIGHTS)
    ref = sluref.Model(SLU, w)
    Xte, yte = data["test"]
    outputs, records = ref.run_batch(Xte)

    # sanity: masks and outputs agree with the batched module (sigma > tb)
    Xt = torch.from_numpy(Xte)
    with torch.no_grad():
        logits, _, masks, _ = net(Xt, "threshold")
    names = ["fc1", "fc2", "fc3"]
    mism = [i for i, r in enumerate(records)
            if any(r["blocks"][n] != masks[l][i].int().tolist() for l, n in enumerate(names))]
    assert not [i for i in mism if not records[i]["near_threshold"]]
    d = slutil.max_abs_diff(outputs, torch.softmax(logits, 1).numpy())
    print(f"check: {len(mism)} block decisions differ from the module; max |ref - module| = {d:.2e}")
    assert d < 1e-5
    # with tb forced below every score, every block runs: ref == module('all')
    o_all, r_all = ref.run_batch(Xte, {"tb": -1.0})
    with torch.no_grad():
        l_all = net(Xt, "all")[0]
    d = slutil.max_abs_diff(o_all, torch.softmax(l_all, 1).numpy())
    print(f"check all blocks on (tb=-1): max |ref - module| = {d:.2e}, "
          f"flops == dense: {all(r['flops'] == ref.dense_flops() for r in r_all)}")
    assert d < 1e-5 and all(r["flops"] == ref.dense_flops() for r in r_all)

    torch.manual_seed(SEED)
    base = dense_baseline(data)
    with torch.no_grad():
        base_acc = float((base(Xt).argmax(1).numpy() == yte).mean())
    all_on_acc = float((o_all.argmax(1) == yte).mean())
    # the accuracy / FLOPs trade-off as tb moves (reference interpreter)
    sweep = OrderedDict()
    for tb in (0.1, 0.3, 0.5, 0.7, 0.9):
        o, r = ref.run_batch(Xte, {"tb": tb})
        sweep[str(tb)] = OrderedDict([("accuracy", round(float((o.argmax(1) == yte).mean()), 6)),
                                      ("mean_flops", round(float(np.mean([x["flops"] for x in r])), 1))])
    summary = slutil.write_fixtures(HERE, ref, Xte, yte, outputs, records, OrderedDict([
        ("all_blocks_on_accuracy", round(all_on_acc, 6)),
        ("dense_baseline_accuracy", round(base_acc, 6)),
        ("tb_sweep", sweep),
        ("training", OrderedDict([("tau", TAU), ("lambda_s", LAMBDA_S), ("lambda_v", LAMBDA_V),
                                  ("epochs_joint", EPOCHS_JOINT), ("epochs_finetune", EPOCHS_FT)])),
    ]))
    # a second fixture set with the threshold overridden at run time by name
    over = OrderedDict([("tb", 0.7)])
    o2, r2 = ref.run_batch(Xte, over)
    s2 = slutil.write_ref(os.path.join(HERE, "ref", "override"), ref, yte, o2, r2, thresholds=over)
    print(f"override {dict(over)}: accuracy {s2['accuracy']}, mean flops {s2['mean_flops']}")
    print(json.dumps(summary, indent=1))
    print("files:", json.dumps(slutil.file_sizes(HERE)))
    print(f"done in {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
