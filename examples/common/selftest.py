"""Self-test of the example tooling: safetensors round trip and the reference
interpreter's semantics, FLOP rules and ledger on tiny hand-checked models.

    /usr/bin/python3 examples/common/selftest.py
"""
import json
import os
import sys
import tempfile
from collections import OrderedDict

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import slutil  # noqa: E402
import sluref  # noqa: E402

TMP = tempfile.mkdtemp(prefix="sluref_selftest_")


def model(src, weights):
    p = os.path.join(TMP, "m.slu")
    with open(p, "w") as f:
        f.write(src)
    st = os.path.join(TMP, "m.safetensors")
    slutil.save_safetensors(st, OrderedDict((k, np.asarray(v, np.float32)) for k, v in weights.items()))
    w, meta = slutil.load_safetensors(st)
    assert meta == {"format": "pt"}
    return sluref.Model(p, w)


def test_safetensors():
    t = OrderedDict([("a.weight", np.arange(6, dtype=np.float32).reshape(2, 3)),
                     ("a.bias", np.array([1.5, -2], np.float32)), ("s", np.float32(3.0))])
    p = os.path.join(TMP, "t.safetensors")
    slutil.save_safetensors(p, t)
    raw = open(p, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    assert n % 8 == 0 and raw[8 + n - 1:8 + n] in (b" ", b"}")
    h = json.loads(raw[8:8 + n])
    assert h["a.weight"] == {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}
    assert h["a.bias"]["data_offsets"] == [24, 32] and h["s"]["shape"] == []
    assert len(raw) == 8 + n + 36
    back, _ = slutil.load_safetensors(p)
    assert list(back) == list(t) and all(np.array_equal(back[k], t[k]) for k in t)


def test_route():
    # identity experts scaled by their index: expert j (mlp[2,2,2]) computes
    # fc2(relu(fc1 x)) with fc1 = I, fc2 = j*I
    w = {"r.weight": np.zeros((4, 2)), "r.bias": np.array([1.0, 3.0, 3.0, 0.0])}
    for j in range(4):
        w[f"b.{j}.fc1.weight"] = np.eye(2)
        w[f"b.{j}.fc1.bias"] = np.zeros(2)
        w[f"b.{j}.fc2.weight"] = j * np.eye(2)
        w[f"b.{j}.fc2.bias"] = np.zeros(2)
    m = model("""
model t {
  input x: f32[2]
  output y: f32[2]
  param r: dense[2 -> 4]
  param b: expert[4] of mlp[2, 2, 2]
  y = route b(x) top 2 by r(x)
}
""", w)
    assert [k for k, _ in m.manifest()][:3] == ["r.weight", "r.bias", "b.0.fc1.weight"]
    y, rec = m.run(np.array([1.0, 2.0]))
    # tie between experts 1 and 2 (both 3.0): lower index first; weights 1/2, 1/2
    assert rec["routes"] == {"b": [1, 2]}, rec
    assert np.allclose(y, 0.5 * 1 * np.array([1, 2]) + 0.5 * 2 * np.array([1, 2]))
    body = (2 * 2 * 2 + 2) + 2 + (2 * 2 * 2 + 2)
    scores = 2 * 2 * 4 + 4
    assert rec["flops"] == scores + 4 + 2 + 2 * body + 2 * 2 * 2, rec
    assert rec["dense_flops"] == scores + 4 + 2 + 4 * body + 2 * 2 * 4
    # the gap between the 2nd and 3rd logits (3.0 vs 1.0) is large: not near
    assert rec["near_threshold"] is False


def test_blocks_exit_gate():
    w = {"p.weight": np.zeros((2, 3)), "p.bias": np.array([1.0, -1.0]),
         "f.weight": np.arange(12).reshape(4, 3), "f.bias": np.ones(4),
         "h.weight": np.eye(4)[:2], "h.bias": np.zeros(2)}
    src = """
model t {
  input x: f32[3]
  output y: f32[4]
  param p: dense[3 -> 2]
  param f: dense[3 -> 4] blocks 2
  param h: dense[4 -> 2]
  threshold tb = 0.5
  threshold te = 0.9
  z = f[sigmoid(p(x)) > tb](x)
  exit softmax(z) when max(softmax(h(z))) >= te
  gate argmax(h(z)) == 0 {
    y = z
  } else gate sum(z) > 100 {
    y = z * 2
  } else {
    y = z + 1
  }
}
"""
    m = model(src, w)
    x = np.array([1.0, 0.0, 0.0])
    y, rec = m.run(x)
    # block 0 (rows 0, 1) active, block 1 off -> exactly zero
    z = np.array([0 + 1, 3 + 1, 0, 0], np.float32)
    assert rec["blocks"] == {"f": [1, 0]}
    # h(z) = z[:2] = [1, 4]: max softmax = 0.95 >= 0.9 -> exit0 with softmax(z)
    assert rec["exit"] == "exit0" and np.allclose(y, np.exp(z) / np.exp(z).sum())
    mask = (2 * 3 * 2 + 2) + 2 + 2 + 1 * (2 * 3 * 2 + 2)
    cond = (2 * 4 * 2 + 2) + 2 + 2 + 1
    assert rec["flops"] == mask + cond + 4, rec
    assert rec["gates"] == {"gate0": None, "gate1": None}
    # no exit: argmax(h(z)) = 1 -> gate0 else; sum(z) = 5 -> gate1 else: z + 1
    y, rec = m.run(x, {"te": 2.0})
    assert rec["exit"] == "end" and rec["gates"] == {"gate0": 0, "gate1": 0}
    assert np.allclose(y, z + 1)
    g0 = (2 * 4 * 2 + 2) + 2 + 1
    g1 = 4 + 1
    assert rec["flops"] == mask + cond + g0 + g1 + 4, rec
    # arms: `y = z` is free, `z * 2` and `z + 1` cost 4 each
    dense = (2 * 3 * 2 + 2) + 2 + 2 + 2 * (2 * 3 * 2 + 2) + cond + 4 + g0 + g1 + 4 + 4
    assert rec["dense_flops"] == dense == m.dense_flops(), (rec, dense)
    # near threshold: the exit's confidence equals te exactly
    p = np.exp([1.0, 4.0]) / np.exp([1.0, 4.0]).sum()
    _, rec = m.run(x, {"te": float(np.float32(p.max()))})
    assert rec["exit"] == "exit0" and rec["near_threshold"] is True
    # all blocks on (tb below every score) costs the dense cost of the layer
    _, rec = m.run(x, {"tb": -1.0, "te": 2.0})
    assert rec["blocks"] == {"f": [1, 1]}


def test_ledger_line():
    rec = OrderedDict([("input", 0), ("exit", "exit1"), ("flops", 17290), ("dense_flops", 45678),
                       ("gates", {"gate0": 1}), ("routes", {"ffn1": [3, 5]}),
                       ("blocks", {"fc1": [1, 0, 1, 1]}), ("near_threshold", False)])
    assert slutil.ledger_line(rec) == (
        '{"input": 0, "exit": "exit1", "flops": 17290, "dense_flops": 45678, "gates": {"gate0": 1}, '
        '"routes": {"ffn1": [3, 5]}, "blocks": {"fc1": [1, 0, 1, 1]}, "near_threshold": false}')


if __name__ == "__main__":
    import shutil
    try:
        for name, fn in list(globals().items()):
            if name.startswith("test_"):
                fn()
                print("ok", name)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
