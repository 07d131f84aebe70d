"""Every error the package raises: sluice.Error carrying the runtime's
message where the runtime checks (weights, thresholds, exits, gates,
budget, threads, token counts, ids), the package's own where it checks
(shapes, dtypes, lengths, the ABI, the file).  One line per case:
"CASE: message"."""
import os
import struct
import sys

import numpy as np

import sluice
import sluice._capi

lib, seqlib, idslib, idsw, archive = sys.argv[1:6]


def case(name, fn):
    try:
        fn()
    except sluice.Error as e:
        assert isinstance(e, Exception) and e.msg == str(e)
        print("%s: %s" % (name, e))
    else:
        print("%s: no error" % name)


case("weights path", lambda: sluice.load(lib, weights="nope.safetensors"))
case("weights of another model",
     lambda: sluice.load(lib, weights=os.path.join(os.environ["EXAMPLES"], "gated_heads",
                                                   "digits_gate.safetensors")))
m = sluice.load(lib)
x = np.zeros((10, 64), np.float32)
case("input shape", lambda: m.run(np.zeros((10, 63), np.float32)))
case("input rank", lambda: m.run(np.zeros((2, 10, 64), np.float32)))
case("input dtype", lambda: m.run(np.zeros((10, 64), np.int64)))
case("input range", lambda: m.run(np.full((2, 64), 1e39)))
case("lengths without tokens", lambda: m.run(x, lengths=np.ones(10, np.int64)))
case("set threshold", lambda: m.set_threshold("t9", 1))
case("threshold range", lambda: m.set_threshold("t1", 1e39))
case("threshold nan", lambda: m.set_threshold("t1", float("nan")))
case("get threshold", lambda: m.threshold("t9"))
case("run threshold", lambda: m.run(x, thresholds={"t9": 0.5}))
case("exit index", lambda: m.force_exit(7))
case("exit name", lambda: m.force_exit("exit9"))
case("exit type", lambda: m.force_exit(1.5))
case("gate", lambda: m.force_gate("gate0", "then"))
case("budget", lambda: m.set_budget(-5))
case("budget inf", lambda: m.run(x, budget=float("inf")))
case("threads", lambda: setattr(m, "threads", 300))
case("threads type", lambda: setattr(m, "threads", "2"))
m.close()
case("closed", lambda: m.run(x))
m.close()  # twice is fine

s = sluice.load(seqlib)
xs = np.zeros((3, 8, 8), np.float32)
case("tokens range", lambda: s.run(xs, lengths=[4, 9, 5]))
case("tokens past the layout", lambda: s.run(xs[:, :6], lengths=[4, 7, 5]))
case("lengths shape", lambda: s.run(xs, lengths=[4, 5]))
case("lengths not whole", lambda: s.run(xs, lengths=[4, 5.5, 5]))
case("tokens without lengths", lambda: s.run(np.zeros((3, 9, 8), np.float32)))
case("seq input shape", lambda: s.run(np.zeros((3, 8, 7), np.float32)))
case("seq gate", lambda: s.force_gate("g", None))
s.close()

i = sluice.load(idslib, weights=idsw)
ids = np.zeros((3, 10), np.int64)
ids[1, 2] = 20
ids[2, 9] = 99  # padding: not read, not checked
case("id range", lambda: i.run(ids, lengths=[10, 3, 4]))
ids[1, 2] = 2**40
case("id beyond int32", lambda: i.run(ids, lengths=[10, 3, 4]))
case("ids as floats", lambda: i.run(np.full((3, 10), 0.5), lengths=[10, 3, 4]))
i.close()

case("no file", lambda: sluice.load("nope.so"))
case("archive", lambda: sluice.load(archive))
case("not a model", lambda: sluice.load(sluice._capi.__file__))


# ABI: the package expecting another version refuses the library before it
# reads anything past abi_version ...
def other_abi(v):
    saved = sluice._capi.SL_ABI_VERSION
    sluice._capi.SL_ABI_VERSION = v
    try:
        sluice.load(lib)
    finally:
        sluice._capi.SL_ABI_VERSION = saved


case("package ABI", lambda: other_abi(sluice.ABI_VERSION + 1))


# ... and a library whose descriptor says another ABI (the field patched in
# a copy of the file) is refused by the package, and, were the package
# fooled, by the runtime's own check in sl_model_open.
def dynsym_offset(data, want):
    """File offset of a dynamic symbol's value (ELF64, little-endian)."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + k * shentsize) for k in range(shnum)]
    for sec in secs:
        if sec[1] != 11:  # SHT_DYNSYM
            continue
        strtab = secs[sec[6]][4]
        for k in range(sec[5] // 24):
            st_name, _, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", data, sec[4] + k * 24)
            end = data.index(b"\0", strtab + st_name)
            if data[strtab + st_name:end] == want:
                host = secs[shndx]
                return value - host[3] + host[4]
    raise KeyError(want)


data = bytearray(open(lib, "rb").read())
off = dynsym_offset(data, b"digits_ee_model")
assert struct.unpack_from("<I", data, off)[0] == sluice.ABI_VERSION
struct.pack_into("<I", data, off, sluice.ABI_VERSION - 1)
with open("libold_abi.so", "wb") as f:
    f.write(data)
case("library ABI", lambda: sluice.load("libold_abi.so"))
sluice._capi.SL_ABI_VERSION -= 1
case("runtime ABI", lambda: sluice.load("libold_abi.so"))
sluice._capi.SL_ABI_VERSION += 1

# A compile error: sluicec's diagnostics.
with open("broken.slu", "w") as f:
    f.write("model broken {\n  input x: f32[4]\n  output y: f32[4]\n  y = frob(x)\n}\n")
case("compile", lambda: sluice.compile("broken.slu"))
case("compile emit", lambda: sluice.compile("broken.slu", emit="nonsense", output="o"))
