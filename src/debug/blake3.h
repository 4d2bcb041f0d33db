/* blake3: the BLAKE3 hash (default hash mode, 32-byte output), portable scalar C written from
 * the BLAKE3 specification. Used by the tracer to fingerprint tensors: a trace record's
 * "blake3" equals `b3sum` of the tensor's raw little-endian f32 bytes.
 *
 * Structure (from the spec): input is split into 1024-byte chunks, each chunk into 64-byte
 * blocks. A chunk's blocks are chained through the 7-round compression function (flags
 * CHUNK_START on the first block, CHUNK_END on the last); chunk chaining values are combined
 * pairwise in a binary tree of PARENT nodes (left subtree = the largest power-of-two number of
 * chunks that leaves at least one byte on the right); the last compression gets ROOT.
 * Keyed hashing, key derivation and extended output are not offered (not needed here). */
#ifndef BITNET_BLAKE3_H
#define BITNET_BLAKE3_H

#include <stddef.h>
#include <stdint.h>

#define BN_BLAKE3_OUT_LEN 32
#define BN_BLAKE3_BLOCK_LEN 64
#define BN_BLAKE3_CHUNK_LEN 1024
/* 2^54 chunks of 1 KiB = 2^64 bytes: the deepest tree a u64 byte count can need. */
#define BN_BLAKE3_MAX_DEPTH 54

/* The chunk being filled: its chaining value so far and its unfinished last block. */
typedef struct bn_blake3_chunk {
    uint32_t cv[8];
    uint64_t counter;                  /* index of this chunk in the input */
    uint8_t block[BN_BLAKE3_BLOCK_LEN]; /* zero-padded beyond block_len */
    uint8_t block_len;
    uint8_t blocks_compressed;
} bn_blake3_chunk;

/* Streaming state. Plain data: copy it to fork a hash; no allocation, no cleanup needed. */
typedef struct bn_blake3_hasher {
    bn_blake3_chunk chunk;
    /* Chaining values of complete subtrees not yet merged, left to right. */
    uint32_t cv_stack[BN_BLAKE3_MAX_DEPTH][8];
    uint8_t cv_stack_len;
} bn_blake3_hasher;

void bn_blake3_init(bn_blake3_hasher *h);
/* Appends n bytes (data may be NULL when n == 0). Any split of the input gives the same hash. */
void bn_blake3_update(bn_blake3_hasher *h, const void *data, size_t n);
/* Writes the 32-byte hash of everything appended so far; h is unchanged (updates may go on). */
void bn_blake3_finalize(const bn_blake3_hasher *h, uint8_t out[BN_BLAKE3_OUT_LEN]);

/* 32 bytes -> 64 lowercase hex digits + NUL. */
void bn_blake3_to_hex(const uint8_t digest[BN_BLAKE3_OUT_LEN], char out[65]);
/* One-shot: the hex hash of n bytes, as `b3sum` prints it. */
void bn_blake3_hex(const void *data, size_t n, char out[65]);

#endif
