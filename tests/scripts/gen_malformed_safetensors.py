#!/usr/bin/env python3
"""gen_malformed_safetensors: a small valid safetensors file and malformed variants of it.

    gen_malformed_safetensors.py OUTDIR            valid.safetensors + variants + manifest.tsv
    gen_malformed_safetensors.py --corpus OUTDIR   the fuzzer's seed corpus (tests/corpus/safetensors)

Standard library only, deterministic. manifest.tsv: file name, then the text the reader's
error must contain ("-" for the valid file, which must be accepted).
"""
import json
import os
import struct
import sys


def container(header, data, raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header, separators=(',', ':')).encode()
    return struct.pack('<Q', len(h)) + h + data


def valid_parts():
    """Three tensors: F32 [2,3], BF16 [4], U8 [2,2]; 24 + 8 + 4 = 36 data bytes."""
    data = struct.pack('<6f', 1, 2, 3, 4, 5, 6) + bytes(range(8)) + bytes([0x21, 0x84, 0x12, 0x48])
    header = {
        '__metadata__': {'format': 'pt'},
        'a.weight': {'dtype': 'F32', 'shape': [2, 3], 'data_offsets': [0, 24]},
        'b.weight': {'dtype': 'BF16', 'shape': [4], 'data_offsets': [24, 32]},
        'c.weight': {'dtype': 'U8', 'shape': [2, 2], 'data_offsets': [32, 36]},
    }
    return header, data


def variants():
    """(name, bytes, expected message fragment)."""
    h, d = valid_parts()
    out = [('valid', container(h, d), '-')]

    def edit(name, fn, expect):
        hh = json.loads(json.dumps(h))
        fn(hh)
        out.append((name, container(hh, d), expect))

    out.append(('short_file', b'\x10\x00\x00', 'shorter than the 8-byte header length'))
    out.append(('header_len_past_end', struct.pack('<Q', 10**6) + b'{}', 'does not fit'))
    out.append(('header_len_huge', struct.pack('<Q', 2**64 - 1) + b'{}', 'does not fit'))
    out.append(('header_not_json', container(None, d, b'{"a": [1, 2'), 'expected'))
    out.append(('header_trailing', container(None, b'', b'{} x'), 'trailing bytes'))
    out.append(('header_not_object', container(None, b'', b'[1, 2]'), 'not a JSON object'))
    out.append(('header_deep', container(None, b'', b'[' * 100 + b']' * 100), 'nesting deeper'))
    out.append(('header_bad_escape', container(None, b'', b'{"a\\q": 1}'), 'unknown escape'))
    out.append(('header_lone_surrogate', container(None, b'', b'{"\\udc00": 1}'), 'surrogate'))
    edit('dtype_unknown', lambda x: x['a.weight'].update(dtype='F8_E9'), 'unknown dtype')
    edit('dtype_missing', lambda x: x['a.weight'].pop('dtype'), 'no "dtype"')
    edit('dtype_number', lambda x: x['a.weight'].update(dtype=3), 'no "dtype"')
    edit('shape_negative', lambda x: x['a.weight'].update(shape=[-2, 3]), 'non-negative integer')
    edit('shape_float', lambda x: x['a.weight'].update(shape=[2.5, 3]), 'non-negative integer')
    edit('shape_too_many_dims', lambda x: x['a.weight'].update(shape=[1] * 9), 'more than 8 dimensions')
    edit('shape_overflow', lambda x: x['a.weight'].update(shape=[2**32, 2**32, 2]), 'overflows')
    edit('shape_mismatch', lambda x: x['a.weight'].update(shape=[2, 4]), 'need 32')
    edit('offsets_past_end', lambda x: x['c.weight'].update(data_offsets=[32, 40]), 'outside the 36 data bytes')
    edit('offsets_reversed', lambda x: x['b.weight'].update(data_offsets=[32, 24]), 'outside')
    edit('offsets_huge', lambda x: x['c.weight'].update(data_offsets=[2**64 - 1, 2**64 - 1]), 'outside')
    edit('offsets_not_pair', lambda x: x['a.weight'].update(data_offsets=[0]), '[begin, end]')
    edit('offsets_negative', lambda x: x['a.weight'].update(data_offsets=[-4, 20]), '[begin, end]')
    edit('offsets_overlap', lambda x: x['b.weight'].update(data_offsets=[20, 28]), 'overlaps')
    edit('entry_not_object', lambda x: x.update({'a.weight': [1, 2]}), 'not an object')
    edit('metadata_not_object', lambda x: x.update({'__metadata__': 'x'}), '__metadata__ is not an object')
    edit('name_empty', lambda x: x.update({'': x.pop('c.weight')}), 'empty')
    raw = json.dumps(h, separators=(',', ':')).replace('"b.weight"', '"a.weight"').encode()
    out.append(('name_twice', container(None, d, raw), 'named twice'))
    return out


def main():
    args = sys.argv[1:]
    corpus = args and args[0] == '--corpus'
    if corpus:
        args = args[1:]
    if len(args) != 1:
        sys.exit(__doc__)
    os.makedirs(args[0], exist_ok=True)
    with open(os.path.join(args[0], 'manifest.tsv') if not corpus else os.devnull, 'w') as man:
        for name, blob, expect in variants():
            with open(os.path.join(args[0], name + '.safetensors'), 'wb') as f:
                f.write(blob)
            man.write('%s.safetensors\t%s\n' % (name, expect))
    print(len(variants()))


if __name__ == '__main__':
    main()
