"""zero_skip.py make DIR | check DIR OUTPUTS.npy | poison DIR

make: random weights for test/e2e/zero-skip.slu (seeded) and 64 inputs,
into DIR/zs.safetensors and DIR/x.npy, with the model's outputs computed in
float64 NumPy into DIR/ref.npy; prints the share of exact zeros the
ReLUs feed the zero-skipping layers.
check: OUTPUTS.npy against DIR/ref.npy, rtol 1e-4 / atol 1e-5 (the
examples' tolerance); prints one line, exits 1 on a mismatch.
poison: DIR/zs_inf.safetensors, the same weights with fc2.weight[3, 7] = inf."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "common"))
import slutil  # noqa: E402

SHAPES = {"fc1": (512, 64), "fc2": (600, 512), "fc3": (256, 600), "out": (10, 256)}


def relu(v):
    return np.maximum(v, 0)


def model(w, x):
    """test/e2e/zero-skip.slu in float64."""
    def dense(name, v):
        return v @ w[name + ".weight"].T.astype(np.float64) + w[name + ".bias"].astype(np.float64)
    h1 = relu(dense("fc1", x))
    h2 = relu(dense("fc2", h1))
    h3 = relu(dense("fc3", h2))
    return dense("out", h3), (h1, h2)


def make(folder):
    rng = np.random.default_rng(7)
    w = {}
    for name, (o, i) in SHAPES.items():
        w[name + ".weight"] = (rng.standard_normal((o, i)) / np.sqrt(i)).astype(np.float32)
        w[name + ".bias"] = (0.1 * rng.standard_normal(o)).astype(np.float32)
    x = rng.standard_normal((64, 64)).astype(np.float32)
    slutil.save_safetensors(os.path.join(folder, "zs.safetensors"), w)
    np.save(os.path.join(folder, "x.npy"), x)
    y, (h1, h2) = model(w, x.astype(np.float64))
    np.save(os.path.join(folder, "ref.npy"), y)
    print(f"zeros into fc2: {np.mean(h1 == 0):.2f}, into fc3: {np.mean(h2 == 0):.2f}")
    return 0


def check(folder, outputs):
    ref, got = np.load(os.path.join(folder, "ref.npy")), np.load(outputs)
    if got.shape != ref.shape:
        print(f"shape {got.shape}, expected {ref.shape}")
        return 1
    bad = ~np.isclose(got, ref, rtol=1e-4, atol=1e-5)
    print(f"{ref.shape[0]} inputs, {int(bad.sum())} outputs off the float64 reference")
    return 1 if bad.any() else 0


def poison(folder):
    w = slutil.load_safetensors(os.path.join(folder, "zs.safetensors"))[0]
    w["fc2.weight"][3, 7] = np.inf
    slutil.save_safetensors(os.path.join(folder, "zs_inf.safetensors"), w)
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "make":
        sys.exit(make(sys.argv[2]))
    if sys.argv[1] == "poison":
        sys.exit(poison(sys.argv[2]))
    sys.exit(check(sys.argv[2], sys.argv[3]))
