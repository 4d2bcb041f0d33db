#!/usr/bin/env python3
"""Seeds of the slot file fuzzer (tests/fuzz/fuzz_slot_file.c): files of its model (2 layers, 2 KV
heads of 64, f16 KV cache: per layer and head ceil(n/16) K blocks of 2048 bytes and n V rows of
128 bytes) after a flags byte. The header's fields are zeros: the target writes its model's over
them (flag 1) and appends the checksum (flag 2), so the seeds need neither.

    gen_slot_corpus.py --corpus DIR"""
import os
import struct
import sys

MAGIC = b"BNSLOT\r\n"


def slot_file(flags, n_tokens, tokens=None, kv_bytes=None):
    tokens = tokens if tokens is not None else [(7 * i + 3) % 300 for i in range(n_tokens)]
    blocks = (n_tokens + 15) // 16
    kv = kv_bytes if kv_bytes is not None else 4 * (blocks * 2048 + n_tokens * 128)
    body = MAGIC + bytes(80) + struct.pack("<q", n_tokens) + struct.pack("<%di" % len(tokens), *tokens)
    return bytes([flags]) + body + bytes((i * 37) & 0xFF for i in range(kv))


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "--corpus":
        sys.exit(__doc__)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "empty": slot_file(3, 0),
        "one_token": slot_file(3, 1),
        "seventeen": slot_file(3, 17),
        "full_context": slot_file(3, 64),
        "too_many": slot_file(3, 65, kv_bytes=0),
        "bad_token": slot_file(3, 2, tokens=[5, 300]),
        "short_kv": slot_file(3, 5, kv_bytes=100),
        "no_checksum": slot_file(1, 3),
        "raw_header": slot_file(0, 3),
        "magic_only": bytes([3]) + MAGIC,
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
