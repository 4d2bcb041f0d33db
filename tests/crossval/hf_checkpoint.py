#!/usr/bin/python3
"""hf_checkpoint: small Hugging Face BitNet checkpoints for the converter tests, and a float64
numpy forward pass of such a checkpoint, both written from the Hugging Face facts (FORMATS.md
"Hugging Face checkpoints", transformers' modeling code) and independent of our C code and of
tests/crossval/ref_forward.py (which reads GGUF files).

    hf_checkpoint.py write LAYOUT DIR --tokenizer tokenizer.json [--seed N] [--shards 2]
    hf_checkpoint.py write LAYOUT DIR --spm-vocab VOCAB.gguf ...     (a SentencePiece tokenizer.model
                     made from a llama.cpp vocabulary GGUF's pieces, scores and types, instead)
    hf_checkpoint.py rope DIR JSON [--parameters]   (sets config.json's rope_scaling, e.g.
                     '{"rope_type": "llama3", "factor": 8, ...}' or '{"type": "linear", "factor": 4}';
                     --parameters: transformers v5's form, rope_parameters holding rope_theta too)
    hf_checkpoint.py forward DIR --tokens 1,2,3 --out LOGITS.bin     (float32 [n_tokens][n_vocab])

Layouts (safetensors written here with numpy: 8-byte header length, JSON header, data):
  b158-packed   BitNetForCausalLM relu2, quantization_mode offline: U8 [out/4, in] packed
                ternary + BF16 weight_scale that MULTIPLIES (AutoBitLinear), tied head
  b158-bf16     BitNetForCausalLM relu2, BF16 master weights (quantization_mode online)
  bitnet-fp16   BitnetForCausalLM silu (1bitLLM): FP16 masters, inner_attn_ln / ffn_layernorm
  llama-packed  LlamaForCausalLM + bitnet quantization_config: packed U8 + F32 weight_scale that
                DIVIDES (BitLinear), untied lm_head, 2 shards with an index
  llama-innorm  the same with use_rms_norm: an RMSNorm (<proj>.rms_norm.weight) on each
                linear's input
Shapes: hidden 256, 2 layers, 2 heads of 128, 1 KV head, FFN 512, the tokenizer's 128256 tokens.

The forward pass has no activation quantization (`bitnet logits --act-quant none` numerics):
weights are ternary values times their scale (packed: code - 1; masters: absmean,
beta = mean|W|, t = clamp(round(W / beta), -1, 1)); HF rotary embedding (rotate_half: dim i
paired with i + head_dim/2) on Q and K as stored, with transformers' RoPE scaling where the
config has one (linear: every inverse frequency divided by the factor; llama3: those of
wavelength above original_max_position_embeddings / low_freq_factor divided by the factor,
those below original_max_position_embeddings / high_freq_factor kept, and between them
(1 - s) inv / factor + s inv with s = (original_max_position_embeddings / wavelength -
low_freq_factor) / (high_freq_factor - low_freq_factor)); causal GQA attention; sub-norms for the BitNet
families; relu^2 or SiLU gating; tied or separate head.
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, CTX = 256, 2, 2, 1, 512, 256
EPS, ROPE_BASE = 1e-5, 10000.0
LINEARS = [("self_attn.q_proj", HIDDEN, HIDDEN), ("self_attn.k_proj", HIDDEN, KV_HEADS * HIDDEN // HEADS),
           ("self_attn.v_proj", HIDDEN, KV_HEADS * HIDDEN // HEADS), ("self_attn.o_proj", HIDDEN, HIDDEN),
           ("mlp.gate_proj", HIDDEN, FFN), ("mlp.up_proj", HIDDEN, FFN), ("mlp.down_proj", FFN, HIDDEN)]
LAYOUTS = {
    # name: (architectures, hidden_act, quantization_config or None, packed, float dtype, tied)
    "b158-packed": ("BitNetForCausalLM", "relu2",
                    {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "offline"},
                    True, "BF16", True),
    "b158-bf16": ("BitNetForCausalLM", "relu2",
                  {"quant_method": "bitnet", "linear_class": "autobitlinear", "quantization_mode": "online"},
                  False, "BF16", True),
    "bitnet-fp16": ("BitnetForCausalLM", "silu", None, False, "F16", True),
    "llama-packed": ("LlamaForCausalLM", "silu", {"quant_method": "bitnet", "linear_class": "bitlinear",
                                                  "quantization_mode": "offline"}, True, "BF16", False),
    "llama-innorm": ("LlamaForCausalLM", "silu", {"quant_method": "bitnet", "linear_class": "bitlinear",
                                                  "quantization_mode": "offline", "use_rms_norm": True,
                                                  "rms_norm_eps": EPS}, True, "BF16", False),
}


# ----------------------------------------------------------------------------- safetensors

def to_bf16_bytes(a):
    """float -> bfloat16 bytes, round to nearest even."""
    u = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype("<u2").tobytes()


def from_bf16(raw):
    return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)


def encode(a, dtype):
    if dtype == "BF16":
        return to_bf16_bytes(a)
    if dtype == "F16":
        return np.asarray(a, dtype="<f2").tobytes()
    if dtype == "F32":
        return np.asarray(a, dtype="<f4").tobytes()
    if dtype == "U8":
        return np.asarray(a, dtype=np.uint8).tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        raw = blob[8 + n + b: 8 + n + en]
        dt = e["dtype"]
        if dt == "BF16":
            a = from_bf16(raw)
        elif dt == "U8":
            a = np.frombuffer(raw, dtype=np.uint8)
        else:
            a = np.frombuffer(raw, dtype={"F16": "<f2", "F32": "<f4"}[dt])
        out[name] = a.reshape(e["shape"])
    return out


# ----------------------------------------------------------------------------- writing

def pack_ternary(t):
    """t: int [out, in] in {-1,0,1} -> U8 [out/4, in]; row r + i*out/4 in bits 2i..2i+1."""
    q = t.shape[0] // 4
    codes = (t + 1).astype(np.uint8)
    packed = np.zeros((q, t.shape[1]), dtype=np.uint8)
    for i in range(4):
        packed |= codes[i * q:(i + 1) * q] << (2 * i)
    return packed


def build(layout, rng, vocab):
    arch, act, qcfg, packed, fdt, tied = LAYOUTS[layout]
    llama = arch == "LlamaForCausalLM"
    tensors = []

    def add(name, dtype, a):
        tensors.append((name, dtype, a.shape, encode(a, dtype)))

    def norm(n):
        return rng.uniform(0.8, 1.2, n).astype(np.float32)

    add("model.embed_tokens.weight", fdt, rng.uniform(-0.17, 0.17, (vocab, HIDDEN)).astype(np.float32))
    add("model.norm.weight", "F32" if packed else fdt, norm(HIDDEN))
    if not tied:
        add("lm_head.weight", fdt, rng.uniform(-0.17, 0.17, (vocab, HIDDEN)).astype(np.float32))
    for L in range(LAYERS):
        p = "model.layers.%d." % L
        add(p + "input_layernorm.weight", "F32" if packed else fdt, norm(HIDDEN))
        add(p + "post_attention_layernorm.weight", "F32" if packed else fdt, norm(HIDDEN))
        if not llama:
            sub_a, sub_f = (("self_attn.attn_sub_norm", "mlp.ffn_sub_norm") if arch == "BitNetForCausalLM"
                            else ("self_attn.inner_attn_ln", "mlp.ffn_layernorm"))
            add(p + sub_a + ".weight", "F32" if packed else fdt, norm(HIDDEN))
            add(p + sub_f + ".weight", "F32" if packed else fdt, norm(FFN))
        for lin, n_in, n_out in LINEARS:
            if packed:
                t = rng.integers(-1, 2, (n_out, n_in))
                beta = rng.uniform(0.8, 1.2) / np.sqrt(n_in)
                add(p + lin + ".weight", "U8", pack_ternary(t))
                # AutoBitLinear multiplies by weight_scale; BitLinear divides by it.
                add(p + lin + ".weight_scale", "F32" if llama else "BF16",
                    np.array([1.0 / beta if llama else beta], dtype=np.float32))
            else:
                add(p + lin + ".weight", fdt, rng.normal(0, 1.0 / np.sqrt(n_in), (n_out, n_in)).astype(np.float32))
            if layout == "llama-innorm":
                add(p + lin + ".rms_norm.weight", "F32", norm(n_in))
    return tensors


def pb_varint(v):
    v &= (1 << 64) - 1
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def pb_field(field, wire, payload):
    key = pb_varint(field << 3 | wire)
    if wire == 0:
        return key + pb_varint(payload)
    if wire == 5:
        return key + struct.pack("<f", payload)
    return key + pb_varint(len(payload)) + payload


def write_spm_model(path, vocab_gguf):
    """A SentencePiece tokenizer.model (protobuf ModelProto, BPE) holding the pieces, scores and
    types of a llama.cpp SentencePiece vocabulary GGUF (read with gguf-py)."""
    import gguf
    r = gguf.GGUFReader(vocab_gguf)
    f = r.fields
    toks = [bytes(f["tokenizer.ggml.tokens"].parts[i]) for i in f["tokenizer.ggml.tokens"].data]
    scores = [float(f["tokenizer.ggml.scores"].parts[i][0]) for i in f["tokenizer.ggml.scores"].data]
    types = [int(f["tokenizer.ggml.token_type"].parts[i][0]) for i in f["tokenizer.ggml.token_type"].data]
    blob = b"".join(pb_field(1, 2, pb_field(1, 2, t) + pb_field(2, 5, s) + pb_field(3, 0, ty))
                    for t, s, ty in zip(toks, scores, types))
    trainer = (pb_field(3, 0, 2) + pb_field(4, 0, len(toks)) + pb_field(35, 0, 1) + pb_field(40, 0, 0) +
               pb_field(41, 0, 1) + pb_field(42, 0, 2) + pb_field(43, 0, -1))
    normalizer = pb_field(1, 2, b"identity") + pb_field(3, 0, 1)
    with open(path, "wb") as out:
        out.write(pb_field(2, 2, trainer) + blob + pb_field(3, 2, normalizer))
    return len(toks)


def write(layout, out_dir, tokenizer, seed, shards, spm_vocab=None):
    arch, act, qcfg, packed, fdt, tied = LAYOUTS[layout]
    os.makedirs(out_dir, exist_ok=True)
    if spm_vocab:
        vocab = write_spm_model(os.path.join(out_dir, "tokenizer.model"), spm_vocab)
    else:
        with open(tokenizer, encoding="utf-8") as f:
            tok = json.load(f)
        vocab = max(max(tok["model"]["vocab"].values()), max(a["id"] for a in tok["added_tokens"])) + 1
    tensors = build(layout, np.random.default_rng(seed), vocab)
    if shards == 1:
        write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
    else:
        weight_map = {}
        for s in range(shards):
            fn = "model-%05d-of-%05d.safetensors" % (s + 1, shards)
            part = tensors[s::shards]
            write_safetensors(os.path.join(out_dir, fn), part)
            weight_map.update({t[0]: fn for t in part})
        with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
    config = {"architectures": [arch], "model_type": "bitnet" if arch != "LlamaForCausalLM" else "llama",
              "hidden_act": act, "hidden_size": HIDDEN, "intermediate_size": FFN,
              "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
              "max_position_embeddings": CTX, "rms_norm_eps": EPS, "rope_theta": ROPE_BASE,
              "rope_scaling": None, "tie_word_embeddings": tied, "vocab_size": vocab,
              "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16"}
    if qcfg:
        config["quantization_config"] = qcfg
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if spm_vocab:
        with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
            json.dump({"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": True, "add_eos_token": False}, f)
        return
    shutil.copyfile(tokenizer, os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<|begin_of_text|>",
                   "eos_token": {"content": "<|end_of_text|>", "special": True},
                   "chat_template": "{% for m in messages %}{{ m['role'] | capitalize }}: {{ m['content'] }}"
                                    "<|eot_id|>{% endfor %}Assistant: "}, f)
    with open(os.path.join(out_dir, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 128000, "eos_token_id": [128001, 128009]}, f)


# ----------------------------------------------------------------------------- forward

def rms(x, g):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * g


def inv_freq(cfg, hd):
    """transformers' inverse frequencies, with the config's RoPE scaling (see the top)."""
    rp = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    inv = cfg.get("rope_theta", rp.get("rope_theta")) ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)
    kind = rp.get("rope_type", rp.get("type", "default"))
    if kind == "linear":
        return inv / rp["factor"]
    if kind == "llama3":
        factor, low, high = rp.get("factor", 8.0), rp.get("low_freq_factor", 1.0), rp.get("high_freq_factor", 4.0)
        old = rp.get("original_max_position_embeddings", 8192)
        wavelen = 2 * np.pi / inv
        s = (old / wavelen - low) / (high - low)
        scaled = np.where(wavelen > old / low, inv / factor, inv)
        medium = (wavelen >= old / high) & (wavelen <= old / low)
        return np.where(medium, (1 - s) * scaled / factor + s * scaled, scaled)
    assert kind == "default", kind
    return inv


def rope_hf(x, pos, inv):
    """transformers' rotary embedding: x * cos + rotate_half(x) * sin, x: [n, heads, hd]."""
    hd = x.shape[-1]
    ang = np.concatenate([pos[:, None] * inv[None, :]] * 2, axis=-1)[:, None, :]
    rot = np.concatenate([-x[..., hd // 2:], x[..., :hd // 2]], axis=-1)
    return x * np.cos(ang) + rot * np.sin(ang)


def forward(ckpt_dir, ids):
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        cfg = json.load(f)
    w = {}
    for fn in sorted(os.listdir(ckpt_dir)):
        if fn.endswith(".safetensors"):
            w.update(read_safetensors(os.path.join(ckpt_dir, fn)))
    w = {k: np.asarray(v, dtype=np.float64) if v.dtype != np.uint8 else v for k, v in w.items()}
    llama = cfg["architectures"][0] == "LlamaForCausalLM"
    divides = llama

    def weight(prefix):
        W = w[prefix + ".weight"]
        if W.dtype == np.uint8:
            q = W.shape[0]
            t = np.concatenate([((W >> (2 * i)) & 3).astype(np.float64) - 1 for i in range(4)], axis=0)
            assert t.shape[0] == 4 * q
            s = float(w[prefix + ".weight_scale"].reshape(-1)[0])
            return t / s if divides else t * s
        beta = max(np.abs(W).mean(), 1e-5)
        return np.clip(np.round(W / beta), -1, 1) * beta

    def linear(prefix, h):
        if prefix + ".rms_norm.weight" in w:
            h = rms(h, w[prefix + ".rms_norm.weight"])
        return h @ weight(prefix).T

    act = cfg["hidden_act"]
    n, hd = len(ids), cfg["hidden_size"] // cfg["num_attention_heads"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    pos = np.arange(n, dtype=np.float64)
    inv = inv_freq(cfg, hd)
    emb = w["model.embed_tokens.weight"]
    x = emb[np.asarray(ids)].copy()
    for L in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % L
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rope_hf(linear(p + "self_attn.q_proj", h).reshape(n, nh, hd), pos, inv)
        k = rope_hf(linear(p + "self_attn.k_proj", h).reshape(n, nkv, hd), pos, inv)
        v = linear(p + "self_attn.v_proj", h).reshape(n, nkv, hd)
        a = np.empty((n, nh, hd))
        mask = np.triu(np.full((n, n), -np.inf), 1)
        for head in range(nh):
            kv = head // (nh // nkv)
            s = q[:, head] @ k[:, kv].T / np.sqrt(hd) + mask
            e = np.exp(s - s.max(1, keepdims=True))
            a[:, head] = (e / e.sum(1, keepdims=True)) @ v[:, kv]
        a = a.reshape(n, nh * hd)
        for sub in ("self_attn.attn_sub_norm", "self_attn.inner_attn_ln"):
            if p + sub + ".weight" in w:
                a = rms(a, w[p + sub + ".weight"])
        x = x + linear(p + "self_attn.o_proj", a)
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = linear(p + "mlp.gate_proj", h)
        g = np.square(np.maximum(g, 0)) if act == "relu2" else g / (1 + np.exp(-g))
        f = g * linear(p + "mlp.up_proj", h)
        for sub in ("mlp.ffn_sub_norm", "mlp.ffn_layernorm"):
            if p + sub + ".weight" in w:
                f = rms(f, w[p + sub + ".weight"])
        x = x + linear(p + "mlp.down_proj", f)
    x = rms(x, w["model.norm.weight"])
    head = emb if cfg.get("tie_word_embeddings", True) else w["lm_head.weight"]
    return x @ head.T


def main(argv):
    if len(argv) >= 3 and argv[0] == "write":
        opts = dict(zip(argv[3::2], argv[4::2]))
        write(argv[1], argv[2], opts.get("--tokenizer"), int(opts.get("--seed", 1)), int(opts.get("--shards", 1)),
              opts.get("--spm-vocab"))
        return 0
    if len(argv) >= 3 and argv[0] == "rope":
        path = os.path.join(argv[1], "config.json")
        with open(path) as f:
            config = json.load(f)
        if argv[3:] == ["--parameters"]:
            config["rope_parameters"] = dict(json.loads(argv[2]), rope_theta=config.pop("rope_theta"))
            config.pop("rope_scaling", None)
        else:
            config["rope_scaling"] = json.loads(argv[2])
        with open(path, "w") as f:
            json.dump(config, f, indent=2)
        return 0
    if len(argv) >= 2 and argv[0] == "forward":
        opts = dict(zip(argv[2::2], argv[3::2]))
        ids = [int(t) for t in opts["--tokens"].split(",")]
        forward(argv[1], ids).astype("<f4").tofile(opts["--out"])
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
