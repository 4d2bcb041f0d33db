#!/usr/bin/python3
"""gguf_py_gen_model: writes a random-weight `bitnet`- or `llama`-architecture model with
gguf-py itself (GGUFWriter, and gguf-py's own TQ1_0/TQ2_0 quantizers), so that the
cross-validation does not rest only on files written by our `bitnet gen-model`.
`--arch llama`: no sub-norms; `--in-norms` adds the per-linear input norms
blk.N.<linear>_in_norm.weight [in] (F32; the layout `bitnet convert` writes for Falcon-E);
`--rope-freqs` adds a Llama-3-style rope_freqs.weight [head_dim/2].

Weights of every linear layer are ternary x one per-tensor scale (scale = 1/sqrt(fan_in) rounded
to f16): the TQ1_0/TQ2_0 encodings are then exact and every --wtype describes the same model.
Norm weights are F32 around 1; the token embedding (also the tied LM head: no output.weight) is
normal(0, --embed-std, default 0.05) in --etype (small, so that the tied head
does not simply repeat the current token). The vocabulary is either synthetic SentencePiece-style (--vocab-size:
<unk>, <s>, </s>, 256 byte tokens, then pieces) or copied from a vocab-only GGUF (--vocab-from).

Usage: PYTHONPATH=.cache/reference/llama.cpp/gguf-py /usr/bin/python3 scripts/gguf_py_gen_model.py \
          OUT.gguf --hidden 256 --layers 2 --heads 4 --kv-heads 2 --ffn 512 \
          (--vocab-size 512 | --vocab-from V.gguf) [--wtype f32|f16|bf16|q8_0|tq1_0|tq2_0] [--etype f16|f32|bf16|q8_0]
          [--seed 1] [--ctx 256] [--rope-base 500000] [--eps 1e-5] [--embed-std 0.05]
          [--arch bitnet|llama] [--in-norms] [--rope-freqs]
"""
import argparse
import sys

import numpy as np

try:
    import gguf
    from gguf import GGMLQuantizationType as QT
    from gguf import GGUFValueType as VT
except ImportError:
    sys.exit("gguf_py_gen_model: gguf-py not importable: set PYTHONPATH=.cache/reference/llama.cpp/gguf-py")

ARCHES = ("bitnet", "llama")
WTYPES = {"f32": QT.F32, "f16": QT.F16, "bf16": QT.BF16, "q8_0": QT.Q8_0, "tq1_0": QT.TQ1_0, "tq2_0": QT.TQ2_0}
ETYPES = {"f32": QT.F32, "f16": QT.F16, "bf16": QT.BF16, "q8_0": QT.Q8_0}
LLAMA_TOKEN_NORMAL, LLAMA_TOKEN_UNKNOWN, LLAMA_TOKEN_CONTROL, LLAMA_TOKEN_BYTE = 1, 2, 3, 6


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--hidden", type=int, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, required=True)
    p.add_argument("--ffn", type=int, required=True)
    vocab = p.add_mutually_exclusive_group(required=True)
    vocab.add_argument("--vocab-size", type=int)
    vocab.add_argument("--vocab-from")
    p.add_argument("--wtype", choices=sorted(WTYPES), default="tq2_0")
    p.add_argument("--etype", choices=sorted(ETYPES), default="f16")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--ctx", type=int, default=256)
    p.add_argument("--rope-base", type=float, default=500000.0)
    p.add_argument("--eps", type=float, default=1e-5)
    p.add_argument("--embed-std", type=float, default=0.05)
    p.add_argument("--arch", choices=ARCHES, default="bitnet")
    p.add_argument("--in-norms", action="store_true")
    p.add_argument("--rope-freqs", action="store_true")
    a = p.parse_args(argv)
    if a.hidden % a.heads or a.heads % a.kv_heads:
        p.error("--hidden must be a multiple of --heads, and --heads a multiple of --kv-heads")
    if WTYPES[a.wtype] in (QT.TQ1_0, QT.TQ2_0) and (a.hidden % 256 or a.ffn % 256):
        p.error("TQ1_0/TQ2_0 need --hidden and --ffn to be multiples of 256")
    return a


# ----------------------------------------------------------------------------- vocabulary

def synthetic_vocab(writer, n_vocab):
    """SentencePiece-style ("llama") vocabulary of n_vocab tokens that llama.cpp accepts."""
    if n_vocab < 3 + 256 + 1:
        sys.exit("gguf_py_gen_model: --vocab-size must be at least 260 (3 specials + 256 bytes + 1)")
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [LLAMA_TOKEN_UNKNOWN, LLAMA_TOKEN_CONTROL, LLAMA_TOKEN_CONTROL] + [LLAMA_TOKEN_BYTE] * 256
    letters = "abcdefghijklmnopqrstuvwxyz"
    pieces = ["\u2581"] + ["\u2581" + c for c in letters] + list(letters)
    pieces += ["\u2581" + a + b for a in letters for b in letters]
    pieces = pieces[: n_vocab - len(tokens)]
    if len(pieces) < n_vocab - len(tokens):
        sys.exit("gguf_py_gen_model: --vocab-size too large for the synthetic vocabulary (max %d)"
                 % (len(tokens) + len(pieces)))
    tokens += pieces
    types += [LLAMA_TOKEN_NORMAL] * len(pieces)
    scores = [0.0] * (n_vocab - len(pieces)) + [-float(i) for i in range(len(pieces))]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    return n_vocab


def copy_vocab(writer, path):
    """Copies every tokenizer.* key of a vocab GGUF; returns its token count."""
    reader = gguf.GGUFReader(path)
    n_vocab = None
    for key, field in reader.fields.items():
        if not key.startswith("tokenizer."):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == VT.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)
        if key == "tokenizer.ggml.tokens":
            n_vocab = len(field.data)
    if n_vocab is None:
        sys.exit("gguf_py_gen_model: %s has no tokenizer.ggml.tokens" % path)
    return n_vocab


# ----------------------------------------------------------------------------- weights

def ternary_weight(rng, n_out, n_in):
    """[n_out, n_in] float32 = t * s, t uniform in {-1,0,1}, s = f16(1/sqrt(n_in))."""
    scale = np.float32(np.float16(1.0 / np.sqrt(n_in)))
    t = rng.integers(-1, 2, size=(n_out, n_in)).astype(np.float32)
    return t * scale


def add_weight(writer, name, data, qtype):
    """data: numpy [rows, cols] float32 (GGUF ne = [cols, rows])."""
    if qtype == QT.F32:
        writer.add_tensor(name, data.astype(np.float32))
    elif qtype == QT.F16:
        writer.add_tensor(name, data.astype(np.float16))
    else:
        writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)


def add_model_tensors(writer, a, n_vocab):
    rng = np.random.default_rng(a.seed)
    wtype, head_dim = WTYPES[a.wtype], a.hidden // a.heads
    kv_dim = head_dim * a.kv_heads

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    emb = (a.embed_std * rng.standard_normal((n_vocab, a.hidden))).astype(np.float32)
    add_weight(writer, "token_embd.weight", emb, ETYPES[a.etype])
    writer.add_tensor("output_norm.weight", norm(a.hidden))
    linears = [("attn_q", a.hidden, a.hidden), ("attn_k", kv_dim, a.hidden),
               ("attn_v", kv_dim, a.hidden), ("attn_output", a.hidden, a.hidden),
               ("ffn_gate", a.ffn, a.hidden), ("ffn_up", a.ffn, a.hidden),
               ("ffn_down", a.hidden, a.ffn)]
    if a.rope_freqs:
        half = head_dim // 2
        factors = np.where(np.arange(half) < half // 4, 1.0, 1.0 + 3.0 * rng.random(half))
        writer.add_tensor("rope_freqs.weight", factors.astype(np.float32))
    norms = [("attn_norm", a.hidden), ("ffn_norm", a.hidden)]
    if a.arch == "bitnet":
        norms += [("attn_sub_norm", a.hidden), ("ffn_sub_norm", a.ffn)]
    for layer in range(a.layers):
        for nm, n in norms:
            writer.add_tensor("blk.%d.%s.weight" % (layer, nm), norm(n))
        for nm, n_out, n_in in linears:
            if a.in_norms:
                writer.add_tensor("blk.%d.%s_in_norm.weight" % (layer, nm), norm(n_in))
            add_weight(writer, "blk.%d.%s.weight" % (layer, nm), ternary_weight(rng, n_out, n_in), wtype)


def main(argv):
    a = parse_args(argv)
    writer = gguf.GGUFWriter(a.out, a.arch)
    writer.add_name("gguf-py random %s test model" % a.arch)
    n_vocab = copy_vocab(writer, a.vocab_from) if a.vocab_from else synthetic_vocab(writer, a.vocab_size)
    writer.add_context_length(a.ctx)
    writer.add_embedding_length(a.hidden)
    writer.add_block_count(a.layers)
    writer.add_feed_forward_length(a.ffn)
    writer.add_head_count(a.heads)
    writer.add_head_count_kv(a.kv_heads)
    writer.add_layer_norm_rms_eps(a.eps)
    writer.add_rope_freq_base(a.rope_base)
    writer.add_rope_dimension_count(a.hidden // a.heads)
    writer.add_vocab_size(n_vocab)
    add_model_tensors(writer, a, n_vocab)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1:])
