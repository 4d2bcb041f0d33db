/* screen_tile: where a tile of the screened head's tier kernels (screen_avx2.c, screen_avx512.c,
 * screen_neon.c) finds its row of the copy and its tokens' activations (the layouts of
 * model/head_screen.h). Unrolled and inlined, so that the pointers stay in registers as the
 * kernels' own code would keep them. */
#ifndef BITNET_SCREEN_TILE_H
#define BITNET_SCREEN_TILE_H

#include "kernel_impl.h"
#include "model/head_screen.h"

/* Row m of the copy (codes q, scales d) and tokens t0 .. t0 + nt - 1 of a (nt <= 4, a
 * constant after inlining): activations xq[i], scales e[i], X' xabs[i] of token t0 + i. */
typedef struct bn_screen_tile {
    const int8_t *q;
    const uint16_t *d;
    const int16_t *xq[4];
    const float *e[4], *xabs[4];
} bn_screen_tile;

BN_INLINE BN_TSAN_UNCHECKED_READS bn_screen_tile bn_screen_tile_at(const bn_head_screen *h, const bn_screen_act *a, int64_t m, int t0, int nt) {
    int64_t row = h->n_groups * BN_SCREEN_GROUP_BYTES, nbp = h->n_groups * BN_SCREEN_GROUP;
    bn_screen_tile tl = {h->q + (uint64_t)m * (uint64_t)row, h->d + (uint64_t)m * (uint64_t)nbp, {NULL}, {NULL}, {NULL}};
BN_UNROLL
    for (int t = 0; t < nt; t++) {
        tl.xq[t] = a->q + (int64_t)(t0 + t) * row;
        tl.e[t] = a->e + (int64_t)(t0 + t) * nbp;
        tl.xabs[t] = a->xabs + (int64_t)(t0 + t) * nbp;
    }
    return tl;
}

#endif
