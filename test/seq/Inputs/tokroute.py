"""Per-token routes (test/seq/route-tokens.test) against numpy, in float64
from the float32 weights: every token's top k experts by its own scores
(ties to the lower index), softmax over the chosen scores, the weighted sum
best first.

    tokroute.py make DIR        weights, inputs, lengths and references
    tokroute.py check DIR CASE y.npy ledger.jsonl

Random weights and inputs from fixed seeds; no choice is within MARGIN of
flipping (such inputs are redrawn), so float32 rounding cannot change one.
"""
import json
import os
import sys
from collections import OrderedDict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                "examples", "common"))
import slutil  # noqa: E402

MARGIN = 1e-3


def topk(s, k):
    order = sorted(range(len(s)), key=lambda j: (-s[j], j))
    gap = s[order[k - 1]] - s[order[k]] if k < len(s) else np.inf
    return order[:k], gap


def route(h, W, b, experts, k):
    """Rows of h routed one by one; returns outputs, choices, min gap."""
    s = h @ W.T + b
    out, choices, gap = [], [], np.inf
    for t in range(len(h)):
        ch, g = topk(s[t], k)
        gap = min(gap, g)
        w = np.exp(s[t, ch] - s[t, ch].max())
        w /= w.sum()
        o = 0
        for wj, j in zip(w, ch):
            o = o + wj * experts[j](h[t])
        out.append(o)
        choices.append(ch)
    return np.array(out), choices, gap


def f64(t, name):
    return t[name].astype(np.float64)


def mlp(t, p):
    return lambda v: (np.maximum(v @ f64(t, p + "fc1.weight").T + f64(t, p + "fc1.bias"), 0)
                      @ f64(t, p + "fc2.weight").T + f64(t, p + "fc2.bias"))


def dense(t, p):
    return lambda v: v @ f64(t, p + "weight").T + f64(t, p + "bias")


def weights(shapes, rng):
    return OrderedDict((n, rng.standard_normal(s).astype(np.float32)) for n, s in shapes)


def make_seq(d):
    rng = np.random.default_rng(7)
    shapes = [("router.weight", (3, 4)), ("router.bias", (3,))]
    for j in range(3):
        shapes += [(f"experts.{j}.fc1.weight", (5, 4)), (f"experts.{j}.fc1.bias", (5,)),
                   (f"experts.{j}.fc2.weight", (4, 5)), (f"experts.{j}.fc2.bias", (4,))]
    t = weights(shapes, rng)
    slutil.save_safetensors(os.path.join(d, "seq.safetensors"), t)
    ex = [mlp(t, f"experts.{j}.") for j in range(3)]
    lens = [1, 6, 3, 4, 2, 6, 5, 1, 3, 6, 4, 2]
    x = rng.standard_normal((len(lens), 6, 4)).astype(np.float32) * 100  # padding: junk
    outs, recs = [], []
    for i, n in enumerate(lens):
        while True:
            x[i, :n] = rng.standard_normal((n, 4)).astype(np.float32)
            h = x[i, :n].astype(np.float64)
            r, ch, gap = route(h, f64(t, "router.weight"), f64(t, "router.bias"), ex, 2)
            if gap > MARGIN:
                break
        h = h + r
        outs.append(np.concatenate([h.mean(0), h.max(0)]))
        recs.append({"tokens": n, "routes": {"experts": ch}})
    np.save(os.path.join(d, "seq_x.npy"), x)
    np.save(os.path.join(d, "seq_lens.npy"), np.array(lens, np.int64))
    np.save(os.path.join(d, "seq_ref.npy"), np.array(outs, np.float32))
    with open(os.path.join(d, "seq_ref.json"), "w") as f:
        json.dump(recs, f)


def softmax(v):
    e = np.exp(v - v.max())
    return e / e.sum()


def route_mode(h, t, mode):
    """A sequence's tokens through the experts of seq.slu's weights by one
    of the routes of switch.slu, cap.slu, ec.slu; returns the routed output,
    each token's experts (as the ledger lists them), the experts' runs and
    the smallest gap between a choice and the next score."""
    ex = [mlp(t, f"experts.{j}.") for j in range(3)]
    s = h @ f64(t, "router.weight").T + f64(t, "router.bias")
    n, N = len(h), 3
    out = np.zeros_like(h)
    gap = np.inf
    if mode == "ec":
        g = np.array([softmax(r) for r in s])
        took = [[] for _ in range(n)]
        for e in range(N):
            ch, gp = topk(g[:, e], 2) if n > 2 else (list(range(n)), np.inf)
            gap = min(gap, gp)
            for tk in ch:
                took[tk].append(e)
        for tk in range(n):
            for e in took[tk]:
                out[tk] += g[tk, e] * ex[e](h[tk])
        return out, took, 2 * N, gap
    k = 1 if mode == "switch" else 2
    choices, weights = [], []
    for tk in range(n):
        ch, gp = topk(s[tk], k)
        gap = min(gap, gp)
        choices.append(ch)
        weights.append(softmax(s[tk])[ch] if mode == "switch" else softmax(s[tk, ch]))
    kept = [list(c) for c in choices]
    if mode == "cap":
        cap = max(1, int(np.ceil(0.5 * n * k / N)))
        count = [0] * N
        for j in range(k):
            for tk in range(n):
                e = choices[tk][j]
                if count[e] < cap:
                    count[e] += 1
                else:
                    kept[tk][j] = None
    runs = 0
    for tk in range(n):
        for j in range(k):
            if kept[tk][j] is not None:
                out[tk] += weights[tk][j] * ex[kept[tk][j]](h[tk])
                runs += 1
    return out, [[e for e in c if e is not None] for c in kept], runs, gap


def make_modes(d):
    """Inputs and references of switch.slu, cap.slu and ec.slu (the weights
    of seq.slu)."""
    t = slutil.load_safetensors(os.path.join(d, "seq.safetensors"))[0]
    rng = np.random.default_rng(9)
    E = 2 * 4 * 5 + 5 + 5 + 2 * 5 * 4 + 4  # mlp[4, 5, 4]: fc1, relu, fc2
    for mode in ("switch", "cap", "ec"):
        lens = [6, 2, 5, 3, 6, 4, 2, 6, 5, 3] + ([1] if mode != "ec" else [])
        x = rng.standard_normal((len(lens), 6, 4)).astype(np.float32) * 100
        outs, recs = [], []
        for i, n in enumerate(lens):
            while True:
                x[i, :n] = rng.standard_normal((n, 4)).astype(np.float32)
                h = x[i, :n].astype(np.float64)
                r, routes, runs, gap = route_mode(h, t, mode)
                if gap > MARGIN:
                    break
            hh = h + r
            outs.append(np.concatenate([hh.mean(0), hh.max(0)]))
            base = 27 + 4 + 4 + 4  # router, add, pool_mean, pool_max per token
            if mode == "ec":  # softmax(router(x)); every expert reads each score; combine
                own = 3 * n + 3 * n + 2 * 4 * 3 * 2
            else:
                k = 1 if mode == "switch" else 2
                own = n * (3 + k + 2 * 4 * k)
            recs.append({"tokens": n, "flops": base * n + own + runs * E,
                         "routes": {"experts": routes}})
        np.save(os.path.join(d, mode + "_x.npy"), x)
        np.save(os.path.join(d, mode + "_lens.npy"), np.array(lens, np.int64))
        np.save(os.path.join(d, mode + "_ref.npy"), np.array(outs, np.float32))
        with open(os.path.join(d, mode + "_ref.json"), "w") as f:
            json.dump(recs, f)


def make_mat(d):
    rng = np.random.default_rng(8)
    shapes = [("m.score.weight", (4, 4)), ("m.score.bias", (4,))]
    for j in range(4):
        shapes += [(f"m.ex.{j}.weight", (3, 4)), (f"m.ex.{j}.bias", (3,))]
    t = weights(shapes, rng)
    slutil.save_safetensors(os.path.join(d, "mat.safetensors"), t)
    ex = [dense(t, f"m.ex.{j}.") for j in range(4)]
    n = 10
    x = np.zeros((n, 5, 4), np.float32)
    outs, recs = [], []
    for i in range(n):
        while True:
            x[i] = rng.standard_normal((5, 4)).astype(np.float32)
            r, ch, gap = route(x[i].astype(np.float64), f64(t, "m.score.weight"),
                               f64(t, "m.score.bias"), ex, 1)
            if gap > MARGIN:
                break
        outs.append(r.reshape(-1))
        recs.append({"routes": {"m.ex": ch}})
    np.save(os.path.join(d, "mat_x.npy"), x)
    np.save(os.path.join(d, "mat_ref.npy"), np.array(outs, np.float32))
    with open(os.path.join(d, "mat_ref.json"), "w") as f:
        json.dump(recs, f)


def make_kept(d):
    """kept.slu: seq.slu's router and experts after tokens_above(x,
    score(x), 0): the tokens whose score passes 0, or the best one."""
    t = slutil.load_safetensors(os.path.join(d, "seq.safetensors"))[0]
    rng = np.random.default_rng(10)
    t.update(weights([("score.weight", (1, 4)), ("score.bias", (1,))], rng))
    slutil.save_safetensors(os.path.join(d, "kept.safetensors"), t)
    ex = [mlp(t, f"experts.{j}.") for j in range(3)]
    lens = [6, 1, 4, 5, 2, 6, 3, 6, 5, 4, 6, 2]
    x = rng.standard_normal((len(lens), 6, 4)).astype(np.float32) * 100  # padding: junk
    outs, recs, counts = [], [], []
    for i, n in enumerate(lens):
        while True:
            x[i, :n] = rng.standard_normal((n, 4)).astype(np.float32)
            h = x[i, :n].astype(np.float64)
            s = (h @ f64(t, "score.weight").T + f64(t, "score.bias"))[:, 0]
            keep = [j for j in range(n) if s[j] > 0] or [int(np.argmax(s))]
            near = np.abs(s).min() if n else np.inf
            h = h[keep]
            r, ch, gap = route(h, f64(t, "router.weight"), f64(t, "router.bias"), ex, 2)
            if gap > MARGIN and near > MARGIN:
                break
        h = h + r
        outs.append(np.concatenate([h.mean(0), h.max(0)]))
        counts.append((len(keep), n, all(s <= 0)))
        recs.append({"tokens": n, "selected": {"tokens_above": keep},
                     "routes": {"experts": ch}})
    # some inputs keep every token, some a few, some only their best
    assert any(k == n for k, n, _ in counts) and any(1 < k < n for k, n, _ in counts) \
        and any(none for _, _, none in counts), counts
    np.save(os.path.join(d, "kept_x.npy"), x)
    np.save(os.path.join(d, "kept_lens.npy"), np.array(lens, np.int64))
    np.save(os.path.join(d, "kept_ref.npy"), np.array(outs, np.float32))
    with open(os.path.join(d, "kept_ref.json"), "w") as f:
        json.dump(recs, f)


def check(d, case, y_path, ledger_path):
    ref = np.load(os.path.join(d, case + "_ref.npy")).astype(np.float64)
    with open(os.path.join(d, case + "_ref.json")) as f:
        recs = json.load(f)
    y = np.load(y_path).astype(np.float64)
    with open(ledger_path) as f:
        led = [json.loads(line) for line in f]
    bad = 0
    if y.shape != ref.shape or len(led) != len(recs):
        print(f"{case}: shapes {y.shape} / {len(led)} records, expected {ref.shape} / {len(recs)}")
        return 1
    for i, r in enumerate(recs):
        ok = np.all(np.abs(y[i] - ref[i]) <= 1e-5 + 1e-4 * np.abs(ref[i]))
        for k, v in r.items():
            ok = ok and led[i].get(k) == v
        if not ok:
            bad += 1
            print(f"{case}: input {i} differs: {led[i]} vs {r}")
    tokens = sum(len(next(iter(r["routes"].values()))) for r in recs)
    dropped = sum(len(c) for r in recs for c in r["routes"]["experts"]) if case != "mat" else 0
    print(f"{case}: {len(recs)} inputs, {tokens} tokens routed, {bad} differ")
    if case in ("cap", "ec"):  # the choices taken: fewer than k per token, or not one each
        print(f"{case}: {dropped} choices taken of {tokens * 2} (2 per token)")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make_seq(sys.argv[2])
        make_modes(sys.argv[2])
        make_mat(sys.argv[2])
        make_kept(sys.argv[2])
    else:
        sys.exit(check(*sys.argv[2:6]))
