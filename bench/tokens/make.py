"""The models, weights and inputs of bench/run-tokens.

    /usr/bin/python3 bench/tokens/make.py OUT [--seqs-64 N] [--seqs-256 N]

Writes into OUT (build/bench-tokens):

  tK_kK/model.slu   for T = 64, 256 and K = 1, 2, 4, 8 (the text below):
                    a fixed matrix of T tokens of 256, a router dense[256 -> 8]
                    and a bank of 8 experts mlp[256, 1024, 256], every token
                    routed on its own to its top K experts, a residual add and
                    a mean over the tokens.  K/8 of the expert work per token;
                    K = 8 runs every expert on every token (the dense model).
  weights.safetensors  one set of random weights (seeded; nn.Linear's own
                    initialisation, the router's weights scaled by 4 so that
                    the choices are clear-cut), shared by every model: the
                    names do not depend on T or K.
  inputs_t64.npy, inputs_t256.npy
                    [N, T * 256] float32 (time_model.c's [N, in_size]): N
                    sequences of T tokens ~ N(0, 1), seeded; a token whose
                    router scores come within 1e-3 of a tie at the K-th
                    place for any K is drawn again, so that float rounding
                    cannot flip a choice between Sluice and PyTorch.

Only rewrites what is missing or differs (so the libraries are not rebuilt
for nothing).
"""
import argparse
import io
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "..", "..", "examples", "common"))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import moe  # noqa: E402
import slutil  # noqa: E402

SEED = 11
MODEL = """\
# bench/run-tokens: a per-token mixture of experts over a fixed matrix of
# {T} tokens, top {K} of {N} experts per token{dense}.
# Written by bench/tokens/make.py.
import nn

model moe_t{T}_k{K} {{
  input  x: f32[{T}, {D}]
  output y: f32[{D}]

  param router: dense[{D} -> {N}]
  param experts: expert[{N}] of mlp[{D}, {H}, {D}]

  h = x + route experts(x) top {K} by router(x)
  y = pool_mean(h)
}}
"""


def model_text(t, k):
    return MODEL.format(T=t, K=k, D=moe.D, N=moe.N_EXPERTS, H=moe.HIDDEN,
                        dense=" (every expert on every token)" if k == moe.N_EXPERTS else "")


def write_if_changed(path, data):
    if os.path.exists(path):
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return True


def save_if_changed(path, state_dict):
    """The state_dict as safetensors at path, unless the file holds it already."""
    tmp = path + ".new"
    slutil.save_safetensors(tmp, state_dict)
    with open(tmp, "rb") as f:
        data = f.read()
    os.remove(tmp)
    return write_if_changed(path, data)


def clear_tokens(net, x, margin=1e-3):
    """A mask [n] of the tokens x [n, D] whose router scores are at least
    `margin` apart at every place K (1, 2, 4) of their descending order."""
    s = np.sort(net.router(x).double().numpy(), axis=1)[:, ::-1]
    ok = np.ones(x.shape[0], dtype=bool)
    for k in moe.KS:
        if k < moe.N_EXPERTS:
            ok &= (s[:, k - 1] - s[:, k]) >= margin
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seqs-64", type=int, default=32)
    ap.add_argument("--seqs-256", type=int, default=8)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(SEED)
    net = moe.new_net()
    changed = []
    for t in moe.TS:
        for k in moe.KS:
            d = os.path.join(args.out, f"t{t}_k{k}")
            os.makedirs(d, exist_ok=True)
            if write_if_changed(os.path.join(d, "model.slu"), model_text(t, k).encode()):
                changed.append(os.path.join(d, "model.slu"))
    w = os.path.join(args.out, "weights.safetensors")
    if save_if_changed(w, net.state_dict()):
        changed.append(w)
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for t, n in ((64, args.seqs_64), (256, args.seqs_256)):
            x = torch.randn(n * t, moe.D, generator=gen)
            for _ in range(100):
                bad = ~clear_tokens(net, x)
                if not bad.any():
                    break
                x[torch.from_numpy(bad)] = torch.randn(int(bad.sum()), moe.D, generator=gen)
            else:
                raise SystemExit("make.py: could not draw clear-cut tokens")
            buf = io.BytesIO()
            np.save(buf, x.numpy().reshape(n, t * moe.D).astype("<f4"))
            p = os.path.join(args.out, f"inputs_t{t}.npy")
            if write_if_changed(p, buf.getvalue()):
                changed.append(p)
    print("make.py: " + ("wrote " + ", ".join(changed) if changed else "nothing to change"))


if __name__ == "__main__":
    main()
