#!/usr/bin/python3
"""ref_forward: a plain float64 numpy forward pass of a BitNet GGUF model (architectures
`bitnet`, `bitnet-b1.58`/`bitnet-25` and ternary `llama`), written from docs/FORMATS.md only, as
a third opinion next to our engine and llama.cpp (which cannot run bitnet-b1.58, I2_S or the
per-linear input norms at all).

It reads the file with gguf-py, dequantizes every weight to float64 (gguf-py's own dequantizers
for F32/F16/BF16/Q8_0/TQ1_0/TQ2_0; I2_S, which upstream gguf-py does not know, decoded here) and
computes, with no activation quantization:
  x = token_embd[ids]
  per layer: h = RMSNorm(x, attn_norm); Q,K,V = Wq h, Wk h, Wv h; NEOX RoPE on Q,K (the file's
             rope base and rotary dimension count); causal GQA attention, scale 1/sqrt(head_dim);
             a = RMSNorm(a, attn_sub_norm); x += Wo a
             h = RMSNorm(x, ffn_norm); f = act(Wgate h) * (Wup h) (act = SiLU for bitnet,
             relu^2 for bitnet-b1.58); f = RMSNorm(f, ffn_sub_norm); x += Wdown f
  logits = head(RMSNorm(x, output_norm)), head = output.weight or the tied token_embd.
Optional 1-element `blk.N.<name>.scale` tensors multiply the matmul they belong to.
Architecture `llama`: SiLU, no sub-norms, NORMAL RoPE (dimension 2i paired with 2i+1) instead
of NEOX, each angle times 1/rope.scaling.factor (linear scaling) and divided by
rope_freqs.weight[i] when present; a linear with `blk.N.<name>_in_norm.weight` reads
RMSNorm(its input) * that weight (the per-linear input norms of the Falcon-E layout).

Usage: ref_forward.py --model M --tokens 1,2,3 --out F.bin        (float32 [n_tokens][n_vocab])
       ref_forward.py --model M --tokens 1,2,3 --compare OURS.bin [--min-cosine 0.99999]
         compares with another logits file: prints min cosine and top-1 agreement per position;
         exit 1 when any position has a cosine below the threshold or a different top-1.
Needs PYTHONPATH=.cache/reference/llama.cpp/gguf-py (gguf-py) and numpy.
"""
import argparse
import sys

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as QT
except ImportError:
    sys.exit("ref_forward: gguf-py not importable: set PYTHONPATH=.cache/reference/llama.cpp/gguf-py")

I2_S_TYPE_ID = 36          # Microsoft's fork; upstream gguf-py has no such type
I2_S_BLOCK = 128           # weights per 32-byte block (x86 layout)
I2_S_TRAILER = 32          # bytes after the codes; the first 4 hold the f32 tensor scale
BITNET_ARCHES = {"bitnet": "silu", "bitnet-b1.58": "relu2", "bitnet-25": "relu2", "llama": "silu"}


# ----------------------------------------------------------------------------- reading

class BitnetReader(gguf.GGUFReader):
    """GGUFReader that also accepts I2_S tensors (raw bytes kept in self.i2s: name -> (ne, bytes))."""

    def _get(self, offset, dtype, count=1, override_order=None):
        # gguf-py slices its np.memmap once per field part; with a 128256-token vocabulary the
        # memmap bookkeeping of those ~4M slices (__array_finalize__) was ~10 of a 12 s load.
        # A plain ndarray view of the same mapping holds the same bytes without it.
        if type(self.data) is np.memmap:
            self.data = self.data.view(np.ndarray)
        return super()._get(offset, dtype, count, override_order)

    def _get_field_parts(self, orig_offs, raw_type):
        # Arrays of strings or numbers (the tokenizer's 128256 tokens, their types and ~280k
        # merges) are stepped over and kept with no items: nothing here reads an array field,
        # and gguf-py's parts per item were ~6 s of each ~7 s load. Other fields parse as before.
        if raw_type != gguf.GGUFValueType.ARRAY:
            return super()._get_field_parts(orig_offs, raw_type)
        raw_itype = self._get(orig_offs, np.uint32)
        itype, alen = int(raw_itype[0]), self._get(orig_offs + 4, np.uint64)
        n, offs, end = int(alen[0]), orig_offs + 12, self.data.nbytes
        if itype == gguf.GGUFValueType.STRING:
            order = "big" if self.byte_order == "S" else "little"  # "S": the file's order is swapped
            view = memoryview(self.data)
            for _ in range(n):
                if offs + 8 > end:
                    raise ValueError("string array at offset %d runs past the end of the file" % orig_offs)
                offs += 8 + int.from_bytes(view[offs:offs + 8], order)
        elif itype in self.gguf_scalar_to_np:
            offs += n * np.dtype(self.gguf_scalar_to_np[itype]).itemsize
        else:
            return super()._get_field_parts(orig_offs, raw_type)
        if offs > end:
            raise ValueError("array at offset %d runs past the end of the file" % orig_offs)
        return offs - orig_offs, [raw_itype, alen], [], [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType(itype)]

    def _build_tensors(self, start_offs, fields):
        self.i2s = {}
        others = []
        for field in fields:
            _, name_data, _, dims, raw_dtype, offset = field.parts
            if int(raw_dtype[0]) != I2_S_TYPE_ID:
                others.append(field)
                continue
            ne = [int(d) for d in dims.tolist()]
            n = int(np.prod(ne))
            nbytes = n // 4 + I2_S_TRAILER
            data = self._get(int(start_offs + offset[0]), np.uint8, nbytes)
            self.i2s[str(bytes(name_data), "utf-8")] = (ne, data)
        super()._build_tensors(start_offs, others)


def decode_i2s(ne, data):
    """I2_S -> float64 [ne1, ne0]: 2-bit codes (0,1,2 = -1,0,+1), blocks of 128 weights in 32
    bytes, weight j of a block in byte j % 32 at shift 6 - 2*(j // 32); one f32 scale after the
    codes."""
    k, m = ne[0], ne[1] if len(ne) > 1 else 1
    n = k * m
    if k % I2_S_BLOCK:
        raise ValueError("I2_S row length %d is not a multiple of %d" % (k, I2_S_BLOCK))
    codes_bytes = np.asarray(data[: n // 4]).reshape(-1, 32)
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8).reshape(1, 4, 1)
    codes = (codes_bytes[:, None, :] >> shifts) & 3          # [blocks, group, byte] -> j = 32*g + b
    if (codes == 3).any():
        raise ValueError("I2_S tensor holds code 3, which is not a ternary value")
    scale = float(np.frombuffer(np.asarray(data[n // 4: n // 4 + 4]).tobytes(), dtype="<f4")[0])
    return ((codes.reshape(-1).astype(np.float64) - 1.0) * scale).reshape(m, k)


class Model:
    def __init__(self, path):
        self.reader = BitnetReader(path)
        self.tensors = {t.name: t for t in self.reader.tensors}
        self.arch = self.field_str("general.architecture")
        if self.arch not in BITNET_ARCHES:
            raise ValueError("%s: architecture %r is not a BitNet one" % (path, self.arch))
        self.act = BITNET_ARCHES[self.arch]
        self.n_embd = self.key_int("embedding_length")
        self.n_layer = self.key_int("block_count")
        self.n_head = self.key_int("attention.head_count")
        self.n_head_kv = self.key_int("attention.head_count_kv", self.n_head)
        self.eps = self.key_float("attention.layer_norm_rms_epsilon", 1e-5)
        self.rope_base = self.key_float("rope.freq_base", 10000.0)
        self.head_dim = self.n_embd // self.n_head
        self.n_rot = self.key_int("rope.dimension_count", self.head_dim)
        self.llama = self.arch == "llama"
        scaling = self.field_str("%s.rope.scaling.type" % self.arch) or "linear"
        if scaling not in ("linear", "none"):
            raise ValueError("RoPE scaling %r is not implemented" % scaling)
        factor = self.key_float("rope.scaling.factor", 0.0)
        self.freq_scale = 1.0 / factor if factor else 1.0
        self.rope_freqs = self.weight("rope_freqs.weight") if self.has("rope_freqs.weight") else None

    def field_str(self, key):
        f = self.reader.fields.get(key)
        return f.contents() if f is not None else None

    def key_int(self, suffix, default=None):
        f = self.reader.fields.get("%s.%s" % (self.arch, suffix))
        if f is None:
            if default is None:
                raise ValueError("missing key %s.%s" % (self.arch, suffix))
            return default
        return int(f.contents())

    def key_float(self, suffix, default):
        f = self.reader.fields.get("%s.%s" % (self.arch, suffix))
        return float(f.contents()) if f is not None else default

    def has(self, name):
        return name in self.tensors or name in self.reader.i2s

    def weight(self, name):
        """float64 [ne1, ne0] (or [ne0] for 1-D tensors)."""
        if name in self.reader.i2s:
            return decode_i2s(*self.reader.i2s[name])
        t = self.tensors.get(name)
        if t is None:
            raise ValueError("missing tensor %s" % name)
        ne = [int(d) for d in t.shape.tolist()]
        x = gguf.quants.dequantize(t.data, QT(t.tensor_type)).astype(np.float64)
        return x.reshape(list(reversed(ne))) if len(ne) > 1 else x.reshape(-1)


# ----------------------------------------------------------------------------- forward

def rms_norm(x, g, eps):
    """x: [n, d] (each row normalized), g: [d]."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g


def rope(x, positions, n_rot, base, neox=True, freq_scale=1.0, factors=None):
    """x: [n_tokens, n_heads, head_dim]; rotates the first n_rot dims of each head by the angle
    pos * base^(-2i/n_rot) * freq_scale / factors[i] of pair i: NEOX pairs dimension i with
    i + n_rot/2, NORMAL pairs 2i with 2i + 1."""
    half = n_rot // 2
    inv_freq = base ** (-np.arange(half, dtype=np.float64) * 2.0 / n_rot) * freq_scale
    if factors is not None:
        inv_freq = inv_freq / factors.astype(np.float64)
    ang = positions[:, None].astype(np.float64) * inv_freq[None, :]      # [n, half]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    out = x.copy()
    if neox:
        i0, i1 = slice(0, half), slice(half, n_rot)
    else:
        i0, i1 = slice(0, n_rot, 2), slice(1, n_rot, 2)
    x0, x1 = x[..., i0], x[..., i1]
    out[..., i0] = x0 * cos - x1 * sin
    out[..., i1] = x0 * sin + x1 * cos
    return out


def attention(q, k, v, n_head_kv):
    """q: [n, H, hd], k/v: [n, Hkv, hd]; causal softmax(q k^T / sqrt(hd)) v -> [n, H*hd]."""
    n, n_head, hd = q.shape
    group = n_head // n_head_kv
    mask = np.triu(np.full((n, n), -np.inf), 1)
    out = np.empty_like(q)
    for h in range(n_head):
        kh, vh = k[:, h // group, :], v[:, h // group, :]
        s = q[:, h, :] @ kh.T / np.sqrt(hd) + mask
        p = np.exp(s - s.max(axis=1, keepdims=True))
        out[:, h, :] = (p / p.sum(axis=1, keepdims=True)) @ vh
    return out.reshape(n, n_head * hd)


def activation(g, kind):
    return g / (1.0 + np.exp(-g)) if kind == "silu" else np.square(np.maximum(g, 0.0))


def forward(m, ids):
    ids = np.asarray(ids)
    emb = m.weight("token_embd.weight")                      # [n_vocab, n_embd]
    if ids.max() >= emb.shape[0]:
        raise ValueError("token id %d is not below the vocabulary size %d" % (ids.max(), emb.shape[0]))
    x = emb[ids].copy()
    pos = np.arange(len(ids))
    n, hd = len(ids), m.head_dim

    def linear(layer, name, h):
        prefix = "blk.%d.%s" % (layer, name)
        if m.has(prefix + "_in_norm.weight"):
            h = rms_norm(h, m.weight(prefix + "_in_norm.weight"), m.eps)
        y = h @ m.weight(prefix + ".weight").T
        if m.has(prefix + ".scale"):
            y = y * m.weight(prefix + ".scale").reshape(-1)[0]
        return y

    for L in range(m.n_layer):
        w = lambda nm: m.weight("blk.%d.%s.weight" % (L, nm))  # noqa: E731
        h = rms_norm(x, w("attn_norm"), m.eps)
        q = linear(L, "attn_q", h).reshape(n, m.n_head, hd)
        k = linear(L, "attn_k", h).reshape(n, m.n_head_kv, hd)
        v = linear(L, "attn_v", h).reshape(n, m.n_head_kv, hd)
        q = rope(q, pos, m.n_rot, m.rope_base, not m.llama, m.freq_scale, m.rope_freqs)
        k = rope(k, pos, m.n_rot, m.rope_base, not m.llama, m.freq_scale, m.rope_freqs)
        a = attention(q, k, v, m.n_head_kv)
        if not m.llama:
            a = rms_norm(a, w("attn_sub_norm"), m.eps)
        x = x + linear(L, "attn_output", a)
        h = rms_norm(x, w("ffn_norm"), m.eps)
        f = activation(linear(L, "ffn_gate", h), m.act) * linear(L, "ffn_up", h)
        if not m.llama:
            f = rms_norm(f, w("ffn_sub_norm"), m.eps)
        x = x + linear(L, "ffn_down", f)

    x = rms_norm(x, m.weight("output_norm.weight"), m.eps)
    head = m.weight("output.weight") if m.has("output.weight") else emb
    return x @ head.T                                         # [n_tokens, n_vocab]


# ----------------------------------------------------------------------------- comparison

def compare(ref, other, min_cosine):
    """Prints per-position figures; returns True when every position passes."""
    ok = True
    cos_all = []
    for p in range(ref.shape[0]):
        a, b = ref[p], other[p].astype(np.float64)
        cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        cos_all.append(cos)
        same = int(a.argmax()) == int(b.argmax())
        if cos < min_cosine or not same:
            ok = False
            print("position %d: cosine %.9f, top-1 ref %d vs %d, max|diff| %.3g"
                  % (p, cos, a.argmax(), b.argmax(), np.abs(a - b).max()))
    top1 = np.mean(ref.argmax(1) == other.argmax(1))
    print("min cosine %.9f (position %d), top-1 agreement %.3f over %d positions"
          % (min(cos_all), int(np.argmin(cos_all)), top1, ref.shape[0]))
    return ok


def main(argv):
    p = argparse.ArgumentParser(description="float64 numpy reference forward pass of a BitNet GGUF")
    p.add_argument("--model", required=True)
    p.add_argument("--tokens", required=True)
    p.add_argument("--out")
    p.add_argument("--compare")
    p.add_argument("--min-cosine", type=float, default=0.99999)
    a = p.parse_args(argv)
    if not a.out and not a.compare:
        p.error("give --out and/or --compare")
    try:
        ids = [int(t) for t in a.tokens.split(",")]
    except ValueError:
        p.error("--tokens: expected a comma-separated list of ids")
    try:
        logits = forward(Model(a.model), ids)
    except (ValueError, KeyError, OSError) as e:
        sys.exit("ref_forward: %s" % e)
    if a.out:
        logits.astype("<f4").tofile(a.out)
    if a.compare:
        other = np.fromfile(a.compare, dtype="<f4")
        if other.size != logits.size:
            sys.exit("ref_forward: %s holds %d floats, expected %d x %d"
                     % (a.compare, other.size, logits.shape[0], logits.shape[1]))
        return 0 if compare(logits, other.reshape(logits.shape), a.min_cosine) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
