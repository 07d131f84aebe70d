"""Train one model of bench/run-batch on scikit-learn's digits and calibrate
its decisions so that the benchmark inputs spread over its paths.

    /usr/bin/python3 bench/batch/train.py MODEL SLUICEC OUT_DIR

MODEL is ee1024, gatetree or moe2x8 (bench/batch/MODEL.slu).  Writes to
OUT_DIR: weights.safetensors (the state_dict, in the model's manifest
order), thresholds.json (the values to --set; {} when the model has none),
inputs.npy (the 360 test inputs of the examples' fixed split) and
train.json (what training and calibration gave).

Accuracy is not the point (a few epochs); spread decisions are:
  ee1024    thresholds t0..t2 put ~40/25/20/15% of the inputs at exit0,
            exit1, exit2 and the end;
  gatetree  each gate's bias is shifted so it splits the inputs that reach
            it about in half (so each leaf gets ~25%);
  moe2x8    trained with a load-balancing loss; if an expert still gets less
            than half or more than twice its share, the router biases are
            nudged (the auxiliary-loss-free balancing of DeepSeek-V3) until
            none does.
Every cut is put in the widest gap near its target, so that no input sits
within float rounding of a threshold (Sluice and PyTorch then agree).
"""
import json
import os
import subprocess
import sys
import time
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import slutil  # noqa: E402
import models  # noqa: E402

SEED = 0
EPOCHS = {"ee1024": 4, "gatetree": 4, "moe2x8": 4}
EE_SPREAD = (0.40, 0.25, 0.20)  # exit0, exit1, exit2; the rest run to the end
BALANCE = 0.05                  # coefficient of the MoE load-balancing loss


def manifest(sluicec, slu):
    """[(name, shape)] of the tensors the model reads."""
    out = []
    for line in subprocess.check_output([sluicec, "--emit=manifest", slu], text=True).splitlines():
        name, ty = line.split(" ", 1)
        out.append((name, [int(d) for d in ty[4:-1].split(",")]))
    return out


def widest_cut(values, target, window):
    """A cut value between sorted-descending `values` [0, c) and [c, n): c
    within target +- window (counts) with the widest gap.  Returns (cut, c)."""
    v = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    lo, hi = max(1, target - window), min(len(v) - 1, target + window)
    c = max(range(lo, hi + 1), key=lambda i: v[i - 1] - v[i])
    return (v[c - 1] + v[c]) / 2, c


# --- training ---------------------------------------------------------------

def moe_balance_loss(idxs, scores):
    """Switch/GShard load balancing: N * sum_i f_i * P_i per block."""
    aux = 0
    for idx, s in zip(idxs, scores):
        f = F.one_hot(idx, models.N_EXPERTS).float().sum((0, 1)) / idx.numel()
        aux = aux + models.N_EXPERTS * (f * F.softmax(s, dim=1).mean(0)).sum()
    return aux


def loss_of(name, net, x, y):
    if name == "ee1024":
        return sum(F.cross_entropy(l, y) for l in net(x))
    if name == "gatetree":
        logp, gates = net(x)
        # keep the soft gates from collapsing to one side
        balance = sum((torch.sigmoid(g).mean() - 0.5) ** 2 for g in gates)
        return F.nll_loss(logp, y) + balance
    logits, idxs, scores = net(x)
    return F.cross_entropy(logits, y) + BALANCE * moe_balance_loss(idxs, scores)


def train(name, data):
    Xtr, ytr = (torch.from_numpy(a) for a in data["train"])
    net = models.new_net(name)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(SEED)
    for ep in range(EPOCHS[name]):
        net.train()
        for idx in slutil.batches(len(Xtr), 64, gen):
            loss = loss_of(name, net, Xtr[idx], ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"{name}: epoch {ep + 1}: loss {float(loss):.4f}", flush=True)
    net.eval()
    return net


# --- calibration --------------------------------------------------------------

def calibrate_ee(net, x):
    """Thresholds t0..t2 for the EE_SPREAD of exits over the inputs x."""
    with torch.no_grad():
        conf = [F.softmax(l, dim=1).max(dim=1).values.numpy() for l in net(x)]
    n = len(x)
    remaining = np.arange(n)
    th, counts, gaps = OrderedDict(), [], []
    for k, frac in enumerate(EE_SPREAD):
        c_vals = conf[k][remaining]
        cut, c = widest_cut(c_vals, round(frac * n), max(2, n // 50))
        th[f"t{k}"] = float(np.float32(cut))
        leave = c_vals >= th[f"t{k}"]
        counts.append(int(leave.sum()))
        gaps.append(float(np.min(np.abs(c_vals - th[f"t{k}"]))))
        remaining = remaining[~leave]
    counts.append(len(remaining))
    return th, OrderedDict([("exits", counts), ("closest_to_threshold", gaps)])


def calibrate_gatetree(net, x):
    """Shift each gate's bias so it splits the rows that reach it in half."""
    info = OrderedDict()
    with torch.no_grad():
        h = F.relu(net.trunk(x))
        logit = net.g0(h)[:, 0].numpy()
        cut, _ = widest_cut(logit, len(logit) // 2, max(2, len(logit) // 25))
        net.g0.bias -= float(cut)
        c0 = net.g0(h)[:, 0] > 0
        info["g0"] = [int(c0.sum()), int((~c0).sum())]
        for (l1, l2, g, _), sel, key in zip(net.branches(), (c0, ~c0), ("ga", "gb")):
            a = F.relu(l2(F.relu(l1(h[sel]))))
            logit = g(a)[:, 0].numpy()
            cut, _ = widest_cut(logit, len(logit) // 2, max(2, len(logit) // 25))
            g.bias -= float(cut)
            c = g(a)[:, 0] > 0
            info[key] = [int(c.sum()), int((~c).sum())]
        gates, _ = net.everything(x)
        info["closest_to_zero"] = [float(g.abs().min()) for g in gates]
    _, leaves = models.gatetree_compacted(net, x)
    info["leaves"] = np.bincount(leaves.numpy(), minlength=4).tolist()
    return info


def expert_use(net, x):
    with torch.no_grad():
        _, idxs, scores = net(x)
    use = [np.bincount(i.reshape(-1).numpy(), minlength=models.N_EXPERTS) for i in idxs]
    # margin between the k-th and the (k+1)-th score: a tie there could
    # route differently in Sluice and PyTorch
    margins = [float((torch.sort(s, dim=1, descending=True).values[:, models.TOP_K - 1]
                      - torch.sort(s, dim=1, descending=True).values[:, models.TOP_K]).min())
               for s in scores]
    return use, margins


def calibrate_moe(net, x):
    """Nudge router biases until every expert gets 1/2 to 2x its share."""
    share = len(x) * models.TOP_K / models.N_EXPERTS
    nudges = 0
    for b, (_, router, _) in enumerate(net.blocks()):
        for _ in range(200):
            use = expert_use(net, x)[0][b]
            if use.min() >= share / 2 and use.max() <= 2 * share:
                break
            with torch.no_grad():
                router.bias -= torch.from_numpy(0.05 * (use / share - 1)).float()
            nudges += 1
    use, margins = expert_use(net, x)
    return OrderedDict([("expert_use", [u.tolist() for u in use]), ("bias_nudges", nudges),
                        ("min_topk_margin", margins)])


def main():
    name, sluicec, out = sys.argv[1:4]
    t0 = time.time()
    os.makedirs(out, exist_ok=True)
    slutil.setup(SEED)
    data = slutil.digits_split()
    xte, yte = data["test"]
    x = torch.from_numpy(xte)
    net = train(name, data)
    thresholds = {}
    with torch.no_grad():
        if name == "ee1024":
            thresholds, info = calibrate_ee(net, x)
        elif name == "gatetree":
            info = calibrate_gatetree(net, x)
        else:
            info = calibrate_moe(net, x)
        y, _ = models.compacted(name, net, x, thresholds)
    info["test_accuracy"] = float((y.argmax(1).numpy() == yte).mean())
    info["thresholds"] = thresholds
    info["seconds"] = round(time.time() - t0, 1)
    print(f"{name}: {json.dumps(info)}")
    slutil.save_weights(os.path.join(out, "weights.safetensors"), net,
                        manifest(sluicec, os.path.join(HERE, name + ".slu")))
    np.save(os.path.join(out, "inputs.npy"), np.ascontiguousarray(xte, dtype=np.float32))
    with open(os.path.join(out, "thresholds.json"), "w") as f:
        json.dump(thresholds, f)
    with open(os.path.join(out, "train.json"), "w") as f:
        json.dump(info, f, indent=1)


if __name__ == "__main__":
    main()
