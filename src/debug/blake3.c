/* blake3: portable BLAKE3 (see blake3.h for the structure of the hash). */
#include "debug/blake3.h"

#include <string.h>

/* The initial chaining value (the SHA-256 IV), also the "key" of the default hash mode. */
static const uint32_t blake3_iv[8] = {
    0x6A09E667u, 0xBB67AE85u, 0x3C6EF372u, 0xA54FF53Au,
    0x510E527Fu, 0x9B05688Cu, 0x1F83D9ABu, 0x5BE0CD19u,
};

/* Message word order of round r+1 = this permutation applied to that of round r. */
static const uint8_t blake3_permutation[16] = {2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8};

enum {
    FLAG_CHUNK_START = 1 << 0,
    FLAG_CHUNK_END = 1 << 1,
    FLAG_PARENT = 1 << 2,
    FLAG_ROOT = 1 << 3,
};

static uint32_t rotr32(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void store_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The quarter-round mixing function G on state words a, b, c, d with message words x, y. */
static void mix(uint32_t s[16], int a, int b, int c, int d, uint32_t x, uint32_t y) {
    s[a] = s[a] + s[b] + x;
    s[d] = rotr32(s[d] ^ s[a], 16);
    s[c] = s[c] + s[d];
    s[b] = rotr32(s[b] ^ s[c], 12);
    s[a] = s[a] + s[b] + y;
    s[d] = rotr32(s[d] ^ s[a], 8);
    s[c] = s[c] + s[d];
    s[b] = rotr32(s[b] ^ s[c], 7);
}

/* One round: G on the four columns of the 4x4 state, then on the four diagonals. */
static void round_fn(uint32_t s[16], const uint32_t m[16]) {
    mix(s, 0, 4, 8, 12, m[0], m[1]);
    mix(s, 1, 5, 9, 13, m[2], m[3]);
    mix(s, 2, 6, 10, 14, m[4], m[5]);
    mix(s, 3, 7, 11, 15, m[6], m[7]);
    mix(s, 0, 5, 10, 15, m[8], m[9]);
    mix(s, 1, 6, 11, 12, m[10], m[11]);
    mix(s, 2, 7, 8, 13, m[12], m[13]);
    mix(s, 3, 4, 9, 14, m[14], m[15]);
}

/* The compression function: 16 output words; the first 8 are the new chaining value. */
static void compress(const uint32_t cv[8], const uint8_t block[BN_BLAKE3_BLOCK_LEN],
                     uint8_t block_len, uint64_t counter, uint8_t flags, uint32_t out[16]) {
    uint32_t m[16], s[16];
    for (int i = 0; i < 16; i++) m[i] = load_le32(block + 4 * i);
    memcpy(s, cv, 8 * sizeof(uint32_t));
    memcpy(s + 8, blake3_iv, 4 * sizeof(uint32_t));
    s[12] = (uint32_t)counter;
    s[13] = (uint32_t)(counter >> 32);
    s[14] = block_len;
    s[15] = flags;
    for (int r = 0; r < 7; r++) {
        round_fn(s, m);
        if (r == 6) break;
        uint32_t permuted[16];
        for (int i = 0; i < 16; i++) permuted[i] = m[blake3_permutation[i]];
        memcpy(m, permuted, sizeof m);
    }
    for (int i = 0; i < 8; i++) {
        out[i] = s[i] ^ s[i + 8];
        out[i + 8] = s[i + 8] ^ cv[i];
    }
}

/* A compression not yet performed: either a node's chaining value or, with ROOT, the hash. */
typedef struct pending_node {
    uint32_t cv[8];
    uint8_t block[BN_BLAKE3_BLOCK_LEN];
    uint8_t block_len;
    uint64_t counter;
    uint8_t flags;
} pending_node;

static void node_chaining_value(const pending_node *n, uint32_t cv[8]) {
    uint32_t out[16];
    compress(n->cv, n->block, n->block_len, n->counter, n->flags, out);
    memcpy(cv, out, 8 * sizeof(uint32_t));
}

static pending_node parent_node(const uint32_t left[8], const uint32_t right[8]) {
    pending_node n;
    memcpy(n.cv, blake3_iv, sizeof n.cv);
    for (int i = 0; i < 8; i++) {
        store_le32(n.block + 4 * i, left[i]);
        store_le32(n.block + 32 + 4 * i, right[i]);
    }
    n.block_len = BN_BLAKE3_BLOCK_LEN;
    n.counter = 0;
    n.flags = FLAG_PARENT;
    return n;
}

/* ---- chunk state ---- */

static void chunk_init(bn_blake3_chunk *c, uint64_t counter) {
    memset(c, 0, sizeof *c);
    memcpy(c->cv, blake3_iv, sizeof c->cv);
    c->counter = counter;
}

static size_t chunk_len(const bn_blake3_chunk *c) {
    return (size_t)BN_BLAKE3_BLOCK_LEN * c->blocks_compressed + c->block_len;
}

static uint8_t chunk_start_flag(const bn_blake3_chunk *c) {
    return c->blocks_compressed == 0 ? FLAG_CHUNK_START : 0;
}

/* Appends up to the chunk's free space. The last block is kept uncompressed, because only
 * when the chunk ends is it known whether that block gets CHUNK_END (and maybe ROOT). */
static void chunk_update(bn_blake3_chunk *c, const uint8_t *data, size_t n) {
    while (n > 0) {
        if (c->block_len == BN_BLAKE3_BLOCK_LEN) {
            uint32_t out[16];
            compress(c->cv, c->block, BN_BLAKE3_BLOCK_LEN, c->counter, chunk_start_flag(c), out);
            memcpy(c->cv, out, sizeof c->cv);
            c->blocks_compressed++;
            c->block_len = 0;
            memset(c->block, 0, sizeof c->block);
        }
        size_t take = BN_BLAKE3_BLOCK_LEN - c->block_len;
        if (take > n) take = n;
        memcpy(c->block + c->block_len, data, take);
        c->block_len = (uint8_t)(c->block_len + take);
        data += take;
        n -= take;
    }
}

static pending_node chunk_node(const bn_blake3_chunk *c) {
    pending_node n;
    memcpy(n.cv, c->cv, sizeof n.cv);
    memcpy(n.block, c->block, sizeof n.block);
    n.block_len = c->block_len;
    n.counter = c->counter;
    n.flags = (uint8_t)(chunk_start_flag(c) | FLAG_CHUNK_END);
    return n;
}

/* ---- hasher: the tree ---- */

void bn_blake3_init(bn_blake3_hasher *h) {
    chunk_init(&h->chunk, 0);
    h->cv_stack_len = 0;
}

/* Pushes the chaining value of a finished chunk, first merging every completed subtree: after
 * `total_chunks` chunks, each trailing zero bit of that count is one pair of equal-size
 * subtrees (top of the stack + the new value) that can be merged into a parent. */
static void push_chunk_cv(bn_blake3_hasher *h, const uint32_t chunk_cv[8], uint64_t total_chunks) {
    uint32_t cv[8];
    memcpy(cv, chunk_cv, sizeof cv);
    while ((total_chunks & 1) == 0) {
        pending_node parent = parent_node(h->cv_stack[--h->cv_stack_len], cv);
        node_chaining_value(&parent, cv);
        total_chunks >>= 1;
    }
    memcpy(h->cv_stack[h->cv_stack_len++], cv, sizeof cv);
}

void bn_blake3_update(bn_blake3_hasher *h, const void *data, size_t n) {
    const uint8_t *p = data;
    while (n > 0) {
        /* A full chunk is closed only when more input arrives: the last one may be the root. */
        if (chunk_len(&h->chunk) == BN_BLAKE3_CHUNK_LEN) {
            pending_node node = chunk_node(&h->chunk);
            uint32_t cv[8];
            node_chaining_value(&node, cv);
            uint64_t total = h->chunk.counter + 1;
            push_chunk_cv(h, cv, total);
            chunk_init(&h->chunk, total);
        }
        size_t take = BN_BLAKE3_CHUNK_LEN - chunk_len(&h->chunk);
        if (take > n) take = n;
        chunk_update(&h->chunk, p, take);
        p += take;
        n -= take;
    }
}

void bn_blake3_finalize(const bn_blake3_hasher *h, uint8_t out[BN_BLAKE3_OUT_LEN]) {
    /* Fold the stack from the right: the current chunk is the rightmost leaf. */
    pending_node node = chunk_node(&h->chunk);
    for (int i = h->cv_stack_len - 1; i >= 0; i--) {
        uint32_t right[8];
        node_chaining_value(&node, right);
        node = parent_node(h->cv_stack[i], right);
    }
    uint32_t words[16];
    compress(node.cv, node.block, node.block_len, 0, (uint8_t)(node.flags | FLAG_ROOT), words);
    for (int i = 0; i < 8; i++) store_le32(out + 4 * i, words[i]);
}

void bn_blake3_to_hex(const uint8_t digest[BN_BLAKE3_OUT_LEN], char out[65]) {
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < BN_BLAKE3_OUT_LEN; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

void bn_blake3_hex(const void *data, size_t n, char out[65]) {
    bn_blake3_hasher h;
    uint8_t digest[BN_BLAKE3_OUT_LEN];
    bn_blake3_init(&h);
    bn_blake3_update(&h, data, n);
    bn_blake3_finalize(&h, digest);
    bn_blake3_to_hex(digest, out);
}
