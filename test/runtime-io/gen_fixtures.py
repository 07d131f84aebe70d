#!/usr/bin/python3
"""Generate the runtime I/O test corpus (committed; the tests do not run this).

    /usr/bin/python3 test/runtime-io/gen_fixtures.py

Writes, under test/runtime-io/corpus/:
  st/NAME.safetensors    good files with NAME.out (the loader's dump, computed
                         here independently) and broken ones with NAME.err (the
                         exact message the loader must give)
  npy/NAME.npy           the same for .npy files
  npy_int/NAME.npy       the same for .npy files read as int32 (NAME.out: the
                         values in decimal)
  fake/                  weights, inputs and expected outputs and ledgers of the
                         hand-written model in fake_model.c, computed with NumPy

Needs only the standard library and NumPy.  Deterministic: rerunning it
rewrites the same bytes.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_text(path, text):
    write(path, text.encode("utf-8"))


# ---- safetensors --------------------------------------------------------------

DQ_A, DQ_DTYPE = b'"a"', b'"dtype"'  # for positions jansson reports after a key
ST_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
            "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
            "I64": 8, "U64": 8, "F64": 8}


def st_header_bytes(header, pad=True):
    """The reference writer: compact JSON padded with spaces to 8 bytes."""
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return text


def st_raw(header_text, data=b"", n=None):
    if isinstance(header_text, str):
        header_text = header_text.encode()
    n = len(header_text) if n is None else n
    return struct.pack("<Q", n) + header_text + data


def st_file(tensors, meta=None, pad=True, order=None):
    """tensors: [(name, dtype, shape, raw bytes)] in data order."""
    header, data, at = {}, b"", 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + len(raw)]}
        data += raw
        at += len(raw)
    if order:
        header = {k: header[k] for k in order}
    return st_raw(st_header_bytes(header, pad), data)


def f32(*v):
    return np.array(v, dtype="<f4").tobytes()


def bits_f32(a):
    return ["0x%08x" % int(b) for b in np.asarray(a, dtype=np.float32).reshape(-1).view(np.uint32)]


def placement(data, name, dtype):
    """Where the loader's F32 data should be: in the file ("view") when the
    tensor's bytes are 4-byte aligned (the buffer is), else copied."""
    n = struct.unpack("<Q", data[:8])[0]
    begin = json.loads(data[8:8 + n])[name]["data_offsets"][0]
    if dtype != "F32":
        return "copy" if dtype in ("F16", "BF16", "F64") else "-"
    return "view" if (8 + n + begin) % 4 == 0 else "copy"


def dump_tensor(name, dtype, shape, values, where=None):
    """One line of io_tool's dump: name dtype [shape] view|copy|- bits..."""
    shape_s = "[" + ", ".join(str(d) for d in shape) + "]"
    vals = " ".join(bits_f32(values)) if values is not None else ""
    return f"{name} {dtype} {shape_s} {where or '?'}" + (f" {vals}" if vals else "")


def gen_safetensors():
    d = os.path.join(CORPUS, "st")
    shutil.rmtree(d, ignore_errors=True)
    good, bad = {}, {}

    # -- good files: the bytes, and the dump lines in file (offset) order
    a = np.arange(1, 7, dtype=np.float32).reshape(2, 3)
    b = np.array([-1.5, 0.25], dtype=np.float32)
    good["f32"] = (st_file([("a", "F32", [2, 3], a.tobytes()), ("b", "F32", [2], b.tobytes())]),
                   [dump_tensor("a", "F32", [2, 3], a), dump_tensor("b", "F32", [2], b)])

    # F16: normals, the subnormal extremes, signed zero, infinities, a quiet
    # NaN, the largest finite value; NumPy converts exactly.
    h_bits = np.array([0x3c00, 0x3555, 0x0001, 0x03ff, 0x0400, 0x8000, 0x7c00, 0xfc00, 0x7e00,
                       0x7bff, 0xc000, 0x83ff], dtype=np.uint16)
    h = h_bits.view(np.float16)
    good["f16"] = (st_file([("h", "F16", [3, 4], h.astype("<f2").tobytes())]),
                   [dump_tensor("h", "F16", [3, 4], h.astype(np.float32))])

    # BF16: the top 16 bits of an f32, so the expected bits are known exactly.
    bf_bits = np.array([0x3f80, 0xc020, 0x0001, 0x807f, 0x7f80, 0xff80, 0x7fc0, 0x7f7f],
                       dtype=np.uint16)
    bf_f32 = (bf_bits.astype(np.uint32) << 16).view(np.float32)
    good["bf16"] = (st_file([("w", "BF16", [8], bf_bits.astype("<u2").tobytes())]),
                    [dump_tensor("w", "BF16", [8], bf_f32)])

    # F64, converted to F32 rounding to nearest (NumPy's astype does the
    # same): values F32 holds exactly, ones it rounds, signed zero, NaN and
    # infinities, a value that underflows to a subnormal and one to zero,
    # and the largest finite values that still round to FLT_MAX.
    d64 = np.array([1.0, -2.5, 0.1, 1 / 3, -0.0, np.nan, np.inf, -np.inf, 1e-40, 1e-50,
                    3.4028235e38, float.fromhex("0x1.fffffefffffffp127"),
                    -float.fromhex("0x1.fffffefffffffp127"), 2.0 ** -149], dtype="<f8")
    good["f64"] = (st_file([("d", "F64", [2, 7], d64.tobytes())]),
                   [dump_tensor("d", "F64", [2, 7], d64.astype(np.float32))])

    s = np.array(3.5, dtype=np.float32)
    good["rank0"] = (st_file([("s", "F32", [], s.tobytes())]),
                     [dump_tensor("s", "F32", [], s)])

    one = np.array([7.0], dtype=np.float32)
    good["zero_elements"] = (
        st_file([("z", "F32", [0, 3], b""), ("z16", "F16", [0], b""), ("a", "F32", [1], one.tobytes())],
                order=["a", "z16", "z"]),
        [dump_tensor("z", "F32", [0, 3], None), dump_tensor("z16", "F16", [0], None),
         dump_tensor("a", "F32", [1], one)])

    # An F32 tensor at data offset 6 (after 3 F16): not aligned for float,
    # so it is copied; values unchanged.
    h3 = np.array([1, 2, 3], dtype=np.float16)
    v2 = np.array([0.5, -8.0], dtype=np.float32)
    good["unaligned"] = (st_file([("h", "F16", [3], h3.tobytes()), ("v", "F32", [2], v2.tobytes())]),
                         [dump_tensor("h", "F16", [3], h3.astype(np.float32)),
                          dump_tensor("v", "F32", [2], v2)])

    # A header of odd length (no padding): the data section starts at an odd
    # address in the buffer.
    v3 = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    hdr = json.dumps({"v": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12]}},
                     separators=(",", ":")).encode()
    if len(hdr) % 2 == 0:
        hdr += b" "
    good["odd_header"] = (st_raw(hdr, v3.tobytes()), [dump_tensor("v", "F32", [3], v3)])

    # Whitespace of every kind around and inside the JSON.
    hdr = b' \n\t{ "v" : { "dtype" : "F32" , "shape" : [ 3 ] ,\r\n "data_offsets" : [ 0 , 12 ] } }   \n  '
    good["whitespace"] = (st_raw(hdr, v3.tobytes()), [dump_tensor("v", "F32", [3], v3)])

    good["metadata"] = (st_file([("v", "F32", [3], v3.tobytes())],
                                meta={"format": "pt", "note": "written by gen_fixtures.py"}),
                        [dump_tensor("v", "F32", [3], v3)])

    special = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-45, 3.4028235e38], dtype=np.float32)
    good["nan_inf"] = (st_file([("x", "F32", [6], special.tobytes())]),
                       [dump_tensor("x", "F32", [6], special)])

    good["no_tensors"] = (st_raw(b"{}      "), [])
    good["no_tensors_metadata"] = (st_raw(st_header_bytes({"__metadata__": {}})), [])

    # Dtypes Sluice does not compute in: loaded, with no data.
    others = [("i", "I64", [2], np.array([1, -1], "<i8").tobytes()),
              ("u", "U8", [3], bytes([1, 2, 3])),
              ("flag", "BOOL", [1], bytes([1])),
              ("q", "F8_E4M3", [2], bytes([0x38, 0xb8])),
              ("v", "F32", [1], one.tobytes())]
    good["other_dtypes"] = (st_file(others), [dump_tensor(n, t, s, None) for n, t, s, _ in others[:-1]]
                            + [dump_tensor("v", "F32", [1], one)])

    # Keys the format does not define inside a tensor are ignored (as the
    # reference implementation's deserializer does).
    hdr = st_header_bytes({"v": {"dtype": "F32", "shape": [3], "data_offsets": [0, 12], "note": [1]}})
    good["extra_keys"] = (st_raw(hdr, v3.tobytes()), [dump_tensor("v", "F32", [3], v3)])

    # Header order is not data order: file order follows the offsets.
    good["order"] = (st_file([("b", "F32", [1], f32(2)), ("a", "F32", [1], f32(1)), ("c", "F32", [1], f32(3))],
                             order=["c", "a", "b"]),
                     [dump_tensor("b", "F32", [1], [2]), dump_tensor("a", "F32", [1], [1]),
                      dump_tensor("c", "F32", [1], [3])])

    for name, (data, lines) in good.items():
        for i, line in enumerate(lines):  # fill in "?": where the data should be
            t_name, t_dtype = line.split()[:2]
            lines[i] = line.replace("] ?", "] " + placement(data, t_name, t_dtype), 1)
        write(os.path.join(d, name + ".safetensors"), data)
        write_text(os.path.join(d, name + ".out"), f"tensors: {len(lines)}\n" + "".join(l + "\n" for l in lines))

    # -- broken files and the exact messages
    def tensor(dtype="F32", shape=(2,), offs=(0, 8)):
        return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offs)}

    def one_file(info, data=b"\0" * 8, name="a"):
        return st_raw(st_header_bytes({name: info}), data)

    F = "{f}"
    bad["zero_length"] = (b"", f"{F}: empty file (a safetensors file starts with an 8-byte header length)")
    bad["short"] = (b"\x02\0\0\0\0", f"{F}: 5 bytes, too short for a safetensors file (the header length alone is 8 bytes)")
    bad["header_too_big"] = (st_raw(b"{}", n=100000001),
                             f"{F}: header length 100000001 is more than the limit of 100000000 bytes (is this a safetensors file?)")
    bad["header_past_eof"] = (st_raw(b"{}" + b" " * 48, n=1000),
                              f"{F}: header length 1000 runs past the end of the file (50 bytes follow the length)")
    npy = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), }" + b" " * 60 + b"\n" + f32(1)
    bad["npy_as_weights"] = (npy, f"{F}: header length {struct.unpack('<Q', npy[:8])[0]} is more than the limit of 100000000 bytes (is this a safetensors file?)")
    bad["bad_json"] = (st_raw(b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}', b"\0" * 8),
                       f"{F}: header is not valid JSON: '}}' expected near end of file (at byte 60 of the header)")
    bad["trailing_json"] = (st_raw(b'{} {}'), f"{F}: header is not valid JSON: end of file expected near '{{' (at byte 4 of the header)")
    bad["not_utf8"] = (st_raw(b'{"\xff": 1}'), f"{F}: header is not valid JSON: unable to decode byte 0xff near '\"' (at byte 2 of the header)")
    bad["not_object"] = (st_raw(b"[1, 2]  "), f"{F}: header is an array, expected a JSON object of tensors")
    bad["info_not_object"] = (st_raw(st_header_bytes({"a": [1, 2]})),
                              f"{F}: tensor 'a': expected an object with dtype, shape and data_offsets, found an array")
    bad["missing_offsets"] = (st_raw(st_header_bytes({"a": {"dtype": "F32", "shape": [2]}}), b"\0" * 8),
                              f"{F}: tensor 'a': no \"data_offsets\"")
    bad["dtype_not_string"] = (one_file({"dtype": 4, "shape": [2], "data_offsets": [0, 8]}),
                               f"{F}: tensor 'a': \"dtype\" is an integer, expected a string")
    bad["unknown_dtype"] = (one_file(tensor(dtype="F128")),
                            f"{F}: tensor 'a': unknown dtype 'F128' (expected one of BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64)")
    bad["lowercase_dtype"] = (one_file(tensor(dtype="f32")),
                              f"{F}: tensor 'a': unknown dtype 'f32' (expected one of BOOL, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64)")
    bad["shape_not_array"] = (one_file({"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}),
                              f"{F}: tensor 'a': \"shape\" is an integer, expected an array of dimensions")
    bad["shape_real"] = (one_file({"dtype": "F32", "shape": [2, 1.5], "data_offsets": [0, 8]}),
                         f"{F}: tensor 'a': shape [2, 1.5]: dimension 1 is a real number, expected a non-negative integer")
    bad["negative_dim"] = (one_file(tensor(shape=[2, -3])), f"{F}: tensor 'a': shape [2, -3] has a negative dimension")
    bad["shape_overflow"] = (one_file(tensor(shape=[2**32, 2**32])),
                             f"{F}: tensor 'a': shape [4294967296, 4294967296] has more elements than fit in 64 bits")
    bad["bytes_overflow"] = (one_file(tensor(shape=[2**61, 2])),
                             f"{F}: tensor 'a': data_offsets [0, 8] give 8 bytes, but shape [2305843009213693952, 2] of F32 needs more than 2^64")
    bad["rank9"] = (one_file(tensor(shape=[1] * 9, offs=(0, 4)), b"\0" * 4),
                    f"{F}: tensor 'a': shape [1, 1, 1, 1, 1, 1, 1, 1, 1] has 9 dimensions, more than the 8 Sluice reads")
    bad["offsets_not_pair"] = (one_file(tensor(offs=(0,))),
                               f"{F}: tensor 'a': \"data_offsets\" is [0], expected [begin, end], two integers")
    bad["offsets_not_array"] = (one_file({"dtype": "F32", "shape": [2], "data_offsets": "0-8"}),
                                f"{F}: tensor 'a': \"data_offsets\" is a string, expected [begin, end], two integers")
    bad["offsets_real"] = (one_file({"dtype": "F32", "shape": [2], "data_offsets": [0, 8.0]}),
                           f"{F}: tensor 'a': \"data_offsets\" is [0, 8.0], expected [begin, end], two integers")
    bad["offsets_negative"] = (one_file(tensor(offs=(-8, 0))),
                               f"{F}: tensor 'a': data_offsets [-8, 0] has a negative offset")
    bad["offsets_reversed"] = (one_file(tensor(offs=(8, 0))),
                               f"{F}: tensor 'a': data_offsets [8, 0] end before they begin")
    bad["offsets_out_of_range"] = (one_file(tensor(shape=[100], offs=(0, 400))),
                                   f"{F}: tensor 'a': data_offsets [0, 400] run past the end of the data section (8 bytes)")
    bad["offsets_too_big"] = (st_raw(b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 99999999999999999999]}}'),
                              f"{F}: header is not valid JSON: too big integer near '99999999999999999999' (at byte 77 of the header)")
    bad["size_mismatch"] = (one_file(tensor(shape=[5, 6], offs=(0, 100)), b"\0" * 100, name="fc1.weight"),
                            f"{F}: tensor 'fc1.weight': data_offsets [0, 100] give 100 bytes, but shape [5, 6] of F32 needs 120")
    # A finite F64 value that would round to infinity in F32 (half an ulp
    # above FLT_MAX and more) is an error naming the tensor and the element.
    big = np.array([1.0, 2.0, -1e39, 4.0], "<f8")
    bad["f64_out_of_range"] = (one_file(tensor(dtype="F64", shape=[2, 2], offs=(0, 32)), big.tobytes(),
                                        name="fc1.weight"),
                               f"{F}: tensor 'fc1.weight': element 2 is -1e+39, outside F32's range (F64 tensors are converted to F32)")
    edge = np.array([float.fromhex("0x1.ffffffp127")], "<f8")
    bad["f64_rounds_to_inf"] = (one_file(tensor(dtype="F64", shape=[1], offs=(0, 8)), edge.tobytes()),
                                f"{F}: tensor 'a': element 0 is 3.4028235677973366e+38, outside F32's range (F64 tensors are converted to F32)")
    bad["f64_size_mismatch"] = (one_file(tensor(dtype="F64", shape=[2], offs=(0, 8))),
                                f"{F}: tensor 'a': data_offsets [0, 8] give 8 bytes, but shape [2] of F64 needs 16")
    bad["f16_size_mismatch"] = (one_file(tensor(dtype="F16", shape=[3], offs=(0, 8))),
                                f"{F}: tensor 'a': data_offsets [0, 8] give 8 bytes, but shape [3] of F16 needs 6")
    bad["overlap"] = (st_raw(st_header_bytes({"a": tensor(offs=(0, 8)), "b": tensor(offs=(4, 12))}), b"\0" * 12),
                      f"{F}: tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]")
    bad["same_offsets"] = (st_raw(st_header_bytes({"a": tensor(offs=(0, 8)), "b": tensor(offs=(0, 8))}), b"\0" * 8),
                           f"{F}: tensor 'b': data_offsets [0, 8] overlap tensor 'a' [0, 8]")
    bad["hole"] = (st_raw(st_header_bytes({"a": tensor(shape=[1], offs=(0, 4)), "b": tensor(shape=[1], offs=(8, 12))}), b"\0" * 12),
                   f"{F}: tensor 'b': data_offsets [8, 12] leave a hole: bytes 4 to 8 of the data section belong to no tensor")
    bad["hole_at_start"] = (one_file(tensor(shape=[1], offs=(4, 8))),
                            f"{F}: tensor 'a': data_offsets [4, 8] leave a hole: bytes 0 to 4 of the data section belong to no tensor")
    bad["trailing"] = (one_file(tensor(), b"\0" * 12),
                       f"{F}: 4 bytes after the last tensor's data: the data section has 12 bytes, the tensors cover 8")
    bad["trailing_no_tensors"] = (st_raw(b"{}      ", b"\0" * 4),
                                  f"{F}: the header lists no tensors, but 4 bytes of data follow it")
    dup = b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}'
    bad["duplicate"] = (st_raw(dup, b"\0" * 8),
                        f"{F}: header: key \"a\" appears twice (at byte {dup.index(DQ_A, 2) + 3} of the header); a tensor name, or a field of one tensor, may appear only once")
    dup = b'{"a": {"dtype": "F32", "dtype": "F16", "shape": [2], "data_offsets": [0, 8]}}'
    bad["duplicate_field"] = (st_raw(dup, b"\0" * 8),
                              f"{F}: header: key \"dtype\" appears twice (at byte {dup.index(DQ_DTYPE, 10) + 7} of the header); a tensor name, or a field of one tensor, may appear only once")
    bad["metadata_non_string"] = (st_raw(st_header_bytes({"__metadata__": {"format": "pt", "epoch": 3}})),
                                  f"{F}: \"__metadata__\": the value of 'epoch' is an integer, expected a string")
    bad["metadata_tensor"] = (st_raw(st_header_bytes({"__metadata__": tensor(shape=[1], offs=(0, 4))}), b"\0" * 4),
                              f"{F}: a tensor is named \"__metadata__\"; that name is reserved for the file's metadata")
    bad["metadata_not_object"] = (st_raw(st_header_bytes({"__metadata__": "pt"})),
                                  f"{F}: \"__metadata__\" is a string, expected an object of strings")
    bad["nul_in_name"] = (st_raw(b'{"a\\u0000b": {}}'),
                          f"{F}: header is not valid JSON: NUL byte in object key not supported near '\"a\\u0000b\"' (at byte 11 of the header)")

    for name, (data, msg) in bad.items():
        fname = name + ".safetensors"
        write(os.path.join(d, fname), data)
        write_text(os.path.join(d, name + ".err"), msg.replace("{f}", fname) + "\n")
    return len(good), len(bad)


# ---- .npy ------------------------------------------------------------------------

def npy_raw(header, data=b"", version=(1, 0), hlen=None):
    """A .npy file with this exact header text (no padding added)."""
    if isinstance(header, str):
        header = header.encode("latin1")
    n = len(header) if hlen is None else hlen
    pre = b"\x93NUMPY" + bytes(version)
    pre += struct.pack("<H", n) if version[0] == 1 else struct.pack("<I", n)
    return pre + header + data


def npy_save(a, version=None):
    import io
    buf = io.BytesIO()
    if version is None:
        np.save(buf, a)
    else:
        np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def npy_dump(a):
    shape = "[" + ", ".join(str(d) for d in a.shape) + "]"
    vals = bits_f32(a.astype(np.float32))
    return f"shape {shape}\n" + ("".join(v + "\n" for v in vals))


def gen_npy():
    d = os.path.join(CORPUS, "npy")
    shutil.rmtree(d, ignore_errors=True)
    good, bad = {}, {}
    a23 = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    good["v1"] = (npy_save(a23), a23)
    good["v2"] = (npy_save(a23, (2, 0)), a23)
    good["v3"] = (npy_save(a23, (3, 0)), a23)
    f8 = np.array([0.1, -2.5, np.nan, np.inf, -np.inf, 1e-50, 3.4028234e38, -0.0])
    good["f8"] = (npy_save(f8), f8.astype(np.float32))
    good["rank0"] = (npy_save(np.float32(3.5)), np.array(3.5, dtype=np.float32))
    r1 = np.array([1, 2, 3], dtype=np.float32)
    good["rank1"] = (npy_save(r1), r1)
    good["zero_elements"] = (npy_save(np.zeros((0, 4), np.float32)), np.zeros((0, 4), np.float32))
    r4 = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    good["rank4"] = (npy_save(r4), r4)
    # Hand-written headers NumPy also reads: double quotes, other key order,
    # trailing commas or none, no padding, no newline; Python 2's 3L.
    good["double_quotes"] = (npy_raw('{"shape": (3,), "fortran_order": False, "descr": "<f4"}', r1.tobytes()), r1)
    good["no_trailing_comma"] = (npy_raw("{'descr':'<f4','fortran_order':False,'shape':(2,3,)}\n", a23.tobytes()), a23)
    good["long_suffix"] = (npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }    \n", a23.tobytes()), a23)
    good["no_newline"] = (npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", r1.tobytes()), r1)

    for name, (data, arr) in good.items():
        write(os.path.join(d, name + ".npy"), data)
        write_text(os.path.join(d, name + ".out"), npy_dump(arr))

    # The writer's output must be NumPy's, byte for byte: arrays the C test
    # writes and compares (shapes (), (3,), (2, 3), (0, 4), (1, 2, 3, 4),
    # and one whose first dimension has many digits).
    for name, arr in [("write_rank0", np.array(3.5, np.float32)), ("write_rank1", r1),
                      ("write_rank2", a23), ("write_empty", np.zeros((0, 4), np.float32)),
                      ("write_rank4", r4), ("write_wide", np.zeros((1234567, 0), np.float32))]:
        write(os.path.join(d, "writer", name + ".npy"), npy_save(arr))

    F = "{f}"
    H = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }"
    bad["zero_length"] = (b"", f"{F}: empty file (a .npy file starts with \\x93NUMPY)")
    bad["bad_magic"] = (b"\x93NUMPX\x01\x00" + npy_save(r1)[8:], f"{F}: not a .npy file (it does not start with \\x93NUMPY)")
    bad["text"] = (b"1.0, 2.0, 3.0\n", f"{F}: not a .npy file (it does not start with \\x93NUMPY)")
    bad["short"] = (b"\x93NUMPY\x01", f"{F}: truncated: 7 bytes, the .npy preamble alone is 10")
    bad["short_v2"] = (b"\x93NUMPY\x02\x00\x10\x00", f"{F}: truncated: 10 bytes, the version 2.0 preamble alone is 12")
    bad["version"] = (npy_raw(H % "(3,)", r1.tobytes(), version=(4, 0)),
                      f"{F}: .npy format version 4.0 is not supported (expected 1.0, 2.0 or 3.0)")
    bad["version_minor"] = (npy_raw(H % "(3,)", r1.tobytes(), version=(1, 1)),
                            f"{F}: .npy format version 1.1 is not supported (expected 1.0, 2.0 or 3.0)")
    long_h = (H % "(3,)") + " " * 10000 + "\n"
    bad["header_too_long"] = (npy_raw(long_h, r1.tobytes(), version=(2, 0)),
                              f"{F}: header of {len(long_h)} bytes is longer than NumPy's limit of 10000")
    bad["header_truncated"] = (npy_raw(H % "(3,)", hlen=200),
                               f"{F}: truncated in the header: it announces 200 bytes, {len(H % '(3,)')} follow")
    bad["big_endian"] = (npy_save(r1.astype(">f4")),
                         f"{F}: dtype '>f4' is big-endian (expected '<f4' or '<f8'; x.astype('<f4') converts)")
    bad["big_endian_f8"] = (npy_save(r1.astype(">f8")),
                            f"{F}: dtype '>f8' is big-endian (expected '<f4' or '<f8'; x.astype('<f4') converts)")
    bad["object"] = (npy_raw("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8),
                     f"{F}: dtype '|O' is an object array (expected '<f4' or '<f8')")
    bad["int64"] = (npy_save(np.array([1, 2], "<i8")), f"{F}: dtype '<i8' is not supported (expected '<f4' or '<f8', float32 or float64)")
    bad["f2"] = (npy_save(np.array([1, 2], "<f2")), f"{F}: dtype '<f2' is not supported (expected '<f4' or '<f8', float32 or float64)")
    bad["bar_f4"] = (npy_raw("{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", f32(1)),
                     f"{F}: dtype '|f4' is not supported (expected '<f4' or '<f8', float32 or float64)")
    bad["structured"] = (npy_save(np.zeros(2, dtype=[("a", "<f4")])),
                         f"{F}: a structured dtype (a list of fields) is not supported (expected '<f4' or '<f8')")
    bad["fortran"] = (npy_save(np.asfortranarray(a23)),
                      f"{F}: the array is in Fortran order (expected C order; np.ascontiguousarray(x) converts)")
    bad["missing_key"] = (npy_raw("{'descr': '<f4', 'shape': (3,), }", r1.tobytes()),
                          f"{F}: header: no 'fortran_order' key (expected exactly 'descr', 'fortran_order' and 'shape')")
    bad["extra_key"] = (npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'align': True}", r1.tobytes()),
                        f"{F}: header: unexpected key 'align' (expected exactly 'descr', 'fortran_order' and 'shape')")
    bad["duplicate_key"] = (npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'shape': (3,)}", r1.tobytes()),
                            f"{F}: header: key 'shape' appears twice")
    bad["negative_dim"] = (npy_raw(H % "(-3,)", r1.tobytes()), f"{F}: header: 'shape' has a negative dimension, -3")
    bad["dim_overflow"] = (npy_raw(H % "(99999999999999999999,)"),
                           f"{F}: header: dimension 99999999999999999999 in 'shape' does not fit in 64 bits")
    bad["numel_overflow"] = (npy_raw(H % "(4294967296, 4294967296)"),
                             f"{F}: shape [4294967296, 4294967296] has more elements than fit in 64 bits")
    bad["bytes_overflow"] = (npy_raw(H % "(2305843009213693952, 2)"),
                             f"{F}: shape [2305843009213693952, 2] of '<f4' needs more bytes than fit in memory")
    bad["rank9"] = (npy_raw(H % "(1, 1, 1, 1, 1, 1, 1, 1, 1)", f32(0)), f"{F}: header: 'shape' has more than 8 dimensions")
    hdr = H % "[3]"
    bad["shape_list"] = (npy_raw(hdr, r1.tobytes()), f"{F}: header: expected a tuple for 'shape' at byte {hdr.index('[')}, found '['")
    bad["shape_int"] = (npy_raw(H % "(3)", r1.tobytes()),
                        f"{F}: header: 'shape' is (3), an integer, not a tuple (a one-element tuple is (3,))")
    hdr = H % "(3.0,)"
    bad["shape_real"] = (npy_raw(hdr, r1.tobytes()), f"{F}: header: expected ',' or ')' in 'shape' at byte {hdr.index('.')}, found '.'")
    bad["shape_leading_zero"] = (npy_raw(H % "(03,)", r1.tobytes()), f"{F}: header: dimension 03 in 'shape' has a leading zero")
    hdr = H % "(3L,)"
    bad["long_suffix_v3"] = (npy_raw(hdr, r1.tobytes(), version=(3, 0)), f"{F}: header: expected ',' or ')' in 'shape' at byte {hdr.index('L')}, found 'L'")
    hdr = "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }"
    bad["fortran_not_bool"] = (npy_raw(hdr, r1.tobytes()), f"{F}: header: expected True or False for 'fortran_order' at byte {hdr.index('0')}, found '0'")
    bad["not_dict"] = (npy_raw("['<f4', False, (3,)]", r1.tobytes()), f"{F}: header: expected a dict, '{{' at byte 0, found '['")
    hdr = "{'descr': '<f4"
    bad["unclosed_string"] = (npy_raw(hdr, r1.tobytes()), f"{F}: header: the string at byte {hdr.index('<') - 1} is not closed, or has an escape or a newline")
    hdr = "{'descr: '<f4', 'fortran_order': False, 'shape': (3,), }"
    bad["quote_in_key"] = (npy_raw(hdr, r1.tobytes()),
                           f"{F}: header: unexpected key 'descr: ' (expected exactly 'descr', 'fortran_order' and 'shape')")
    hdr = "{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3,), }"
    bad["escape"] = (npy_raw(hdr, r1.tobytes()),
                     f"{F}: header: the string at byte {hdr.index('<') - 1} is not closed, or has an escape or a newline")
    hdr = (H % "(3,)") + " x\n"
    bad["text_after_dict"] = (npy_raw(hdr, r1.tobytes()), f"{F}: header: expected the end of the header after the dict at byte {hdr.index('x')}, found 'x'")
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)   \n"
    bad["unclosed_dict"] = (npy_raw(hdr, r1.tobytes()),
                            f"{F}: header: expected ',' or '}}' in the dict at byte {len(hdr)}, found the end of the header")
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\0"
    bad["nul_in_header"] = (npy_raw(hdr, r1.tobytes()), f"{F}: header: expected the end of the header after the dict at byte {hdr.index(chr(0))}, found byte 0x00")
    bad["truncated"] = (npy_save(a23)[:-5], f"{F}: truncated: shape [2, 3] of '<f4' needs 24 bytes of data, found 19")
    bad["truncated_f8"] = (npy_save(a23.astype("<f8"))[:-1], f"{F}: truncated: shape [2, 3] of '<f8' needs 48 bytes of data, found 47")
    bad["trailing"] = (npy_save(a23) + b"\0" * 4,
                       f"{F}: 4 bytes after the data: shape [2, 3] of '<f4' needs 24 bytes, found 28")
    bad["f8_out_of_range"] = (npy_save(np.array([1.0, 1e39])), f"{F}: element 1 is 1e+39, outside float32's range")

    for name, (data, msg) in bad.items():
        fname = name + ".npy"
        write(os.path.join(d, fname), data)
        write_text(os.path.join(d, name + ".err"), msg.replace("{f}", fname) + "\n")
    return len(good), len(bad)


# ---- .npy read as int32 --------------------------------------------------------

def npy_int_dump(a):
    shape = "[" + ", ".join(str(d) for d in a.shape) + "]"
    return f"shape {shape}\n" + "".join("%d\n" % int(v) for v in np.asarray(a).reshape(-1))


def gen_npy_int():
    """Token ids, lengths and labels: every integer dtype NumPy writes, and
    floats holding whole numbers; a value outside int32, or a fraction, is
    an error naming the element."""
    d = os.path.join(CORPUS, "npy_int")
    shutil.rmtree(d, ignore_errors=True)
    lo, hi = -2**31, 2**31 - 1
    good = {
        "i4": np.array([[0, 1, -2], [hi, lo, 7]], "<i4"),
        "i8": np.array([0, -1, hi, lo], "<i8"),
        "i2": np.array([-32768, 32767, 5], "<i2"),
        "i1": np.array([-128, 127, 0], "|i1"),
        "u1": np.array([0, 255, 17], "|u1"),
        "u2": np.array([65535, 0], "<u2"),
        "u4": np.array([hi, 0], "<u4"),
        "u8": np.array([hi, 3], "<u8"),
        "f4": np.array([1, -0.0, 16777216, lo], "<f4"),
        "f8": np.array([hi, lo, 12, -0.0], "<f8"),
        "rank0": np.array(7, "<i8"),
        "zero_elements": np.zeros((0, 3), "<i8"),
        # Past the reader's 8 KiB chunks: converted a chunk at a time.
        "long_i8": np.arange(2500, dtype="<i8") * 1000 - 1250000,
        "long_u1": (np.arange(9000) % 251).astype("|u1"),
    }
    files = {name: npy_save(a) for name, a in good.items()}
    files["v2"] = npy_save(good["i8"], (2, 0))
    for name, data in files.items():
        write(os.path.join(d, name + ".npy"), data)
        write_text(os.path.join(d, name + ".out"), npy_int_dump(good.get(name, good["i8"])))

    F = "{f}"
    long_bad = np.arange(2500, dtype="<i8")
    long_bad[2400] = 2**40
    bad = {
        "i8_high": (npy_save(np.array([1, 2**31], "<i8")), f"{F}: element 1 is 2147483648, outside int32's range"),
        "i8_low": (npy_save(np.array([-2**31 - 1], "<i8")), f"{F}: element 0 is -2147483649, outside int32's range"),
        "u4_high": (npy_save(np.array([0, 0, 2**32 - 1], "<u4")), f"{F}: element 2 is 4294967295, outside int32's range"),
        "u8_high": (npy_save(np.array([2**64 - 1], "<u8")), f"{F}: element 0 is 18446744073709551615, outside int32's range"),
        "long_high": (npy_save(long_bad), f"{F}: element 2400 is 1099511627776, outside int32's range"),
        "f8_fraction": (npy_save(np.array([[1, 2], [2.5, 3]])), f"{F}: element 2 is 2.5, not a whole number"),
        "f8_near": (npy_save(np.array([2147483647.5])), f"{F}: element 0 is 2147483647.5, not a whole number"),
        "f8_nan": (npy_save(np.array([0, np.nan])), f"{F}: element 1 is nan, not a whole number"),
        "f8_inf": (npy_save(np.array([-np.inf])), f"{F}: element 0 is -inf, outside int32's range"),
        "f4_high": (npy_save(np.array([2**31], "<f4")), f"{F}: element 0 is 2147483648, outside int32's range"),
        "big_endian": (npy_save(np.array([1, 2], ">i4")),
                       f"{F}: dtype '>i4' is big-endian (expected integers, or '<f4' or '<f8' holding whole numbers; x.astype('<i4') converts)"),
        "bool": (npy_save(np.array([True, False])),
                 f"{F}: dtype '|b1' is not supported (expected an integer dtype ('|i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4' or '<u8'), or '<f4' or '<f8' holding whole numbers)"),
        "f2": (npy_save(np.array([1, 2], "<f2")),
               f"{F}: dtype '<f2' is not supported (expected an integer dtype ('|i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4' or '<u8'), or '<f4' or '<f8' holding whole numbers)"),
        "object": (npy_raw("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8),
                   f"{F}: dtype '|O' is an object array (expected integers, or '<f4' or '<f8' holding whole numbers)"),
        "structured": (npy_save(np.zeros(2, dtype=[("a", "<i4")])),
                       f"{F}: a structured dtype (a list of fields) is not supported (expected integers, or '<f4' or '<f8' holding whole numbers)"),
        "fortran": (npy_save(np.asfortranarray(good["i4"])),
                    f"{F}: the array is in Fortran order (expected C order; np.ascontiguousarray(x) converts)"),
        "truncated": (npy_save(good["i8"])[:-3], f"{F}: truncated: shape [4] of '<i8' needs 32 bytes of data, found 29"),
        "trailing": (npy_save(good["u1"]) + b"\0", f"{F}: 1 bytes after the data: shape [3] of '|u1' needs 3 bytes, found 4"),
    }
    for name, (data, msg) in bad.items():
        fname = name + ".npy"
        write(os.path.join(d, fname), data)
        write_text(os.path.join(d, name + ".err"), msg.replace("{f}", fname) + "\n")
    return len(files), len(bad)


# ---- the fake model ---------------------------------------------------------------

FAKE_TENSORS = [("fc1.weight", (6, 4)), ("fc1.bias", (6,)), ("head.weight", (3, 6)), ("head.bias", (3,)),
                ("arm_then.weight", (6, 6)), ("arm_then.bias", (6,)), ("arm_else.weight", (6, 6)),
                ("arm_else.bias", (6,)), ("policy.weight", (2, 6)), ("policy.bias", (2,)),
                ("fc3.weight", (4, 6)), ("fc3.bias", (4,)), ("router.weight", (2, 4)), ("router.bias", (2,)),
                ("experts.0.weight", (3, 4)), ("experts.0.bias", (3,)), ("experts.1.weight", (3, 4)),
                ("experts.1.bias", (3,))]
DEFAULTS = {"t1": 0.8, "tg": 0.5, "tb": 0.5}
DENSE_FLOPS = 2 * 4 * 6 + 2 * 6 * 3 + 2 * 6 * 6 + 2 * 6 * 2 + 2 * 6 * 4 + 2 * 4 * 2 + 2 * 4 * 3


def softmax(z):
    e = np.exp(z - z.max())
    return (e / e.sum()).astype(np.float32)


def fake_run1(W, x, th, force_exit=None, force_gate=None):
    """fake_model.c's fakenet_run1 in NumPy float32: (y, exit, slots, flops, margins)."""
    f32_ = np.float32
    margins = []
    slots = [-1, -1, -1, -1]
    h1 = np.maximum(W["fc1.weight"] @ x + W["fc1.bias"], 0).astype(f32_)
    p = softmax((W["head.weight"] @ h1 + W["head.bias"]).astype(f32_))
    flops = 2 * 4 * 6 + 2 * 6 * 3
    if force_exit is None:
        margins.append(abs(float(p.max()) - th["t1"]))
    if force_exit == 0 or (force_exit is None and p.max() >= f32_(th["t1"])):
        return p, "exit0", slots, flops, margins
    mean = h1.sum(dtype=f32_) / f32_(6)
    if force_gate is None:
        margins.append(abs(float(mean) - th["tg"]))
    arm = force_gate if force_gate is not None else int(mean > f32_(th["tg"]))
    slots[0] = arm
    w = "arm_then" if arm else "arm_else"
    h2 = np.maximum(W[w + ".weight"] @ h1 + W[w + ".bias"], 0).astype(f32_)
    flops += 2 * 6 * 6
    score = (W["policy.weight"] @ h2 + W["policy.bias"]).astype(f32_)
    flops += 2 * 6 * 2
    h3 = np.zeros(4, f32_)
    for j in range(2):
        s = f32_(1) / (f32_(1) + np.exp(-score[j]))
        margins.append(abs(float(s) - th["tb"]))
        on = int(s >= f32_(th["tb"]))
        slots[1 + j] = on
        if on:
            rows = slice(2 * j, 2 * j + 2)
            h3[rows] = W["fc3.weight"][rows] @ h2 + W["fc3.bias"][rows]
            flops += 2 * 6 * 2
    h3 = np.maximum(h3, 0)
    r = (W["router.weight"] @ h3 + W["router.bias"]).astype(f32_)
    margins.append(abs(float(r[1] - r[0])))
    k = int(r[1] > r[0])
    slots[3] = k
    y = softmax((W[f"experts.{k}.weight"] @ h3 + W[f"experts.{k}.bias"]).astype(f32_))
    flops += 2 * 4 * 2 + 2 * 4 * 3
    return y, "end", slots, flops, margins


def ledger_line(i, exit_, slots, flops):
    rec = {"input": i, "exit": exit_, "flops": flops, "dense_flops": DENSE_FLOPS,
           "gates": {"gate0": None if slots[0] < 0 else slots[0]},
           "routes": {"experts": None if slots[3] < 0 else [slots[3]]},
           "blocks": {"fc3": None if slots[1] < 0 or slots[2] < 0 else slots[1:3]}}
    return json.dumps(rec)


# The runs the lit tests make: name -> (thresholds set, --force-exit, --force-gate gate0).
RUNS = {"default": ({}, None, None), "t1": ({"t1": 0.95}, None, None),
        "tg": ({"tg": 0.05, "tb": 0.3}, None, None), "never": ({}, "never", None),
        "exit0": ({}, 0, None), "then": ({}, None, 1), "else": ({}, "never", 0)}


def gen_fake():
    d = os.path.join(CORPUS, "fake")
    shutil.rmtree(d, ignore_errors=True)
    rng = np.random.default_rng(20261122)
    # Weights k/64 and inputs k/16: products and short sums are exact in
    # float32, so C and NumPy agree bit for bit up to the exps.  F16 and
    # BF16 hold these weights exactly, too.
    for attempt in range(1000):
        W = {n: (rng.integers(-96, 97, size=s) / 64).astype(np.float32) for n, s in FAKE_TENSORS}
        X = (rng.integers(-32, 33, size=(64, 4)) / 16).astype(np.float32)
        ok = []
        for x in X:
            margins = [m for over, fe, fg in RUNS.values()
                       for m in fake_run1(W, x, dict(DEFAULTS, **over), fe, fg)[4]]
            if min(margins) > 2e-3:
                ok.append(x)
        if len(ok) < 12:
            continue
        X = np.array(ok[:12], np.float32)
        res = {}
        for name, (over, fe, fg) in RUNS.items():
            out = [fake_run1(W, x, dict(DEFAULTS, **over), fe, fg) for x in X]
            res[name] = (np.array([o[0] for o in out], np.float32),
                         [ledger_line(i, o[1], o[2], o[3]) for i, o in enumerate(out)],
                         [o[3] for o in out], [o[1] for o in out])
        # Variety: some inputs exit and some do not; both arms, both experts,
        # active and skipped blocks, in the default run.
        _, lines, _, exits = res["default"]
        recs = [json.loads(l) for l in lines]
        gates = {r["gates"]["gate0"] for r in recs}
        experts = {tuple(r["routes"]["experts"] or ()) for r in recs}
        blocks = {tuple(r["blocks"]["fc3"] or ()) for r in recs}
        if (3 <= exits.count("exit0") <= 8 and {0, 1, None} <= gates and {(0,), (1,)} <= experts
                and len(blocks) >= 3 and res["t1"][3].count("exit0") < exits.count("exit0")
                and res["tg"][1] != lines):
            break
    else:
        sys.exit("gen_fixtures.py: no weights gave every kind of decision")

    tensors = [(n, "F32", list(W[n].shape), W[n].astype("<f4").tobytes()) for n, _ in FAKE_TENSORS]
    write(os.path.join(d, "weights.safetensors"), st_file(tensors))
    write(os.path.join(d, "weights_f16.safetensors"),
          st_file([(n, "F16", s, W[n].astype("<f2").tobytes()) for n, _, s, _ in tensors]))
    write(os.path.join(d, "weights_f64.safetensors"),
          st_file([(n, "F64", s, W[n].astype("<f8").tobytes()) for n, _, s, _ in tensors]))
    bf = lambda a: (a.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    write(os.path.join(d, "weights_bf16.safetensors"), st_file([(n, "BF16", s, bf(W[n])) for n, _, s, _ in tensors]))
    # A PyTorch-like state_dict with more than the model uses.
    write(os.path.join(d, "weights_extra.safetensors"),
          st_file(tensors + [("num_batches_tracked", "I64", [], np.array([7], "<i8").tobytes()),
                             ("unused.weight", "F32", [2], f32(1, 2))],
                  meta={"format": "pt"}))
    # Broken variants, one problem each.
    write(os.path.join(d, "missing.safetensors"), st_file([t for t in tensors if t[0] != "fc3.bias"]))
    write(os.path.join(d, "misspelled.safetensors"),
          st_file([(("fc3.biases" if t[0] == "fc3.bias" else t[0]),) + t[1:] for t in tensors]))
    write(os.path.join(d, "prefixed.safetensors"), st_file([("module." + t[0],) + t[1:] for t in tensors]))
    write(os.path.join(d, "transposed.safetensors"),
          st_file([(t[0], "F32", [4, 6], W["fc1.weight"].T.copy().tobytes()) if t[0] == "fc1.weight" else t
                   for t in tensors]))
    write(os.path.join(d, "int_bias.safetensors"),
          st_file([(t[0], "I32", [6], np.zeros(6, "<i4").tobytes()) if t[0] == "fc1.bias" else t for t in tensors]))
    good = st_file(tensors)
    write(os.path.join(d, "broken_header.safetensors"), good[:8] + b"[" + good[9:])
    write(os.path.join(d, "truncated.safetensors"), good[:-10])

    write(os.path.join(d, "x.npy"), npy_save(X))
    write(os.path.join(d, "x_f8.npy"), npy_save(X.astype(np.float64)))
    write(os.path.join(d, "x1.npy"), npy_save(X[0].copy()))
    write(os.path.join(d, "x_empty.npy"), npy_save(np.zeros((0, 4), np.float32)))
    write(os.path.join(d, "x_wrong_shape.npy"), npy_save(np.zeros((10, 3), np.float32)))
    write(os.path.join(d, "x_rank3.npy"), npy_save(np.zeros((2, 2, 4), np.float32)))
    write(os.path.join(d, "x_truncated.npy"), npy_save(X)[:-7])
    write(os.path.join(d, "x_int.npy"), npy_save(X.astype(np.int32)))
    ydef = res["default"][0]
    labels = ydef.argmax(1).astype(np.float32)
    labels[[1, 4, 7]] = (labels[[1, 4, 7]] + 1) % 3          # three wrong: accuracy 0.75
    write(os.path.join(d, "labels.npy"), npy_save(labels))
    write(os.path.join(d, "labels_short.npy"), npy_save(labels[:11].copy()))
    lf = labels.copy()
    lf[2] = 1.5
    write(os.path.join(d, "labels_fraction.npy"), npy_save(lf))
    lf = labels.copy()
    lf[5] = 3
    write(os.path.join(d, "labels_range.npy"), npy_save(lf))
    for name, (ys, lines, flops, exits) in res.items():
        write(os.path.join(d, f"y_{name}.npy"), npy_save(ys))
        write_text(os.path.join(d, f"ledger_{name}.jsonl"), "".join(l + "\n" for l in lines))
    write(os.path.join(d, "y1.npy"), npy_save(ydef[0].copy()))

    # What the lit tests check, for reference.
    with open(os.path.join(d, "README.txt"), "w") as f:
        f.write("fakenet fixtures, written by gen_fixtures.py; the runs:\n")
        for name, (ys, lines, flops, exits) in res.items():
            f.write(f"{name}: {RUNS[name]}: mean flops {np.mean(flops):.4f}, "
                    f"exit0 {exits.count('exit0')}, end {exits.count('end')}\n")
        f.write(f"labels: accuracy {(ydef.argmax(1) == labels).mean():.4f}\n")
    return attempt


def main():
    st = gen_safetensors()
    npy = gen_npy()
    npy_int = gen_npy_int()
    attempt = gen_fake()
    print(f"safetensors: {st[0]} good, {st[1]} broken; npy: {npy[0]} good, {npy[1]} broken; "
          f"npy_int: {npy_int[0]} good, {npy_int[1]} broken; fake weights after {attempt + 1} draws")


if __name__ == "__main__":
    main()
