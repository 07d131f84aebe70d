"""Fixtures of the sequence suite (test/seq): PyTorch's answers for each model
in Inputs/<case>/<case>.slu.

    /usr/bin/python3 test/seq/Inputs/make_fixtures.py [CASE...]

Needs PyTorch (run by hand; the tests only read what this writes). Fixed
seeds: the same files every time on the same PyTorch. Writes, per case, into
Inputs/<case>/:

  <case>.safetensors   the weights, named as the PyTorch module's state_dict
  x.npy                the inputs, [N, T, d] float32 (ids.npy [N, T] int64),
                       at the model's max tokens; what lies past an input's
                       length is padding (random numbers, or ids out of range)
  lens.npy             each input's token count, int64
  ref.npy, ref.jsonl   what a run must give: the outputs, computed in float64
                       from the float32 weights and inputs, and one record per
                       input with the ledger fields to match ("tokens", "exit",
                       "gates", "routes", "blocks"; a null field must be absent
                       from the ledger)
  ref_<run>.*          the same for a run with other thresholds (--set)

Where attention is involved the reference runs the padded batch at once with a
key_padding_mask (and for causal attention an attn_mask) and is checked
against each input run alone, so padding cannot leak into it. Every decision
(exit test, gate condition, top-k choice) is checked to be at least MARGIN away from flipping,
so float32 rounding in the compiled model cannot change it. Thresholds are
read from the .slu (their defaults) so the two cannot disagree.
"""
import json
import os
import re
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

torch.set_num_threads(2)
HERE = os.path.dirname(os.path.abspath(__file__))
MARGIN = 1e-3
f64 = torch.float64


# ---- files --------------------------------------------------------------------------

_ST_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64", np.dtype("<f2"): "F16"}


def save_safetensors(path, tensors):
    """Write name -> numpy array (float32, int64 or float16, kept as given)."""
    header = OrderedDict()
    blobs = []
    off = 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        a = a.astype(a.dtype.newbyteorder("<"))
        raw = a.tobytes()
        header[name] = OrderedDict([("dtype", _ST_DTYPES[a.dtype]), ("shape", list(a.shape)),
                                    ("data_offsets", [off, off + len(raw)])])
        blobs.append(raw)
        off += len(raw)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def state(module, keep_int=False):
    """A module's state_dict as numpy: floats as float32, integers (BatchNorm's
    num_batches_tracked) as int64 when keep_int, else dropped."""
    out = OrderedDict()
    for k, v in module.state_dict().items():
        if v.is_floating_point():
            out[k] = v.detach().to(torch.float32).numpy()
        elif keep_int:
            out[k] = v.detach().numpy().astype(np.int64)
    return out


def case_dir(case):
    d = os.path.join(HERE, case)
    os.makedirs(d, exist_ok=True)
    return d


def save(case, name, a):
    np.save(os.path.join(case_dir(case), name), a)


def save_inputs(case, x, lens):
    """The padded inputs and each one's token count."""
    save(case, "x.npy", x)
    save(case, "lens.npy", np.array(lens, np.int64))


def write_ref(case, outs, recs, run="ref"):
    outs = np.stack([np.asarray(o, np.float64) for o in outs]).astype(np.float32)
    save(case, run + ".npy", outs)
    with open(os.path.join(case_dir(case), run + ".jsonl"), "w") as f:
        for i, r in enumerate(recs):
            f.write(json.dumps(OrderedDict([("input", i)] + list(r.items()))) + "\n")


def threshold(case, name):
    """The default of `threshold NAME = v` in the case's .slu."""
    src = open(os.path.join(HERE, case, case + ".slu")).read()
    m = re.search(r"threshold\s+%s\s*=\s*(-?[0-9.eE+-]+)" % re.escape(name), src)
    return float(m.group(1))


def decide(v, thr, what):
    """`v >= thr` (or `v > thr`: the same here), refusing a value too close to
    the threshold."""
    v = float(v)
    assert abs(v - thr) > MARGIN, "%s: %.6f is too close to the threshold %g" % (what, v, thr)
    return v >= thr


def padded(seqs, T, pad):
    """[N, T, ...] float32: each sequence, then `pad(shape)` after its end."""
    N = len(seqs)
    shape = (N, T) + seqs[0].shape[1:]
    x = pad(shape).astype(np.float32)
    for i, s in enumerate(seqs):
        x[i, :len(s)] = s
    return x


def rand_seqs(g, lens, d):
    return [g.standard_normal((n, d)).astype(np.float32) for n in lens]


def t64(a):
    return torch.from_numpy(np.asarray(a)).to(f64)


def close(a, b, what, tol=1e-5):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    err = np.abs(a - b).max()
    assert err <= tol * (1 + np.abs(b).max()), "%s: differ by %g" % (what, err)


def rec(n=None, exit="end", **kw):
    r = OrderedDict()
    r["tokens"] = n
    r["exit"] = exit
    r.update(kw)
    return r


# ---- attention --------------------------------------------------------------------


def mha_padded(att, x, lens, causal):
    """The padded batch at once, with key_padding_mask (and the causal mask);
    returns each input's real rows."""
    N, T = x.shape[:2]
    pad = torch.arange(T)[None, :] >= torch.tensor(lens)[:, None]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if causal else None
    with torch.no_grad():
        a = att(x, x, x, key_padding_mask=pad, attn_mask=mask, need_weights=False)[0]
    return [a[i, :n] for i, n in enumerate(lens)]


def mha_alone(att, s, causal):
    n = s.shape[0]
    mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1) if causal else None
    with torch.no_grad():
        return att(s[None], s[None], s[None], attn_mask=mask, need_weights=False)[0][0]


def attention_case(case, d, heads, tmax, lens, causal, seed):
    torch.manual_seed(seed)
    g = np.random.default_rng(seed)
    att = nn.MultiheadAttention(d, heads, batch_first=True).eval()
    with torch.no_grad():  # biases are zero at init: give them values
        att.in_proj_bias.normal_(0, 0.5)
        att.out_proj.bias.normal_(0, 0.5)
    sd = state(att)
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"),
                     OrderedDict(("att." + k, v) for k, v in sd.items()))
    seqs = [s * 2 for s in rand_seqs(g, lens, d)]  # scores spread: sharper softmaxes
    x = padded(seqs, tmax, lambda sh: g.standard_normal(sh) * 3)
    att64 = att.to(f64)
    rows = mha_padded(att64, t64(x), lens, causal)
    outs = []
    for i, a in enumerate(rows):
        close(a, mha_alone(att64, t64(seqs[i]), causal), "%s input %d alone" % (case, i))
        outs.append(torch.cat([a.mean(0), a.max(0).values, a[0], a[-1]]).numpy())
    save_inputs(case, x, lens)
    write_ref(case, outs, [rec(n) for n in lens])


def make_attn():
    attention_case("attn", 12, 3, 8, [8, 1, 3, 5, 8, 2, 7, 1, 4, 6], False, 101)


def make_causal():
    attention_case("causal", 8, 4, 9, [9, 1, 2, 6, 9, 4, 1, 7, 3, 5], True, 102)


def make_long():
    case = "long"
    torch.manual_seed(113)
    g = np.random.default_rng(113)
    att = nn.MultiheadAttention(20, 1, batch_first=True).eval()
    catt = nn.MultiheadAttention(20, 2, batch_first=True).eval()
    with torch.no_grad():
        for m in (att, catt):
            m.in_proj_bias.normal_(0, 0.5)
            m.out_proj.bias.normal_(0, 0.5)
    sd = OrderedDict(("att." + k, v) for k, v in state(att).items())
    sd.update(("catt." + k, v) for k, v in state(catt).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    lens = [70, 1, 17, 33, 64, 65]
    seqs = [s * 2 for s in rand_seqs(g, lens, 20)]
    x = padded(seqs, 70, lambda sh: g.standard_normal(sh) * 3)
    att, catt = att.to(f64), catt.to(f64)
    rows = mha_padded(att, t64(x), lens, False)
    crows = mha_padded(catt, t64(x), lens, True)
    outs = []
    for i, (a, c) in enumerate(zip(rows, crows)):
        close(a, mha_alone(att, t64(seqs[i]), False), "long input %d alone" % i)
        close(c, mha_alone(catt, t64(seqs[i]), True), "long input %d alone, causal" % i)
        outs.append(torch.cat([a.mean(0), a.max(0).values, a[-1],
                               c.mean(0), c.max(0).values, c[-1]]).numpy())
    save_inputs(case, x, lens)
    write_ref(case, outs, [rec(n) for n in lens])


# ---- embedding --------------------------------------------------------------------


def make_embed():
    case = "embed"
    torch.manual_seed(103)
    g = np.random.default_rng(103)
    emb = nn.Embedding(20, 8)
    fc = nn.Linear(8, 8)
    sd = OrderedDict([("emb.weight", state(emb)["weight"])])
    sd.update(("fc." + k, v) for k, v in state(fc).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    lens = [10, 1, 4, 7, 2, 10, 5, 3]
    T = 10
    ids = g.integers(0, 20, (len(lens), T)).astype(np.int64)
    for i, n in enumerate(lens):  # padding: ids no table holds
        ids[i, n:] = [-1, 20, 99, -1000][i % 4]
    ids[0, 0], ids[1, 0], ids[3, 6] = 0, 19, 19  # the table's ends
    emb64, fc64 = emb.to(f64), fc.to(f64)
    outs = []
    with torch.no_grad():
        for i, n in enumerate(lens):
            t = torch.from_numpy(ids[i, :n])
            h = fc64(emb64(t))
            outs.append(torch.cat([h.mean(0), h[0], h[-1], emb64(t[-1]), emb64.weight[3]]).numpy())
    save(case, "ids.npy", ids)
    save(case, "lens.npy", np.array(lens, np.int64))
    write_ref(case, outs, [rec(n) for n in lens])
    bad = ids.copy()
    bad[2, 3] = 20  # a real token (input 2 has 4)
    save(case, "ids_bad.npy", bad)


# ---- batch norm and the loader ----------------------------------------------------


def make_bnorm():
    case = "bnorm"
    torch.manual_seed(104)
    g = np.random.default_rng(104)
    bn = nn.BatchNorm1d(6)
    with torch.no_grad():
        bn.weight.normal_()
        bn.bias.normal_()
    bn.train()
    for _ in range(3):  # running statistics and num_batches_tracked as training leaves them
        bn(torch.randn(32, 6) * torch.rand(6) * 3 + torch.randn(6))
    bn.eval()
    shift = nn.Parameter(torch.randn(1, 1, 6))
    sd = OrderedDict(("bn." + k, v) for k, v in state(bn, keep_int=True).items())
    assert sd["bn.num_batches_tracked"].dtype == np.int64 and sd["bn.num_batches_tracked"] == 3
    sd["shift"] = shift.detach().numpy()
    d = case_dir(case)
    save_safetensors(os.path.join(d, case + ".safetensors"), sd)
    flat = OrderedDict(sd)
    flat["shift"] = sd["shift"].reshape(6)
    save_safetensors(os.path.join(d, "shift_flat.safetensors"), flat)
    bad = OrderedDict(sd)
    bad["shift"] = np.concatenate([sd["shift"], sd["shift"]])  # [2, 1, 6]
    save_safetensors(os.path.join(d, "shift_2x1x6.safetensors"), bad)
    lens = [7, 2, 4, 5, 3, 7, 6, 2]
    seqs = [s * 2 + 1 for s in rand_seqs(g, lens, 6)]
    x = padded(seqs, 7, lambda sh: g.standard_normal(sh) * 100)
    bn64 = bn.to(f64)
    outs = []
    with torch.no_grad():
        for s in seqs:
            h = bn64(t64(s)) + shift.detach().to(f64)[0]
            outs.append(torch.cat([h.mean(0), h.max(0).values]).numpy())
    save_inputs(case, x, lens)
    write_ref(case, outs, [rec(n) for n in lens])


# ---- class token, position table, slices ------------------------------------------


def make_clspos():
    case = "clspos"
    torch.manual_seed(105)
    g = np.random.default_rng(105)

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.embed = nn.Linear(4, 8)
            s.cls_token = nn.Parameter(torch.randn(1, 1, 8))
            s.pos_embed = nn.Parameter(torch.randn(1, 7, 8))
            s.norm = nn.LayerNorm(8)

    m = M().eval()
    with torch.no_grad():
        m.norm.weight.normal_(1, 0.3)
        m.norm.bias.normal_(0, 0.3)
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), state(m))
    lens = [6, 1, 2, 4, 6, 3, 5, 1]
    seqs = rand_seqs(g, lens, 4)
    x = padded(seqs, 6, lambda sh: g.standard_normal(sh))
    m = m.to(f64)
    outs = []
    with torch.no_grad():
        for s in seqs:
            n = len(s)
            h = torch.cat([m.cls_token[0], m.embed(t64(s))]) + m.pos_embed[0, :n + 1]
            h = m.norm(h)
            outs.append(torch.cat([h[0], h[1:].mean(0), h[-1], h[1]]).numpy())
    save_inputs(case, x, lens)
    write_ref(case, outs, [rec(n) for n in lens])


# ---- pooling, attention pooling, per-token gates ----------------------------------


def make_pool():
    case = "pool"
    torch.manual_seed(106)
    g = np.random.default_rng(106)
    score, gate = nn.Linear(6, 1), nn.Linear(6, 1)
    sd = OrderedDict(("score." + k, v) for k, v in state(score).items())
    sd.update(("gatefc." + k, v) for k, v in state(gate).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    lens = [7, 1, 3, 5, 2, 7, 4, 6, 1]
    seqs = [s * 2 for s in rand_seqs(g, lens, 6)]
    x = padded(seqs, 7, lambda sh: g.standard_normal(sh) * 50)
    score, gate = score.to(f64), gate.to(f64)
    outs = []
    with torch.no_grad():
        for s in seqs:
            x_ = t64(s)
            sc = torch.softmax(score(x_)[:, 0], 0)
            a = (x_ * sc[:, None]).sum(0)
            gg = torch.sigmoid(gate(x_)[:, 0])
            hg = x_ * gg[:, None]
            r = x_.max(1).values
            outs.append(torch.cat([x_.mean(0), x_.max(0).values, x_.sum(0), a, hg.mean(0),
                                   sc.max()[None], r.mean()[None], r.sum()[None],
                                   gg.mean()[None], torch.softmax(x_, 1)[-1]]).numpy())
    save_inputs(case, x, lens)
    write_ref(case, outs, [rec(n) for n in lens])


# ---- columns, literals, top-k block mask -----------------------------------------


def make_cols():
    case = "cols"
    torch.manual_seed(107)
    g = np.random.default_rng(107)
    v = torch.randn(2)
    fc = nn.Linear(12, 6)
    sd = OrderedDict([("v", v.numpy())])
    sd.update(("fc." + k, a) for k, a in state(fc).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    lit = torch.tensor([1.0, -1.0, 0.5, 2.0, 1.0, -0.5, 1.5, -1.0, 1.0, 0.25, 1.0, -1.0], dtype=f64)
    fc = fc.to(f64)
    v = v.to(f64)
    lens = [6, 2, 3, 5, 4, 6, 2, 3, 5, 4, 6, 2]
    outs, recs, seqs = [], [], []
    chosen = set()
    k = 0
    while len(seqs) < len(lens):  # inputs whose top-2 choice is clear
        n = lens[len(seqs)]
        s = (g.standard_normal((n, 8)) * 1.5).astype(np.float32)
        k += 1
        x_ = t64(s)
        cf = torch.cat([x_[:, 1:4] - 1, v.expand(n, 2), x_[:, 6:8]], 1)
        z = torch.cat([cf.mean(0), x_[1:, 5:].max(0).values, x_[:, 2].sum()[None], x_[-1, 0][None]])
        z = z * lit + 0 + 0.5
        sc = torch.stack([z[0:4].sum(), z[4:8].sum(), z[8:12].sum()])
        srt = torch.sort(sc, descending=True).values
        if min(srt[0] - srt[1], srt[1] - srt[2]) <= MARGIN * 10:
            continue
        top = torch.sort(sc, descending=True, stable=True).indices[:2].tolist()
        mask = [1 if b in top else 0 for b in range(3)]
        chosen.add(tuple(mask))
        with torch.no_grad():
            y = fc(z)
        out = torch.zeros(6, dtype=f64)
        for b in top:
            out[2 * b:2 * b + 2] = y[2 * b:2 * b + 2]
        seqs.append(s)
        outs.append(out.numpy())
        recs.append(rec(n, blocks={"fc": mask}))
    assert len(chosen) == 3, chosen  # every pair of blocks is chosen by some input
    x = padded(seqs, 6, lambda sh: np.full(sh, np.nan))
    save_inputs(case, x, lens)
    write_ref(case, outs, recs)


# ---- a list in a loop, exits after each layer -------------------------------------


def make_loop():
    case = "loop"
    torch.manual_seed(108)
    g = np.random.default_rng(108)

    class Block(nn.Module):
        def __init__(s):
            super().__init__()
            s.fc1, s.fc2, s.norm = nn.Linear(6, 12), nn.Linear(12, 6), nn.LayerNorm(6)

        def forward(s, x):
            return s.norm(x + s.fc2(torch.relu(s.fc1(x))))

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.stages = nn.ModuleList([Block() for _ in range(3)])
            s.heads = nn.ModuleList([nn.Linear(6, 4) for _ in range(3)])
            s.final = nn.Linear(6, 4)

    m = M().eval()
    with torch.no_grad():
        for h in m.heads:
            h.weight.mul_(4)
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), state(m))
    m = m.to(f64)
    lens = [8, 1, 3, 5, 8, 2, 7, 4, 6, 1, 3, 8, 5, 2]
    seqs = [s * 2 for s in rand_seqs(g, lens, 6)]
    x = padded(seqs, 8, lambda sh: g.standard_normal(sh))
    save_inputs(case, x, lens)

    def run(conf):
        outs, recs = [], []
        with torch.no_grad():
            for i, s in enumerate(seqs):
                h = t64(s)
                for k in range(3):
                    h = m.stages[k](h)
                    p = torch.softmax(m.heads[k](h.mean(0)), 0)
                    if decide(p.max(), conf, "loop input %d exit%d" % (i, k)):
                        outs.append(p.numpy())
                        recs.append(rec(len(s), "exit%d" % k))
                        break
                else:
                    outs.append(torch.softmax(m.final(h[-1]), 0).numpy())
                    recs.append(rec(len(s)))
        return outs, recs

    conf = threshold(case, "conf")
    outs, recs = run(conf)
    assert {r["exit"] for r in recs} == {"exit0", "exit1", "exit2", "end"}, recs
    write_ref(case, outs, recs)
    outs, recs = run(0.9)
    write_ref(case, outs, recs, "ref_conf0.9")
    outs, recs = run(2.0)
    write_ref(case, outs, recs, "ref_conf2")


# ---- thresholds and an exit inside a layer ----------------------------------------


def make_lexit():
    case = "lexit"
    torch.manual_seed(109)
    g = np.random.default_rng(109)

    class Stage(nn.Module):
        def __init__(s):
            super().__init__()
            s.fc, s.head = nn.Linear(5, 5), nn.Linear(5, 3)

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.blocks = nn.ModuleList([Stage() for _ in range(3)])
            s.final = nn.Linear(5, 3)

    m = M().eval()
    with torch.no_grad():
        for b in m.blocks:
            b.head.weight.mul_(3)
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), state(m))
    m = m.to(f64)
    lens = [6, 1, 3, 5, 2, 6, 4, 1, 3, 5, 2, 4, 6, 3]
    seqs = [s * 1.5 for s in rand_seqs(g, lens, 5)]
    x = padded(seqs, 6, lambda sh: np.full(sh, np.inf))
    save_inputs(case, x, lens)

    def run(ts):
        outs, recs = [], []
        with torch.no_grad():
            for i, s in enumerate(seqs):
                h = t64(s)
                for k, b in enumerate(m.blocks):
                    h = h + torch.tanh(b.fc(h))
                    p = torch.softmax(b.head(h[0]), 0)
                    if decide(p.max(), ts[k], "lexit input %d exit%d" % (i, k)):
                        outs.append(p.numpy())
                        recs.append(rec(len(s), "exit%d" % k))
                        break
                else:
                    outs.append(torch.softmax(m.final(h.max(0).values), 0).numpy())
                    recs.append(rec(len(s)))
        return outs, recs

    t = threshold(case, "t")
    outs, recs = run([t, t, t])
    assert {r["exit"] for r in recs} == {"exit0", "exit1", "exit2", "end"}, recs
    write_ref(case, outs, recs)
    write_ref(case, *run([t, 0.0, t]), "ref_t1_0")
    write_ref(case, *run([t, 1.5, t]), "ref_t1_1.5")


# ---- a gate and a route on sequences ------------------------------------------------


def make_gateroute():
    case = "gateroute"
    torch.manual_seed(114)
    g = np.random.default_rng(114)
    att = nn.MultiheadAttention(4, 2, batch_first=True).eval()
    ex = [nn.Linear(4, 4) for _ in range(3)]
    r, proj = nn.Linear(4, 3), nn.Linear(4, 4)
    with torch.no_grad():
        r.weight.mul_(3)
    sd = OrderedDict(("att." + k, v) for k, v in state(att).items())
    for i, e in enumerate(ex):
        sd.update(("ex.%d.fc.%s" % (i, k), v) for k, v in state(e).items())
    sd.update(("r." + k, v) for k, v in state(r).items())
    sd.update(("proj." + k, v) for k, v in state(proj).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    att, r, proj = att.to(f64), r.to(f64), proj.to(f64)
    ex = [e.to(f64) for e in ex]
    lens = [6, 1, 2, 3, 5, 4, 6, 2, 1, 3, 5, 4]
    seqs = rand_seqs(g, lens, 4)
    outs, recs = [], []
    with torch.no_grad():
        for i, s in enumerate(seqs):
            h = t64(s)
            n = len(s)
            then = decide(h.mean(), 0.0, "gateroute input %d gate0" % i)
            if then:
                h = h + mha_alone(att, h, True)
            else:
                h = proj(h)
            sc = r(h.mean(0))
            srt = torch.sort(sc, descending=True).values
            assert srt[1] - srt[2] > MARGIN and srt[0] - srt[1] > MARGIN, (i, sc)
            top = torch.sort(sc, descending=True, stable=True).indices[:2].tolist()
            w = torch.softmax(sc[top], 0)
            h = sum(w[j] * torch.relu(ex[top[j]](h)) for j in range(2))
            outs.append(h.max(0).values.numpy())
            recs.append(rec(n, gates={"gate0": int(then)}, routes={"ex": top}))
    assert {r["gates"]["gate0"] for r in recs} == {0, 1}
    assert len({tuple(r["routes"]["ex"]) for r in recs}) >= 3, recs
    x = padded(seqs, 6, lambda sh: np.full(sh, np.nan))
    save_inputs(case, x, lens)
    write_ref(case, outs, recs)


# ---- a matrix of fixed length -----------------------------------------------------


def make_fixed():
    case = "fixed"
    torch.manual_seed(110)
    g = np.random.default_rng(110)

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.fc = nn.Linear(8, 8)
            s.att = nn.MultiheadAttention(8, 2, batch_first=True)
            s.cls = nn.Linear(8, 3)

    m = M().eval()
    with torch.no_grad():
        m.att.in_proj_bias.normal_(0, 0.5)
        m.att.out_proj.bias.normal_(0, 0.5)
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), state(m))
    m = m.to(f64)
    x = g.standard_normal((6, 16, 8)).astype(np.float32)
    with torch.no_grad():
        h = m.fc(t64(x))
        h = h + m.att(h, h, h, need_weights=False)[0]
        y = torch.cat([torch.softmax(m.cls(h.mean(1)), 1), h[:, -1], h[:, 3:6, 0]], 1)
    save(case, "x.npy", x)
    write_ref(case, list(y.numpy()), [rec(None) for _ in range(6)])


# ---- from: state_dict keys of another shape --------------------------------------


def make_prefix():
    case = "prefix"
    torch.manual_seed(111)
    g = np.random.default_rng(111)

    class MLP(nn.Module):
        def __init__(s):
            super().__init__()
            s.lin = nn.Sequential(nn.Linear(6, 10), nn.ReLU(), nn.Linear(10, 6))

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.blocks = nn.ModuleList([MLP(), MLP()])
            s.gate = nn.Linear(6, 2)
            s.encoder = nn.Module()
            s.encoder.layers = nn.ModuleList([nn.LayerNorm(6)])
            s.head = nn.Linear(6, 6)

    m = M().eval()
    with torch.no_grad():
        m.encoder.layers[0].weight.normal_(1, 0.3)
        m.encoder.layers[0].bias.normal_(0, 0.3)
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), state(m))
    m = m.to(f64)
    t = threshold(case, "t")
    lens = [5, 1, 3, 2, 5, 4, 1]
    seqs = rand_seqs(g, lens, 6)
    x = padded(seqs, 5, lambda sh: g.standard_normal(sh))

    def run(ts):
        outs = []
        with torch.no_grad():
            for s in seqs:
                h = t64(s)
                for b, t in zip(m.blocks, ts):
                    h = h + b.lin(h) * t
                h = m.encoder.layers[0](h)
                gg = torch.softmax(m.gate(h.mean(0)), 0)
                outs.append(m.head(h.mean(0) * gg[0] + h.max(0).values * gg[1]).numpy())
        return outs

    save_inputs(case, x, lens)
    write_ref(case, run([t, t]), [rec(n) for n in lens])
    write_ref(case, run([t, -1.0]), [rec(n) for n in lens], "ref_t1_-1")


# ---- a small encoder: the C API and batch invariance -------------------------------


def make_enc():
    case = "enc"
    torch.manual_seed(112)
    g = np.random.default_rng(112)

    class M(nn.Module):
        def __init__(s):
            super().__init__()
            s.embed = nn.Linear(4, 8)
            s.cls_token = nn.Parameter(torch.randn(1, 1, 8))
            s.pos_embed = nn.Parameter(torch.randn(1, 7, 8))
            s.layers = nn.ModuleList([nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                                 batch_first=True)
                                      for _ in range(2)])
            s.heads = nn.ModuleList([nn.Linear(8, 3) for _ in range(2)])

    m = M().eval()
    with torch.no_grad():
        for h in m.heads:
            h.weight.mul_(3)
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), state(m))
    m = m.to(f64)
    lens = [6, 1, 3, 5, 2, 6, 4, 1, 3, 5, 2, 4]
    N, T = len(lens), 6
    seqs = rand_seqs(g, lens, 4)
    x = padded(seqs, T, lambda sh: g.standard_normal(sh) * 10)
    conf = threshold(case, "conf")
    with torch.no_grad():
        # The padded batch at once: class token, positions, the layers with a
        # key_padding_mask, a head on the class token after each.
        xb = t64(x)
        h = torch.cat([m.cls_token.expand(N, 1, 8), m.embed(xb)], 1) + m.pos_embed[:, :T + 1]
        pad = torch.arange(T + 1)[None, :] >= torch.tensor(lens)[:, None] + 1
        ps, hs = [], []
        for k, layer in enumerate(m.layers):
            h = layer(h, src_key_padding_mask=pad)
            hs.append(h)
            ps.append(torch.softmax(m.heads[k](h[:, 0]), 1))
        outs, recs = [], []
        for i, n in enumerate(lens):
            # the same input alone
            hi = torch.cat([m.cls_token[0], m.embed(t64(seqs[i]))]) + m.pos_embed[0, :n + 1]
            for k, layer in enumerate(m.layers):
                hi = layer(hi[None])[0]
                close(hi, hs[k][i, :n + 1], "enc input %d layer %d alone" % (i, k))
            for k in range(2):
                if decide(ps[k][i].max(), conf, "enc input %d exit%d" % (i, k)):
                    outs.append(ps[k][i].numpy())
                    recs.append(rec(n, "exit%d" % k))
                    break
            else:
                outs.append(torch.softmax(m.heads[1](hs[1][i, :n + 1].mean(0)), 0).numpy())
                recs.append(rec(n))
    assert {r["exit"] for r in recs} == {"exit0", "exit1", "end"}, recs
    save_inputs(case, x, lens)
    write_ref(case, outs, recs)


# ---- mixture of depths ------------------------------------------------------------


def top_tokens(scores, k, what):
    """The k best rows by score (ties to the lower index), in their order,
    refusing a k-th best within MARGIN of the next."""
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    if len(order) > k:
        gap = float(scores[order[k - 1]] - scores[order[k]])
        assert gap > MARGIN, "%s: the %d-th and next scores differ by %g" % (what, k, gap)
    return sorted(order[:k])


def draw_clear(g, lens, d, run):
    """Inputs of the given lengths, each drawn again while run(s, i) -> (output,
    {layer: rows}) refuses it (a choice within MARGIN of a tie); the
    sequences, outputs and records."""
    seqs, outs, recs = [], [], []
    with torch.no_grad():
        for i, n in enumerate(lens):
            while True:
                s = g.standard_normal((n, d)).astype(np.float32)
                try:
                    o, sel = run(s, i)
                    break
                except AssertionError:
                    continue
            seqs.append(s)
            outs.append(o)
            recs.append(rec(n, selected=sel))
    return seqs, outs, recs


def draw_clear_flops(g, lens, d, run):
    """draw_clear with run(s, i) -> (output, ({layer: rows}, FLOPs)): the
    records also hold each input's FLOPs."""
    flops = []

    def run_sel(s, i):
        out, (sel, f) = run(s, i)
        flops.append(f)  # after run: a refused draw raised before
        return out, sel

    seqs, outs, recs = draw_clear(g, lens, d, run_sel)
    for r, f in zip(recs, flops):
        r["flops"] = f
    return seqs, outs, recs


def save_token_exit_case(case, seqs, lens, outs, recs, last):
    """A per-token exit case's files (padded with NaN to 7 tokens), once
    its last layer `last` is seen to run on no token of some inputs and on
    some but not all of others'."""
    counts = [len(r["selected"][last]) for r in recs]
    assert 0 in counts and any(0 < c < r["tokens"] for c, r in zip(counts, recs)), counts
    x = padded(seqs, 7, lambda sh: np.full(sh, np.nan))
    save_inputs(case, x, lens)
    write_ref(case, outs, recs)


def within(budget, spent, cost, chosen):
    """The tokens a route of tokens runs its layer on under a compute budget
    (--budget): none when spent + cost would pass it."""
    return [] if budget and chosen and spent + cost > budget else chosen


def write_budget_ref(case, seqs, recs, run):
    """ref_budget.*: the same inputs with --budget BUDGET, the median of
    their FLOPs without one (plus 0.5: never a tie), written into
    Inputs/CASE/budget.txt.  run(s, i, budget) as run(s, i).  Some inputs
    must lose a layer to it, others not."""
    budget = float(np.median([r["flops"] for r in recs])) + 0.5
    outs, brecs = [], []
    with torch.no_grad():
        for i, s in enumerate(seqs):
            o, (sel, flops) = run(s, i, budget)
            outs.append(o)
            brecs.append(rec(len(s), selected=sel, flops=flops))
    changed = sum(b["selected"] != r["selected"] for b, r in zip(brecs, recs))
    assert 0 < changed < len(recs), changed
    assert all(b["flops"] <= r["flops"] for b, r in zip(brecs, recs))
    write_ref(case, outs, brecs, run="ref_budget")
    with open(os.path.join(case_dir(case), "budget.txt"), "w") as f:
        f.write("%.1f\n" % budget)


def enc_flops(k):
    """encoder_layer[8, 2, 16] on k tokens (docs/language.md, "Cost")."""
    return k * (8 * 64 + 4 * 8) + k * k * (4 * 8 + 2) + 4 * k * 8 + k * (2 * 8 * 16 + 16) \
        + k * 16 + k * (2 * 16 * 8 + 8)


def make_depth():
    case = "depth"
    torch.manual_seed(120)
    g = np.random.default_rng(120)
    blks = [nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).eval()
            for _ in range(2)]
    routers = [nn.Linear(8, 1) for _ in range(2)]
    last = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                      norm_first=True).eval()
    with torch.no_grad():
        for r in routers:
            r.weight.mul_(4)
    sd = OrderedDict()
    for i, b in enumerate(blks):
        sd.update(("blks.%d.%s" % (i, k), v) for k, v in state(b).items())
    for i, r in enumerate(routers):
        sd.update(("routers.%d.%s" % (i, k), v) for k, v in state(r).items())
    sd.update(("last." + k, v) for k, v in state(last).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    blks = [b.to(f64) for b in blks]
    routers = [r.to(f64) for r in routers]
    last = last.to(f64)
    lens = [7, 3, 5, 4, 6, 7, 3, 5, 6, 4, 7, 5]

    def run(s, i):
        h = t64(s)
        sel = OrderedDict()
        for j, blk in enumerate(blks):
            ch = top_tokens(routers[j](h)[:, 0], 3, "depth input %d blks.%d" % (i, j))
            h = h.clone()
            h[ch] = blk(h[ch][None])[0]
            sel["blks.%d" % j] = ch
        sc = torch.sigmoid(routers[1](h))[:, 0]
        ch = top_tokens(sc, 2, "depth input %d last" % i)
        out = last(h[ch][None])[0]
        h = h.clone()
        h[ch] = h[ch] + sc[ch, None] * (out - h[ch])
        sel["last"] = ch
        return torch.cat([h.mean(0), h[-1]]).numpy(), sel

    seqs, outs, recs = draw_clear(g, lens, 8, run)
    assert len({tuple(r["selected"]["blks.0"]) for r in recs}) >= 4, recs
    x = padded(seqs, 7, lambda sh: np.full(sh, np.nan))
    save_inputs(case, x, lens)
    write_ref(case, outs, recs)


def make_where():
    """route LAYER(h) tokens where C: each layer on the tokens where its
    condition holds, however many (none: skipped), gathered in order; a
    per-token early exit (a token stays live while no head is confident)."""
    case = "where"
    torch.manual_seed(122)
    g = np.random.default_rng(122)
    blks = [nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).eval()
            for _ in range(2)]
    routers = [nn.Linear(8, 1) for _ in range(2)]
    heads = [nn.Linear(8, 4) for _ in range(2)]
    proj = nn.Linear(8, 8)
    with torch.no_grad():
        for r in routers:
            r.weight.mul_(4)
        for hd in heads:
            hd.weight.mul_(3)
    sd = OrderedDict()
    for name, ms in (("blks", blks), ("routers", routers), ("heads", heads)):
        for i, m in enumerate(ms):
            sd.update(("%s.%d.%s" % (name, i, k), v) for k, v in state(m).items())
    sd.update(("proj." + k, v) for k, v in state(proj).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    blks = [b.to(f64) for b in blks]
    routers = [r.to(f64) for r in routers]
    heads = [hd.to(f64) for hd in heads]
    proj = proj.to(f64)
    t = threshold(case, "t")
    lens = [7, 3, 5, 4, 6, 7, 3, 5, 6, 4, 7, 5, 7, 6, 4, 5]

    def run(s, i, budget=None):
        h = t64(s)
        n = len(s)
        what = "where input %d" % i
        # FLOPs in the order they run: routers.0, sigmoid, > 0.3; per layer
        # its choosing, the layer, heads.j, softmax, max, < t, and; routers.1,
        # > 0, the choosing, proj; pool_mean over 8 columns.  A layer that
        # would take the input past its budget chooses no token.
        flops = 19 * n
        live = [decide(v, 0.3, what + " live") for v in torch.sigmoid(routers[0](h))[:, 0]]
        sel = OrderedDict()
        for j, blk in enumerate(blks):
            ch = [q for q in range(n) if live[q]]
            flops += n
            ch = within(budget, flops, enc_flops(len(ch)), ch)
            if ch:
                h = h.clone()
                h[ch] = blk(h[ch][None])[0]
            sel["blks.%d" % j] = ch
            flops += enc_flops(len(ch)) + 78 * n
            conf = torch.softmax(heads[j](h), -1).max(-1).values
            live = [live[q] and not decide(conf[q], t, what + " head %d" % j) for q in range(n)]
        ch = [q for q in range(n) if decide(routers[1](h)[q, 0], 0.0, what + " proj")]
        flops += 19 * n
        ch = within(budget, flops, len(ch) * (2 * 8 * 8 + 8), ch)
        if ch:
            h = h.clone()
            h[ch] = proj(h[ch])
        sel["proj"] = ch
        flops += len(ch) * (2 * 8 * 8 + 8) + 8 * n
        return torch.cat([h.mean(0), h[-1]]).numpy(), (sel, flops)

    seqs, outs, recs = draw_clear_flops(g, lens, 8, run)
    save_token_exit_case(case, seqs, lens, outs, recs, "blks.1")
    write_budget_ref(case, seqs, recs, run)


def make_calm():
    """route LAYER(h) tokens where C attending all: each layer's result kept
    at the tokens where its condition holds, the layer run on the whole
    sequence (the others at their frozen state), so the live tokens attend
    to every token: a per-token early exit whose exited tokens stay in view
    (CALM's state propagation).  One post-norm layer, two pre-norm."""
    case = "calm"
    torch.manual_seed(123)
    g = np.random.default_rng(123)
    post = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).eval()
    pre = [nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True,
                                      norm_first=True).eval() for _ in range(2)]
    router, head0 = nn.Linear(8, 1), nn.Linear(8, 4)
    heads = [nn.Linear(8, 4) for _ in range(2)]
    with torch.no_grad():
        router.weight.mul_(4)
        for hd in [head0] + heads:
            hd.weight.mul_(3)
    sd = OrderedDict()
    for name, m in (("post", post), ("router", router), ("head0", head0)):
        sd.update(("%s.%s" % (name, k), v) for k, v in state(m).items())
    for name, ms in (("pre", pre), ("heads", heads)):
        for i, m in enumerate(ms):
            sd.update(("%s.%d.%s" % (name, i, k), v) for k, v in state(m).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    post, router, head0 = post.to(f64), router.to(f64), head0.to(f64)
    pre = [b.to(f64) for b in pre]
    heads = [hd.to(f64) for hd in heads]
    t = threshold(case, "t")
    lens = [7, 3, 5, 4, 6, 7, 3, 5, 6, 4, 7, 5, 7, 6, 4, 5]

    # encoder_layer[8, 2, 16] on K chosen of T tokens (docs/language.md,
    # "Cost"): k, v of every token (2*8*16 + 16), the chosen tokens' q and
    # outputs (2*8*8 + 8 each) and K*T pairs (4*8 + 2); per chosen token the
    # rest (2 adds, 2 layer norms: 8 each; linear1 272, relu 16, linear2
    # 264); pre-norm: norm1 on every token (8)
    def layer_flops(k, n, pre_norm):
        if k == 0:
            return 0
        rest = 8 * 4 + 272 + 16 + 264
        attn = 272 * n + 2 * 136 * k + 34 * k * n
        return attn + (rest - 8) * k + 8 * n if pre_norm else attn + rest * k

    def run(s, i, budget=None):
        h = t64(s)
        n = len(s)
        what = "calm input %d" % i
        # FLOPs in the order they run: router, sigmoid, > 0.3; per layer its
        # choosing, the layer, its head, softmax, max, < t, and; pool_mean.
        # A layer that would take the input past its budget chooses none.
        flops = 19 * n
        live = [decide(v, 0.3, what + " live") for v in torch.sigmoid(router(h))[:, 0]]
        sel = OrderedDict()
        for j, (name, blk, head) in enumerate((("post", post, head0), ("pre.0", pre[0], heads[0]),
                                              ("pre.1", pre[1], heads[1]))):
            ch = [q for q in range(n) if live[q]]
            flops += n
            ch = within(budget, flops, layer_flops(len(ch), n, j > 0), ch)
            if ch:
                out = blk(h[None])[0]  # the whole sequence, the others frozen
                h = h.clone()
                h[ch] = out[ch]
            sel[name] = ch
            flops += layer_flops(len(ch), n, j > 0) + 78 * n
            conf = torch.softmax(head(h), -1).max(-1).values
            live = [live[q] and not decide(conf[q], t, what + " head %d" % j) for q in range(n)]
        flops += 8 * n
        return torch.cat([h.mean(0), h[-1]]).numpy(), (sel, flops)

    seqs, outs, recs = draw_clear_flops(g, lens, 8, run)
    save_token_exit_case(case, seqs, lens, outs, recs, "pre.1")
    write_budget_ref(case, seqs, recs, run)


class MoEEncoder(nn.Module):
    """calmmoe.slu's moe_encoder[8, 2, 3, 16]: post-norm, the feed-forward a
    top-2 mixture of 3 experts (mlp: fc1, ReLU, fc2), each token routed on
    its own: the 2 best scores (ties to the lower index), softmax over those
    2, the weighted sum."""

    def __init__(self):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.norm1 = nn.LayerNorm(8)
        self.router = nn.Linear(8, 3)
        self.experts = nn.ModuleList(nn.ModuleDict(OrderedDict(
            [("fc1", nn.Linear(8, 16)), ("fc2", nn.Linear(16, 8))])) for _ in range(3))
        self.norm2 = nn.LayerNorm(8)

    def forward(self, h, rows, what):
        """h [n, 8] -> [n, 8], and the experts of each of `rows` (only those
        rows are routed: the others' are not needed)."""
        a = self.self_attn(h[None], h[None], h[None], need_weights=False)[0][0]
        h1 = self.norm1(h + a)
        s = self.router(h1)
        moe = torch.zeros_like(h1)
        routes = []
        for t in rows:
            order = sorted(range(3), key=lambda j: (-float(s[t, j]), j))
            assert float(s[t, order[1]] - s[t, order[2]]) > MARGIN, what + " route"
            ch = order[:2]
            w = torch.softmax(s[t, ch], 0)
            for wj, j in zip(w, ch):
                e = self.experts[j]
                moe[t] += wj * e["fc2"](torch.relu(e["fc1"](h1[t])))
            routes.append(ch)
        return self.norm2(h1 + moe), routes


def make_calmmoe():
    """attending all around MoE encoder layers: each layer run on the whole
    sequence, kept at the live tokens; only the live tokens are routed."""
    case = "calmmoe"
    torch.manual_seed(125)
    g = np.random.default_rng(125)
    blks = [MoEEncoder().eval() for _ in range(2)]
    router = nn.Linear(8, 1)
    heads = [nn.Linear(8, 4) for _ in range(2)]
    with torch.no_grad():
        router.weight.mul_(4)
        for hd in heads:
            hd.weight.mul_(3)
    sd = OrderedDict()
    for i, b in enumerate(blks):
        sd.update(("blks.%d.%s" % (i, k), v) for k, v in state(b).items())
    sd.update(("router." + k, v) for k, v in state(router).items())
    for i, hd in enumerate(heads):
        sd.update(("heads.%d.%s" % (i, k), v) for k, v in state(hd).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    blks = [b.to(f64) for b in blks]
    router = router.to(f64)
    heads = [hd.to(f64) for hd in heads]
    t = threshold(case, "t")
    lens = [7, 3, 5, 4, 6, 7, 3, 5, 6, 4, 7, 5, 7, 6, 4, 5]

    def run(s, i):
        h = t64(s)
        n = len(s)
        what = "calmmoe input %d" % i
        # outside the routes, per token: router, sigmoid, > 0.3; per layer
        # its choosing, its head, softmax, max, < t, and; pool_mean.  A
        # layer on K of T: k, v of every token (272), per chosen token q and
        # the output (272), 2 adds and 2 norms (32), the router (51), the
        # route itself (3 + 2 + 2*8*2) and 2 experts of 552; K*T pairs (34)
        flops = 19 * n + 2 * (n + 68 * n + 4 * n + 4 * n + 2 * n) + 8 * n
        live = [decide(v, 0.3, what + " live") for v in torch.sigmoid(router(h))[:, 0]]
        sel, routes = OrderedDict(), OrderedDict()
        for j, blk in enumerate(blks):
            ch = [q for q in range(n) if live[q]]
            out, r = blk(h, ch, what + " layer %d" % j)
            if ch:
                h = h.clone()
                h[ch] = out[ch]
                flops += 272 * n + 34 * len(ch) * n + len(ch) * (272 + 32 + 51 + 37 + 2 * 552)
            sel["blks.%d" % j] = ch
            routes["blks.%d.experts" % j] = r if ch else None
            conf = torch.softmax(heads[j](h), -1).max(-1).values
            live = [live[q] and not decide(conf[q], t, what + " head %d" % j) for q in range(n)]
        run.routes.append(routes)
        return torch.cat([h.mean(0), h[-1]]).numpy(), (sel, flops)
    run.routes = []

    seqs, outs, recs = draw_clear_flops(g, lens, 8, run)
    for r, routes in zip(recs, run.routes[-len(recs):]):
        r["routes"] = routes
    save_token_exit_case(case, seqs, lens, outs, recs, "blks.1")


# ---- token selection --------------------------------------------------------------


def select_setup(case, seed, scale):
    """The token-selection cases' model: an encoder layer, a score, an
    encoder layer, a score (the scores' weights times `scale`), saved; the
    inputs' generator and the modules in float64."""
    torch.manual_seed(seed)
    g = np.random.default_rng(seed)
    enc, after = [nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True).eval()
                  for _ in range(2)]
    score, score2 = nn.Linear(8, 1), nn.Linear(8, 1)
    with torch.no_grad():
        score.weight.mul_(scale)
        score2.weight.mul_(scale)
    mods = (("enc", enc), ("score", score), ("after", after), ("score2", score2))
    sd = OrderedDict()
    for name, m in mods:
        sd.update(("%s.%s" % (name, k), v) for k, v in state(m).items())
    save_safetensors(os.path.join(case_dir(case), case + ".safetensors"), sd)
    return g, [m.to(f64) for _, m in mods]


def make_keep():
    case = "keep"
    g, (enc, score, after, score2) = select_setup(case, 121, 4)
    lens = [7, 4, 5, 6, 4, 7, 5, 6, 7, 4]

    def run(s, i):
        h = enc(t64(s)[None])[0]
        ch = top_tokens(score(h)[:, 0], 3, "keep input %d top_tokens" % i)
        k = after(h[ch][None])[0]
        ch2 = top_tokens(score2(k)[:, 0], 2, "keep input %d top_tokens_merged" % i)
        rest = [t for t in range(3) if t not in ch2]
        m = torch.cat([k[ch2], k[rest].mean(0, keepdim=True)])
        sel = OrderedDict([("top_tokens", ch), ("top_tokens_merged", ch2)])
        return torch.cat([m.mean(0), m[2]]).numpy(), sel

    seqs, outs, recs = draw_clear(g, lens, 8, run)
    x = padded(seqs, 7, lambda sh: np.full(sh, np.nan))
    save_inputs(case, x, lens)
    write_ref(case, outs, recs)


def make_above():
    """tokens_above(h, s, t), tokens_above_merged: the tokens whose score
    passes t (or the best one) become the model's tokens; what follows runs
    on them alone.  Each input alone in PyTorch, float64."""
    case = "above"
    g, (enc, score, after, score2) = select_setup(case, 124, 3)
    t = threshold(case, "t")
    lens = [7, 3, 5, 4, 6, 7, 3, 5, 6, 4, 7, 5, 7, 6, 4, 5]

    def above(sc, thr, what):
        """The rows whose score passes thr, or the best one."""
        keep = [q for q in range(len(sc)) if decide(sc[q], thr, what)]
        if not keep:
            best = int(torch.argmax(sc))
            assert all(abs(float(sc[best] - sc[q])) > MARGIN for q in range(len(sc)) if q != best)
            keep = [best]
            above.fallbacks.add(what)
        return keep
    above.fallbacks = set()

    def run(s, i):
        what = "above input %d" % i
        n = len(s)
        h = enc(t64(s)[None])[0]
        k1 = above(score(h)[:, 0], t, what + " tokens_above")
        h = after(h[k1][None])[0]
        k2 = above(score2(h)[:, 0], -0.6, what + " tokens_above_merged")
        rest = [q for q in range(len(k1)) if q not in k2]
        summary = h[rest].mean(0, keepdim=True) if rest else torch.zeros(1, 8, dtype=f64)
        m = torch.cat([h[k2], summary])
        sel = OrderedDict([("tokens_above", k1), ("tokens_above_merged", k2)])
        # enc, score, the choosing on n; after, score2, the choosing and the
        # summary (8 per other row and 8) on k1; pool_mean over k2 + 1 rows
        a, b = len(k1), len(k2)
        flops = enc_flops(n) + 17 * n + n + enc_flops(a) + 17 * a + a + 8 * (a - b + 1) \
            + 8 * (b + 1)
        return torch.cat([m.mean(0), m[-1]]).numpy(), (sel, flops)

    seqs, outs, recs = draw_clear_flops(g, lens, 8, run)
    # some inputs keep every token, some a few, some none passing (the best kept)
    for key in ("tokens_above", "tokens_above_merged"):
        fell = sum(("above input %d %s" % (i, key)) in above.fallbacks for i in range(len(recs)))
        counts = [len(r["selected"][key]) for r in recs]
        assert fell > 0 and any(c > 1 for c in counts), (key, counts, fell)
    assert any(len(r["selected"]["tokens_above_merged"]) == len(r["selected"]["tokens_above"])
               for r in recs)  # every token kept: the summary of none is 0
    x = padded(seqs, 7, lambda sh: np.full(sh, np.nan))
    save_inputs(case, x, lens)
    write_ref(case, outs, recs)


CASES = OrderedDict([("attn", make_attn), ("causal", make_causal), ("long", make_long),
                     ("embed", make_embed),
                     ("bnorm", make_bnorm), ("clspos", make_clspos), ("pool", make_pool),
                     ("cols", make_cols), ("loop", make_loop), ("lexit", make_lexit),
                     ("gateroute", make_gateroute), ("fixed", make_fixed),
                     ("prefix", make_prefix), ("enc", make_enc), ("depth", make_depth),
                     ("where", make_where), ("calm", make_calm), ("calmmoe", make_calmmoe),
                     ("keep", make_keep), ("above", make_above)])

if __name__ == "__main__":
    for c in sys.argv[1:] or list(CASES):
        CASES[c]()
        print("wrote", c)
