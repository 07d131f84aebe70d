"""Train moe_tokens (a two-layer transformer over the rows of a digit, 4 to
8 rows per input, whose feed-forwards are top-2 mixtures of 4 experts with
every token routed on its own), write weights and reference fixtures.

    /usr/bin/python3 examples/moe_tokens/train.py

The reference runs the trained nn.Module one input at a time on its own
rows, unpadded and without a mask, with real per-token routing: for each
token only its 2 chosen experts are computed, combined best first.  It is
checked against the module run on the whole padded batch with
key_padding_mask (every expert on every token, the chosen ones gathered):
same routes, outputs within ~1e-6, and the padding's values do not matter.
"""
import json
import os
import sys
import time
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep examples/common free of __pycache__
sys.path.insert(0, os.path.join(HERE, "..", "common"))
# OpenMP threads spinning at a barrier on a busy machine make small ops
# much slower; sleeping threads give the same numbers.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import slutil  # noqa: E402
import seqref  # noqa: E402
from stdlib_torch import MLP, MeanHead  # noqa: E402

NAME = "moe_tokens"
SLU = os.path.join(HERE, NAME + ".slu")
WEIGHTS = os.path.join(HERE, NAME + ".safetensors")
SEED = 0
EPOCHS = 100
THREADS = 1
D, HEADS, N_EXPERTS, TOP_K, D_FF, LAYERS, CLASSES = 32, 4, 4, 2, 64, 2, 10
ROWS, MIN_ROWS = 8, 4  # an input keeps its top 4 to 8 rows (as seq_digits)
BALANCE = 0.02  # coefficient of the load-balancing loss (per layer)
DROPOUT = 0.1
BANKS = [f"blks.{i}.experts" for i in range(LAYERS)]  # the ledger's route names


# --- data: exactly seq_digits' ---------------------------------------------

def rows(X):
    """[N, 64] images -> [N, 8, 8]: one token per pixel row, top first."""
    return np.asarray(X, dtype=np.float32).reshape(-1, ROWS, 8)


def crop(X, seed):
    """The fixed crop of a split (as seq_digits): each image keeps its top L
    rows, L uniform in 4..8 from RandomState(seed); the rows past L are
    replaced by junk (uniform in [0, 1), from the same generator) that no
    correct model reads.  Returns the padded [N, 8, 8] float32 and the
    lengths (int64)."""
    rng = np.random.RandomState(seed)
    X = rows(X).copy()
    lengths = rng.randint(MIN_ROWS, ROWS + 1, size=len(X)).astype(np.int64)
    junk = rng.random_sample(X.shape).astype(np.float32)
    pad = np.arange(ROWS)[None, :] >= lengths[:, None]
    X[pad] = junk[pad]
    return np.ascontiguousarray(X), lengths


def pad_mask(lengths, width=ROWS):
    """[N, width] bool, True at padding (key_padding_mask)."""
    lengths = torch.as_tensor(lengths)
    return torch.arange(width)[None, :] >= lengths[:, None]


# --- the model ---------------------------------------------------------------

class MoEEncoderLayer(nn.Module):
    """The .slu's moe_encoder[d, heads, n, d_ff]: nn.TransformerEncoderLayer
    (post-norm, ReLU) with its feed-forward replaced by a top-2 mixture of n
    experts mlp[d, d_ff, d], every token routed on its own:

        h = norm1(x + self_attn(x))
        y = norm2(h + route experts(h) top 2 by router(h))

    Children in the .slu's param order (= the state_dict's)."""

    def __init__(self, d, heads, n, d_ff, dropout=DROPOUT):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d)
        self.router = nn.Linear(d, n)
        self.experts = nn.ModuleList(MLP(d, d_ff, d) for _ in range(n))
        self.norm2 = nn.LayerNorm(d)
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)

    def forward(self, x, pad=None):
        """Batched: x [B, S, d], pad [B, S] (True at padding) or None.  Every
        expert runs on every token and the chosen ones are gathered (the same
        combination as running only them).  Returns y, the chosen indices
        [B, S, k], the k-th/(k+1)-th score gaps [B, S] and the
        load-balancing loss over the real tokens."""
        a = self.self_attn(x, x, x, key_padding_mask=pad, need_weights=False)[0]
        h = self.norm1(x + self.drop1(a))
        s = self.router(h)  # [B, S, n]
        idx, gap = seqref.top_k(s.detach(), TOP_K)
        w = torch.softmax(s.gather(-1, idx), dim=-1)  # softmax over the chosen k
        ys = torch.stack([e(h) for e in self.experts], dim=2)  # [B, S, n, d]
        chosen = ys.gather(2, idx.unsqueeze(-1).expand(-1, -1, -1, ys.shape[-1]))
        moe = w[..., 0:1] * chosen[..., 0, :]
        for j in range(1, TOP_K):  # best first, as the compiler accumulates
            moe = moe + w[..., j:j + 1] * chosen[..., j, :]
        y = self.norm2(h + self.drop2(moe))
        # Switch/GShard load balancing over the real tokens: n * sum_i f_i P_i,
        # f_i = share of the routing slots given to expert i, P_i = the mean
        # router probability of expert i
        real = torch.ones(s.shape[:2], dtype=torch.bool) if pad is None else ~pad
        f = F.one_hot(idx[real], s.shape[-1]).float().sum((0, 1)) / (real.sum() * TOP_K)
        P = torch.softmax(s[real], dim=-1).mean(0)
        aux = s.shape[-1] * (f * P).sum()
        return y, idx, gap, aux

    @torch.no_grad()
    def alone(self, x):
        """One input x [S, d] (real tokens only), no mask, with real routing:
        each token runs its k chosen experts only, combined best first.
        Returns y [S, d], the routes (one [k] list per token, best first)
        and the router's scores [S, n]."""
        x = x[None]
        a = self.self_attn(x, x, x, need_weights=False)[0]
        h = self.norm1(x + a)[0]
        s = self.router(h)  # [S, n]
        moe, routes = [], []
        for t in range(h.shape[0]):
            idx = seqref.top_k(s[t], TOP_K)[0].tolist()
            w = torch.softmax(s[t, idx], dim=0)
            acc = w[0] * self.experts[idx[0]](h[t])
            for j in range(1, TOP_K):
                acc = acc + w[j] * self.experts[idx[j]](h[t])
            moe.append(acc)
            routes.append(idx)
        return self.norm2(h + torch.stack(moe)), routes, s


class MoETokens(nn.Module):
    def __init__(self):
        super().__init__()
        # state_dict order = the .slu's param order
        self.pos = nn.Parameter(torch.randn(ROWS, D) * 0.02)
        self.embed = nn.Linear(8, D)
        self.blks = nn.ModuleList(MoEEncoderLayer(D, HEADS, N_EXPERTS, D_FF)
                                  for _ in range(LAYERS))
        self.head = MeanHead(D, CLASSES)

    def forward(self, x, pad=None):
        """x [B, S, 8], pad [B, S] or None: logits, per-layer routes and gaps
        [B, S, k] / [B, S] (padding included), the summed balance loss."""
        h = self.embed(x) + self.pos[:x.shape[1]]
        idxs, gaps, aux = [], [], 0.0
        for blk in self.blks:
            h, idx, gap, a = blk(h, pad)
            idxs.append(idx)
            gaps.append(gap)
            aux = aux + a
        return self.head(h, pad), idxs, gaps, aux

    @torch.no_grad()
    def alone(self, x):
        """One input [T, 8], unpadded: probabilities, the routes and the
        router scores of each layer."""
        h = self.embed(x) + self.pos[:x.shape[0]]
        routes, scores = OrderedDict(), []
        for name, blk in zip(BANKS, self.blks):
            h, r, s = blk.alone(h)
            routes[name] = r
            scores.append(s)
        return torch.softmax(self.head(h[None])[0], 0), routes, scores


def manifest():
    """The tensors the .slu reads, in order (sluicec --emit=manifest)."""
    m = [("pos", [ROWS, D]), ("embed.weight", [D, 8]), ("embed.bias", [D])]
    for i in range(LAYERS):
        p = f"blks.{i}."
        m += [(p + "self_attn.in_proj_weight", [3 * D, D]), (p + "self_attn.in_proj_bias", [3 * D]),
              (p + "self_attn.out_proj.weight", [D, D]), (p + "self_attn.out_proj.bias", [D]),
              (p + "norm1.weight", [D]), (p + "norm1.bias", [D]),
              (p + "router.weight", [N_EXPERTS, D]), (p + "router.bias", [N_EXPERTS])]
        for e in range(N_EXPERTS):
            q = f"{p}experts.{e}."
            m += [(q + "fc1.weight", [D_FF, D]), (q + "fc1.bias", [D_FF]),
                  (q + "fc2.weight", [D, D_FF]), (q + "fc2.bias", [D])]
        m += [(p + "norm2.weight", [D]), (p + "norm2.bias", [D])]
    m += [("head.norm.weight", [D]), ("head.norm.bias", [D]),
          ("head.fc.weight", [CLASSES, D]), ("head.fc.bias", [CLASSES])]
    return m


# --- FLOPs for an input of T tokens (seqref's cost model; = `sluicec --cost`)

def flops(T, dense_count=False):
    return (seqref.dense(T, 8, D) + T * D  # embedding, + pos[:T]
            + LAYERS * seqref.moe_encoder_layer(T, D, HEADS, N_EXPERTS, TOP_K, D_FF, dense_count)
            + seqref.mean_head(T, D, CLASSES) + CLASSES)  # head, softmax


# --- training ----------------------------------------------------------------

def usage(idxs, pad):
    """Tokens per expert (k slots per real token), per layer."""
    return [torch.bincount(i[~pad].reshape(-1), minlength=N_EXPERTS).tolist() for i in idxs]


def train(data):
    Xtr, ytr = torch.from_numpy(rows(data["train"][0])), torch.from_numpy(data["train"][1])
    Xva, lva = crop(data["val"][0], SEED + 2)
    yva = torch.from_numpy(data["val"][1])
    pva = pad_mask(lva)
    net = MoETokens()
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
            logits, _, _, aux = net(xb, pad)
            ce = F.cross_entropy(logits, ytr[idx])
            loss = ce + BALANCE * aux
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if (ep + 1) % 25 == 0:
            net.eval()
            with torch.no_grad():
                logits, idxs, _, aux = net(torch.from_numpy(Xva), pva)
            acc = float((logits.argmax(1) == yva).float().mean())
            print(f"epoch {ep + 1}: ce {float(ce):.4f} balance {float(aux) / LAYERS:.3f} "
                  f"val acc {acc:.3f} expert use {usage(idxs, pva)}", flush=True)
    net.eval()
    return net


# --- reference ---------------------------------------------------------------

def reference(net, X, lengths):
    """Each input alone on its own tokens, with real per-token routing.
    Also returns, over all real tokens, the smallest gap between the 2nd
    and 3rd scores (a choice) and between the 1st and 2nd (an order)."""
    outs, records, gap_k, gap_1 = [], [], float("inf"), float("inf")
    for i in range(len(lengths)):
        T = int(lengths[i])
        p, routes, scores = net.alone(torch.from_numpy(X[i, :T]))
        gap = min(float(seqref.top_k(s, TOP_K)[1].min()) for s in scores)
        gap_k = min(gap_k, gap)
        gap_1 = min([gap_1] + [float(seqref.top_k(s, 1)[1].min()) for s in scores])
        outs.append(p.numpy().copy())
        records.append(OrderedDict([
            ("input", i), ("tokens", T), ("exit", "end"),
            ("flops", flops(T)), ("dense_flops", flops(T, True)),
            ("routes", routes), ("near_threshold", gap <= seqref.NEAR)]))
    return np.stack(outs).astype(np.float32), records, gap_k, gap_1


@torch.no_grad()
def batched(net, X, lengths):
    """The padded batch with its mask: probabilities, routes [B, S, k] and
    gaps [B, S] per layer."""
    logits, idxs, gaps, _ = net(torch.from_numpy(X), pad_mask(lengths))
    return torch.softmax(logits, 1).numpy(), idxs, gaps


def main():
    t_start = time.time()
    slutil.setup(SEED)
    torch.set_num_threads(THREADS)
    data = slutil.digits_split()
    net = train(data)

    sd = slutil.state_dict_f32(net)
    want = manifest()
    assert [(k, list(v.shape)) for k, v in sd.items()] == want, "state_dict != the .slu's manifest"
    slutil.save_weights(WEIGHTS, net, want)
    w, _ = slutil.load_safetensors(WEIGHTS)
    assert [(k, list(v.shape)) for k, v in w.items()] == want
    print(f"weights: {len(w)} tensors, {sum(v.size for v in w.values())} floats")
    net.load_state_dict(OrderedDict((k, torch.from_numpy(v.copy())) for k, v in w.items()))
    net.eval()
    print("flops at T = 4..8:", [flops(T) for T in range(4, 9)],
          "dense", [flops(T, True) for T in range(4, 9)])

    Xte, lte = crop(data["test"][0], SEED + 1)
    yte = data["test"][1]
    outputs, records, gap_k, gap_1 = reference(net, Xte, lte)
    print(f"smallest router score gaps over the real test tokens: 2nd - 3rd {gap_k:.3e} "
          f"(near_threshold at <= 1e-5), 1st - 2nd {gap_1:.3e}")

    # checks: the padded batch (every expert on every token, gathered) gives
    # the same routes and outputs; the padding's values do not matter
    probs, idxs, gaps = batched(net, Xte, lte)
    d = slutil.max_abs_diff(outputs, probs)
    mism = []
    for i, r in enumerate(records):
        T = r["tokens"]
        if any(r["routes"][b] != idxs[j][i, :T].tolist() for j, b in enumerate(BANKS)):
            mism.append(i)
    near_b = [i for i in range(len(lte))
              if min(float(g[i, :lte[i]].min()) for g in gaps) <= seqref.NEAR]
    print(f"check: max |alone, real routing - padded batch| = {d:.2e}; "
          f"{len(mism)} inputs route differently (near: "
          f"{sum(records[i]['near_threshold'] for i in mism)}); near_threshold inputs: "
          f"{sum(r['near_threshold'] for r in records)} alone, {len(near_b)} in the batch")
    assert not [i for i in mism if not records[i]["near_threshold"]]
    assert d < 1e-5
    Xz = Xte.copy()
    Xz[pad_mask(lte).numpy()] = 0.0
    dz = slutil.max_abs_diff(batched(net, Xz, lte)[0], probs)
    print(f"check padding zeroed: max |difference| = {dz:.2e}")
    assert dz < 1e-5

    by_len = OrderedDict()
    for T in range(MIN_ROWS, ROWS + 1):
        sel = lte == T
        by_len[str(T)] = round(float((outputs[sel].argmax(1) == yte[sel]).mean()), 6)
    os.makedirs(os.path.join(HERE, "ref"), exist_ok=True)
    np.save(os.path.join(HERE, "test_x.npy"), Xte)
    np.save(os.path.join(HERE, "test_lengths.npy"), lte)
    np.save(os.path.join(HERE, "test_labels.npy"), np.asarray(yte, dtype=np.float32))
    summary = seqref.write_ref(os.path.join(HERE, "ref"), NAME, {}, 0, yte, outputs, records,
                               OrderedDict([
                                   ("accuracy_by_tokens", by_len),
                                   ("routes", seqref.token_routes(records, BANKS, N_EXPERTS)),
                                   ("balance_coefficient", BALANCE),
                               ]))
    print(json.dumps(summary, indent=1))
    print("files:", json.dumps(slutil.file_sizes(HERE)))
    print(f"done in {time.time() - t_start:.1f}s")


if __name__ == "__main__":
    main()
