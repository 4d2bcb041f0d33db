#!/usr/bin/env python3
"""gen_kld_corpus: the seed corpus of the --kl-divergence-base reader's fuzzer (tests/corpus/kld_base).

    gen_kld_corpus.py --corpus OUTDIR

Standard library only, deterministic. The layout (src/debug/perplexity.h, llama.cpp's): "_logits_",
int32 n_ctx, n_vocab, n_chunk, int32 tokens[n_chunk][n_ctx], then per window n_ctx - 1 - n_ctx / 2
records of 2 * ((n_vocab + 1) / 2) + 4 uint16: float scale, float min_log_prob, 0, 0 (as uint16
pairs), then one code per token.
"""
import os
import struct
import sys


def record_len(n_vocab):
    return 2 * ((n_vocab + 1) // 2) + 4


def base_file(n_ctx, n_vocab, n_chunk, scale=0.01, min_lp=-12.0, token=lambda i: i % 7):
    out = b'_logits_' + struct.pack('<3i', n_ctx, n_vocab, n_chunk)
    out += struct.pack('<%di' % (n_ctx * n_chunk), *[token(i) for i in range(n_ctx * n_chunk)])
    per = n_ctx - 1 - n_ctx // 2
    n = record_len(n_vocab)
    for r in range(per * n_chunk):
        codes = [(r * 131 + i * 977) % 65536 for i in range(n - 4)]
        out += struct.pack('<2f', scale, min_lp) + struct.pack('<2H', 0, 0) + struct.pack('<%dH' % (n - 4), *codes)
    return out


def corpus():
    valid = base_file(8, 16, 2)
    return {
        'valid_8x16x2.bin': valid,
        'valid_odd_vocab.bin': base_file(10, 5, 1, token=lambda i: i % 5),
        'nan_scale.bin': base_file(8, 16, 1, scale=float('nan'), min_lp=float('inf')),
        'truncated.bin': valid[:-3],
        'bad_magic.bin': b'_logitz_' + valid[8:],
        'token_out_of_vocab.bin': base_file(8, 16, 1, token=lambda i: 16 if i == 5 else i % 16),
        'negative_chunks.bin': b'_logits_' + struct.pack('<3i', 8, 16, -1),
        'huge_ctx.bin': b'_logits_' + struct.pack('<3i', 1 << 30, 16, 1) + bytes(16),
    }


def main(argv):
    if len(argv) != 3 or argv[1] != '--corpus':
        sys.stderr.write(__doc__)
        return 2
    os.makedirs(argv[2], exist_ok=True)
    for name, data in sorted(corpus().items()):
        with open(os.path.join(argv[2], name), 'wb') as f:
            f.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
