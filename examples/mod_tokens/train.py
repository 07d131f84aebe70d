"""Train mod_tokens (a small vision transformer whose layers 1 and 3 are
mixture-of-depths blocks: a router picks 8 of the 17 tokens per input, only
those run the layer), write weights and reference fixtures.

    /usr/bin/python3 examples/mod_tokens/train.py

The reference is the trained nn.Module itself, run one input at a time with
real selection: a mixture-of-depths block gathers its 8 chosen tokens (in
their original order), runs the encoder layer on those 8 alone and scatters
the scaled result back; the other 9 tokens are never computed by it.  It is
checked against the module run on the whole batch another way: every
mixture-of-depths layer on all 17 tokens with the 9 others masked out of
attention (src_key_padding_mask), the chosen rows taken from its output.
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
from stdlib_torch import ClsHead  # noqa: E402

NAME = "mod_tokens"
SLU = os.path.join(HERE, NAME + ".slu")
WEIGHTS = os.path.join(HERE, NAME + ".safetensors")
SEED = 0
EPOCHS = 100
THREADS = 1
D, HEADS, D_FF, CLASSES = 32, 4, 64, 10
PATCHES, PATCH = 16, 4  # 16 tokens of 2x2 pixels (as vit_digits)
S = PATCHES + 1         # the class token and the patches
K = 8                   # tokens a mixture-of-depths block runs (capacity 8/17)
MODS = ["mod_blks.0", "mod_blks.1"]  # the ledger's "selected" keys (layers 1, 3)
DROPOUT = 0.1


def patches(X):
    """[N, 64] images (row-major 8x8) -> [N, 16, 4]: the 2x2 patches in
    row-major order, each patch's pixels row-major (as vit_digits)."""
    X = np.asarray(X, dtype=np.float32)
    return np.ascontiguousarray(
        X.reshape(-1, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4).reshape(-1, PATCHES, PATCH))


# --- the model ---------------------------------------------------------------

def encoder():
    return nn.TransformerEncoderLayer(D, HEADS, D_FF, dropout=DROPOUT, batch_first=True)


def route_top_tokens(blk, s, h, k):
    """`route blk(h) top k tokens by s scaled`, batched by gathering: h [B,
    S, d], s [B, S] (the scores as given).  For each input the k rows of
    highest score (ties to the lower index) are gathered in their original
    order, run through blk as a k-token sequence, and scattered back as
    h_t + s_t * (blk_t - h_t); the other rows keep h_t.  Returns the result,
    the chosen rows [B, k] (ascending) and the k-th/(k+1)-th score gaps [B]."""
    idx, gap = seqref.top_tokens(s.detach(), k)
    ix = idx.unsqueeze(-1).expand(-1, -1, h.shape[-1])
    xs = h.gather(1, ix)
    y = blk(xs)
    sk = s.gather(1, idx).unsqueeze(-1)
    return h.scatter(1, ix, xs + sk * (y - xs)), idx, gap


class MoDViT(nn.Module):
    def __init__(self):
        super().__init__()
        # state_dict order: the module's own parameters, then its children,
        # each in the order assigned (= the .slu's param order)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos = nn.Parameter(torch.randn(1, S, D) * 0.02)
        self.embed = nn.Linear(PATCH, D)
        self.blks = nn.ModuleList(encoder() for _ in range(2))      # layers 0, 2
        self.routers = nn.ModuleList(nn.Linear(D, 1) for _ in range(2))
        self.mod_blks = nn.ModuleList(encoder() for _ in range(2))  # layers 1, 3
        self.head = ClsHead(D, CLASSES)

    def tokens(self, x):
        """[B, 16, 4] -> [B, 17, D]: class token, embedded patches, + pos."""
        cls = self.cls_token.expand(len(x), -1, -1)
        return torch.cat([cls, self.embed(x)], 1) + self.pos

    def scores(self, i, h):
        """The router's score of every token, sigmoid(router(h)): [B, S]."""
        return torch.sigmoid(self.routers[i](h))[..., 0]

    def forward(self, x):
        """Batched, by gathering (training and the first check): logits,
        the chosen rows [B, K] and the gaps [B] of each mixture-of-depths
        layer."""
        h = self.tokens(x)
        idxs, gaps = [], []
        for i in range(2):
            h = self.blks[i](h)
            h, idx, gap = route_top_tokens(self.mod_blks[i], self.scores(i, h), h, K)
            idxs.append(idx)
            gaps.append(gap)
        return self.head(h), idxs, gaps

    @torch.no_grad()
    def masked(self, x):
        """Batched the other way: each mixture-of-depths layer runs on all
        17 tokens with the unchosen ones masked out of attention
        (src_key_padding_mask), and only the chosen rows of its output are
        used.  Logits and the chosen rows [B, K] per layer."""
        h = self.tokens(x)
        idxs = []
        for i in range(2):
            h = self.blks[i](h)
            s = self.scores(i, h)
            idx, _ = seqref.top_tokens(s, K)
            chosen = torch.zeros(h.shape[:2], dtype=torch.bool).scatter(1, idx, True)
            y = self.mod_blks[i](h, src_key_padding_mask=~chosen)
            h = torch.where(chosen.unsqueeze(-1), h + s.unsqueeze(-1) * (y - h), h)
            idxs.append(idx)
        return self.head(h), idxs

    @torch.no_grad()
    def alone(self, x):
        """One input [16, 4] with real selection: a mixture-of-depths layer
        computes its K chosen tokens only.  Probabilities, the chosen rows
        per layer (ascending) and the smallest K-th/(K+1)-th score gap."""
        h = self.tokens(x[None])[0]  # [17, D]
        selected, gap = OrderedDict(), float("inf")
        for i in range(2):
            h = self.blks[i](h[None])[0]
            s = torch.sigmoid(self.routers[i](h))[:, 0]  # [17]
            idx, g = seqref.top_tokens(s, K)
            xs = h[idx]                                  # [K, D], original order
            y = self.mod_blks[i](xs[None])[0]            # the K tokens alone
            h = h.clone()
            h[idx] = xs + s[idx].unsqueeze(-1) * (y - xs)
            selected[MODS[i]] = idx.tolist()
            gap = min(gap, float(g))
        return torch.softmax(self.head(h[None])[0], 0), selected, gap


def manifest():
    """The tensors the .slu reads, in order (sluicec --emit=manifest), with
    the shapes as the module saves them (cls_token [1, 1, D], pos [1, S, D];
    the .slu's vector[32] and matrix[17, 32] accept the leading 1s)."""
    def enc(p):
        return [(p + "self_attn.in_proj_weight", [3 * D, D]), (p + "self_attn.in_proj_bias", [3 * D]),
                (p + "self_attn.out_proj.weight", [D, D]), (p + "self_attn.out_proj.bias", [D]),
                (p + "linear1.weight", [D_FF, D]), (p + "linear1.bias", [D_FF]),
                (p + "linear2.weight", [D, D_FF]), (p + "linear2.bias", [D]),
                (p + "norm1.weight", [D]), (p + "norm1.bias", [D]),
                (p + "norm2.weight", [D]), (p + "norm2.bias", [D])]
    m = [("cls_token", [1, 1, D]), ("pos", [1, S, D]),
         ("embed.weight", [D, PATCH]), ("embed.bias", [D])]
    for i in range(2):
        m += enc(f"blks.{i}.")
    for i in range(2):
        m += [(f"routers.{i}.weight", [1, D]), (f"routers.{i}.bias", [1])]
    for i in range(2):
        m += enc(f"mod_blks.{i}.")
    m += [("head.norm.weight", [D]), ("head.norm.bias", [D]),
          ("head.fc.weight", [CLASSES, D]), ("head.fc.bias", [CLASSES])]
    return m


# --- FLOPs (seqref's cost model; = `sluicec --cost`) -------------------------
# Every input runs exactly K tokens through each mixture-of-depths block, so
# every input costs the same and the dense count equals it.
FLOPS_IN = seqref.dense(PATCHES, PATCH, D) + S * D         # embedding, + pos
FLOPS_PLAIN = seqref.encoder_layer(S, D, HEADS, D_FF)       # layers 0, 2
FLOPS_MOD = seqref.mod_encoder_layer(S, K, D, HEADS, D_FF)  # layers 1, 3
FLOPS_OUT = seqref.cls_head(D, CLASSES) + CLASSES           # head, softmax
FLOPS = FLOPS_IN + 2 * FLOPS_PLAIN + 2 * FLOPS_MOD + FLOPS_OUT
# the non-MoD twin: the same four layers on all 17 tokens, no routers
TWIN_FLOPS = FLOPS_IN + 4 * FLOPS_PLAIN + FLOPS_OUT


# --- training ----------------------------------------------------------------

def usage(idxs):
    """How often each position is chosen, per layer."""
    return [torch.bincount(i.reshape(-1), minlength=S).tolist() for i in idxs]


def train(data):
    Xtr, ytr = torch.from_numpy(patches(data["train"][0])), torch.from_numpy(data["train"][1])
    Xva, yva = torch.from_numpy(patches(data["val"][0])), torch.from_numpy(data["val"][1])
    net = MoDViT()
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    gen = torch.Generator().manual_seed(SEED)
    for ep in range(EPOCHS):
        net.train()
        for idx in slutil.batches(len(Xtr), 64, gen):
            logits, _, _ = net(Xtr[idx])
            loss = F.cross_entropy(logits, ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if (ep + 1) % 25 == 0:
            net.eval()
            with torch.no_grad():
                logits, idxs, gaps = net(Xva)
            acc = float((logits.argmax(1) == yva).float().mean())
            print(f"epoch {ep + 1}: loss {float(loss):.4f} val acc {acc:.3f} "
                  f"min gap {min(float(g.min()) for g in gaps):.2e} "
                  f"chosen per position {usage(idxs)}", flush=True)
    net.eval()
    return net


# --- reference ---------------------------------------------------------------

def reference(net, X):
    outs, records, min_gap = [], [], float("inf")
    for i in range(len(X)):
        p, selected, gap = net.alone(torch.from_numpy(X[i]))
        min_gap = min(min_gap, gap)
        outs.append(p.numpy().copy())
        records.append(OrderedDict([
            ("input", i), ("exit", "end"), ("flops", FLOPS), ("dense_flops", FLOPS),
            ("selected", selected), ("near_threshold", gap <= seqref.NEAR)]))
    return np.stack(outs).astype(np.float32), records, min_gap


def main():
    t_start = time.time()
    slutil.setup(SEED)
    torch.set_num_threads(THREADS)
    data = slutil.digits_split()
    net = train(data)
    t_train = time.time() - t_start

    # The state_dict as PyTorch has it: names and shapes untouched (the class
    # token [1, 1, D] and the position table [1, 17, D] included).
    sd = slutil.state_dict_f32(net)
    want = manifest()
    assert [(k, list(v.shape)) for k, v in sd.items()] == want, "state_dict != the .slu's manifest"
    slutil.save_safetensors(WEIGHTS, sd)
    w, _ = slutil.load_safetensors(WEIGHTS)
    assert [(k, list(v.shape)) for k, v in w.items()] == want
    print(f"weights: {len(w)} tensors, {sum(v.size for v in w.values())} floats")
    # the module the fixtures come from holds exactly the file's values
    net.load_state_dict(OrderedDict((k, torch.from_numpy(v.copy())) for k, v in w.items()))
    net.eval()
    print(f"flops: in {FLOPS_IN}, plain layer {FLOPS_PLAIN}, MoD layer {FLOPS_MOD}, "
          f"head {FLOPS_OUT}; total {FLOPS} (dense the same); non-MoD twin {TWIN_FLOPS} "
          f"({FLOPS / TWIN_FLOPS:.1%})")

    Xte, yte = patches(data["test"][0]), data["test"][1]
    vit = os.path.join(HERE, "..", "vit_digits", "test_x.npy")
    if os.path.exists(vit):  # the same test inputs as vit_digits
        assert np.array_equal(np.load(vit), Xte)
    outputs, records, min_gap = reference(net, Xte)
    print(f"smallest gap between an input's {K}th and {K + 1}th router scores: {min_gap:.3e} "
          f"(near_threshold at <= 1e-5): {sum(r['near_threshold'] for r in records)} inputs")

    # checks: the batch gathered (as trained) and the batch masked give the
    # same choices and outputs as each input alone
    with torch.no_grad():
        logits_g, idx_g, _ = net(torch.from_numpy(Xte))
    logits_m, idx_m = net.masked(torch.from_numpy(Xte))
    for label, logits, idxs in (("gathered", logits_g, idx_g), ("masked", logits_m, idx_m)):
        mism = [i for i, r in enumerate(records)
                if any(r["selected"][m] != idxs[j][i].tolist() for j, m in enumerate(MODS))]
        d = slutil.max_abs_diff(outputs, torch.softmax(logits, 1).numpy())
        print(f"check batched, {label}: max |alone, real selection - batched| = {d:.2e}; "
              f"{len(mism)} inputs select differently (near: "
              f"{sum(records[i]['near_threshold'] for i in mism)})")
        assert not [i for i in mism if not records[i]["near_threshold"]]
        assert d < 1e-5

    os.makedirs(os.path.join(HERE, "ref"), exist_ok=True)
    np.save(os.path.join(HERE, "test_x.npy"), Xte)
    np.save(os.path.join(HERE, "test_labels.npy"), np.asarray(yte, dtype=np.float32))
    extra = OrderedDict([
        ("k", K),
        ("selected", seqref.token_selection(records, MODS, S)),
        ("flops_parts", OrderedDict([("input", FLOPS_IN), ("plain_layer", FLOPS_PLAIN),
                                     ("mod_layer", FLOPS_MOD), ("head", FLOPS_OUT)])),
        ("twin_flops", TWIN_FLOPS),
        ("flops_vs_twin", round(FLOPS / TWIN_FLOPS, 6)),
    ])
    summary = seqref.write_ref(os.path.join(HERE, "ref"), NAME, {}, 0, yte, outputs,
                               records, extra)
    print(json.dumps(summary, indent=1))
    print("files:", json.dumps(slutil.file_sizes(HERE)))
    print(f"done in {time.time() - t_start:.1f}s (training {t_train:.1f}s)")


if __name__ == "__main__":
    main()
