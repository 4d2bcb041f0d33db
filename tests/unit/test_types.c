/* Tests for src/formats/types.c: the type table, byte layouts (hand-built blocks decoded), exact
 * ternary round trips, F16/BF16 edge values, Q8_0 error bound and Q8_K bit-exactness. */
#include <stdint.h>

#include "test.h"
#include "formats/types.h"
#include "util.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng_u32(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static float rng_uniform(float lo, float hi) { return lo + (hi - lo) * (float)(rng_u32() >> 8) / 16777216.0f; }

/* Random ternary values times `scale`; every 256-block holds at least one +scale so that the
 * block absmax (the TQ scale) and the tensor absmax (the I2_S scale) both equal `scale`. */
static void fill_ternary(float *x, uint64_t n, float scale) {
    for (uint64_t i = 0; i < n; i++) x[i] = (float)((int)(rng_u32() % 3) - 1) * scale;
    for (uint64_t i = 0; i < n; i += BN_QK_K) x[i + rng_u32() % (n - i < BN_QK_K ? n - i : BN_QK_K)] = scale;
}

static uint8_t *quantize_alloc(uint32_t id, const float *x, uint64_t n, uint64_t *bytes) {
    CHECK(bn_type_nbytes(id, n, bytes));
    uint8_t *q = malloc(*bytes);
    memset(q, 0xAB, *bytes); /* garbage the quantizer must overwrite */
    bn_type_get(id)->quantize(x, n, q);
    return q;
}

TEST(table_rows) {
    static const struct { uint32_t id; const char *name; uint32_t bs, bb; bool ternary; } rows[] = {
        {0, "f32", 1, 4, false},     {1, "f16", 1, 2, false},       {30, "bf16", 1, 2, false},
        {8, "q8_0", 32, 34, false},  {34, "tq1_0", 256, 54, true},  {35, "tq2_0", 256, 66, true},
        {36, "i2_s", 128, 32, true},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const bn_type_traits *t = bn_type_get(rows[i].id);
        CHECK(t != NULL);
        if (!t) continue;
        CHECK_STR(t->name, rows[i].name);
        CHECK_EQ_INT(t->block_size, rows[i].bs);
        CHECK_EQ_INT(t->block_bytes, rows[i].bb);
        CHECK(t->ternary == rows[i].ternary);
        CHECK(t->dequantize != NULL && t->quantize != NULL);
        CHECK(bn_type_by_name(rows[i].name) == t);
    }
    CHECK(bn_type_get(2) == NULL);  /* Q4_0: not supported here */
    CHECK(bn_type_get(39) == NULL); /* MXFP4 upstream, TL2 in the fork */
    CHECK(bn_type_by_name("q4_0") == NULL);
    CHECK(bn_type_by_name("") == NULL);
    CHECK(bn_type_by_name(NULL) == NULL);
}

TEST(nbytes) {
    uint64_t b = 0;
    CHECK(bn_type_nbytes(BN_TYPE_F32, 10, &b) && b == 40);
    CHECK(bn_type_nbytes(BN_TYPE_BF16, 3, &b) && b == 6);
    CHECK(bn_type_nbytes(BN_TYPE_Q8_0, 64, &b) && b == 68);
    CHECK(bn_type_nbytes(BN_TYPE_TQ1_0, 512, &b) && b == 108);
    CHECK(bn_type_nbytes(BN_TYPE_TQ2_0, 256, &b) && b == 66);
    CHECK(bn_type_nbytes(BN_TYPE_I2_S, 2560 * 128, &b) && b == 2560 * 32 + 32);
    /* not a multiple of the block size */
    CHECK(!bn_type_nbytes(BN_TYPE_Q8_0, 33, &b));
    CHECK(!bn_type_nbytes(BN_TYPE_TQ1_0, 255, &b));
    CHECK(!bn_type_nbytes(BN_TYPE_TQ2_0, 128, &b));
    CHECK(!bn_type_nbytes(BN_TYPE_I2_S, 64, &b));
    CHECK(!bn_type_nbytes(BN_TYPE_I2_S, 200, &b));
    /* overflow */
    CHECK(!bn_type_nbytes(BN_TYPE_F32, UINT64_C(1) << 62, &b));
    CHECK(!bn_type_nbytes(BN_TYPE_Q8_0, UINT64_MAX - 31, &b));
    CHECK(!bn_type_nbytes(BN_TYPE_F16, UINT64_MAX, &b));
    CHECK(bn_type_nbytes(BN_TYPE_F32, UINT64_MAX / 4, &b) && b == UINT64_MAX / 4 * 4);
    /* unknown type */
    CHECK(!bn_type_nbytes(2, 32, &b));
}

/* quantize -> dequantize is exact for ternary data, and so is re-quantizing the result. */
TEST(ternary_round_trip) {
    static const uint32_t ids[] = {BN_TYPE_TQ1_0, BN_TYPE_TQ2_0, BN_TYPE_I2_S};
    static const float scales[] = {0.0375f, 1.0f, 3.140625f, 6.0e-5f /* f16 subnormal range */};
    const uint64_t n = 1024;
    float x[1024], y[1024], part[512];
    for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
        float scale = bn_f16_to_f32(bn_f32_to_f16(scales[s])); /* f16-representable */
        fill_ternary(x, n, scale);
        for (size_t k = 0; k < 3; k++) {
            const bn_type_traits *t = bn_type_get(ids[k]);
            uint64_t bytes;
            uint8_t *q = quantize_alloc(ids[k], x, n, &bytes);
            t->dequantize(q, n, 0, n, y);
            int bad = 0;
            for (uint64_t i = 0; i < n; i++) bad += y[i] != x[i];
            CHECK_MSG(bad == 0, "%s scale %g: %d of %d values differ", t->name, scale, bad, (int)n);
            /* sub-range: the second and third quarter */
            t->dequantize(q, n, 256, 512, part);
            CHECK_MSG(memcmp(part, x + 256, sizeof part) == 0, "%s: sub-range differs", t->name);
            t->dequantize(q, n, n - t->block_size, t->block_size, part);
            CHECK_MSG(memcmp(part, x + n - t->block_size, t->block_size * sizeof(float)) == 0,
                      "%s: last block differs", t->name);
            uint8_t *q2 = quantize_alloc(ids[k], y, n, &bytes);
            CHECK_MSG(memcmp(q, q2, bytes) == 0, "%s: re-quantizing changed the bytes", t->name);
            free(q);
            free(q2);
        }
    }
}

/* Quantizing non-ternary data maps each value to the nearest of {-d, 0, +d}. */
TEST(ternary_quantize_rounds_to_nearest) {
    float x[256], y[256];
    for (int i = 0; i < 256; i++) x[i] = rng_uniform(-2.0f, 2.0f);
    x[17] = -4.0f; /* the block absmax: d = 4 */
    x[0] = 1.99f;  /* 0.4975 of d: rounds to 0 */
    x[1] = 2.01f;  /* 0.5025 of d: rounds to +d */
    x[2] = 2.0f;   /* exactly half: away from zero, as lroundf */
    x[3] = -2.0f;
    static const uint32_t ids[] = {BN_TYPE_TQ1_0, BN_TYPE_TQ2_0};
    for (int k = 0; k < 2; k++) {
        uint64_t bytes;
        uint8_t *q = quantize_alloc(ids[k], x, 256, &bytes);
        bn_type_get(ids[k])->dequantize(q, 256, 0, 256, y);
        int bad = 0;
        for (int i = 0; i < 256; i++) {
            float r = x[i] / 4.0f;
            float want = r >= 0.5f ? 4.0f : r <= -0.5f ? -4.0f : 0.0f;
            bad += y[i] != want;
        }
        CHECK_MSG(bad == 0, "%s: %d values not rounded to the nearest ternary level", bn_type_get(ids[k])->name, bad);
        CHECK(y[0] == 0.0f && y[1] == 4.0f && y[2] == 4.0f && y[3] == -4.0f);
        free(q);
    }
}

/* TQ2_0 block built by hand from FORMATS.md: byte qs[32h+m] holds weights 128h+m+32n at bits
 * 2n..2n+1 (low bits first); d last. Weight j gets code j % 3. */
TEST(tq2_0_layout) {
    uint8_t block[66] = {0};
    for (int j = 0; j < 256; j++) {
        int h = j / 128, n = (j % 128) / 32, m = j % 32;
        block[32 * h + m] |= (uint8_t)((j % 3) << (2 * n));
    }
    /* byte 0: weights 0, 32, 64, 96 -> codes 0, 2, 1, 0 */
    CHECK_EQ_INT(block[0], (0 << 0) | (2 << 2) | (1 << 4) | (0 << 6));
    /* byte 33: weights 129, 161, 193, 225 -> codes 0, 2, 1, 0 */
    CHECK_EQ_INT(block[33], 0x18);
    uint16_t d = bn_f32_to_f16(0.25f);
    memcpy(block + 64, &d, 2);
    float y[256];
    bn_type_get(BN_TYPE_TQ2_0)->dequantize(block, 256, 0, 256, y);
    int bad = 0;
    for (int j = 0; j < 256; j++) bad += y[j] != (float)(j % 3 - 1) * 0.25f;
    CHECK_EQ_INT(bad, 0);
}

/* TQ1_0 block built by hand from FORMATS.md: five trits per byte, first weight most
 * significant, stored as ceil(v*256/243). */
TEST(tq1_0_layout) {
    uint8_t block[54] = {0};
    /* (first byte, byte count, first weight, stride between trits, trits) per byte group */
    static const int groups[3][5] = {{0, 32, 0, 32, 5}, {32, 16, 160, 16, 5}, {48, 4, 240, 4, 4}};
    for (int g = 0; g < 3; g++)
        for (int m = 0; m < groups[g][1]; m++) {
            int v = 0;
            for (int n = 0; n < 5; n++) {
                int w = groups[g][2] + m + groups[g][3] * n;
                v = v * 3 + (n < groups[g][4] ? w % 3 : 0);
            }
            block[groups[g][0] + m] = (uint8_t)((v * 256 + 242) / 243);
        }
    /* byte 0: weights 0, 32, 64, 96, 128 -> codes 0 2 1 0 2 -> v = 65 -> ceil(65*256/243) = 69 */
    CHECK_EQ_INT(block[0], 69);
    /* qh[0] (byte 48): weights 240, 244, 248, 252 -> codes 0 1 2 0, then 0 -> v = 45 -> 48 */
    CHECK_EQ_INT(block[48], 48);
    uint16_t d = bn_f32_to_f16(-1.5f);
    memcpy(block + 52, &d, 2);
    float y[256];
    bn_type_get(BN_TYPE_TQ1_0)->dequantize(block, 256, 0, 256, y);
    int bad = 0;
    for (int j = 0; j < 256; j++) bad += y[j] != (float)(j % 3 - 1) * -1.5f;
    CHECK_EQ_INT(bad, 0);
}

/* I2_S built by hand from FORMATS.md: weight j of a 128-block in byte j%32 at shift
 * 6 - 2*(j/32) (high bits first); then the f32 scale and 28 more trailer bytes. */
TEST(i2_s_layout) {
    const uint64_t n = 256;
    uint8_t t[256 / 4 + 32];
    memset(t, 0, sizeof t);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t b = i / 128, j = i % 128;
        t[32 * b + j % 32] |= (uint8_t)((i % 3) << (6 - 2 * (j / 32)));
    }
    /* byte 0: weights 0, 32, 64, 96 -> codes 0, 2, 1, 0 at bits 7..6, 5..4, 3..2, 1..0 */
    CHECK_EQ_INT(t[0], (0 << 6) | (2 << 4) | (1 << 2) | 0);
    /* byte 32 (second block): weights 128, 160, 192, 224 -> codes 2, 1, 0, 2 */
    CHECK_EQ_INT(t[32], (2 << 6) | (1 << 4) | (0 << 2) | 2);
    float scale = 0.75f;
    memcpy(t + n / 4, &scale, 4);
    memset(t + n / 4 + 4, 0xEE, 28); /* "unspecified garbage" must not matter */
    float y[256];
    bn_type_get(BN_TYPE_I2_S)->dequantize(t, n, 0, n, y);
    int bad = 0;
    for (uint64_t i = 0; i < n; i++) bad += y[i] != (float)((int)(i % 3) - 1) * 0.75f;
    CHECK_EQ_INT(bad, 0);
    bn_type_get(BN_TYPE_I2_S)->dequantize(t, n, 128, 128, y);
    CHECK(y[0] == 0.75f && y[1] == -0.75f && y[2] == 0.0f); /* weights 128, 129, 130 */
}

TEST(i2_s_quantize_trailer) {
    float x[128];
    for (int i = 0; i < 128; i++) x[i] = rng_uniform(-1.0f, 1.0f);
    x[5] = -2.5f;
    uint64_t bytes;
    uint8_t *q = quantize_alloc(BN_TYPE_I2_S, x, 128, &bytes);
    CHECK_EQ_INT(bytes, 64);
    float scale;
    memcpy(&scale, q + 32, 4);
    CHECK(scale == 2.5f);
    int nonzero = 0;
    for (int i = 36; i < 64; i++) nonzero += q[i] != 0;
    CHECK_EQ_INT(nonzero, 0);
    for (int i = 0; i < 32; i++) { /* no code 3 */
        for (int s = 0; s < 8; s += 2) CHECK(((q[i] >> s) & 3) != 3);
    }
    free(q);
}

TEST(q8_0_layout_and_rounding) {
    /* hand-built block: d = 0.5, q_j = j - 16 */
    uint8_t block[34];
    uint16_t d = bn_f32_to_f16(0.5f);
    memcpy(block, &d, 2);
    for (int j = 0; j < 32; j++) block[2 + j] = (uint8_t)(int8_t)(j - 16);
    float y[32];
    bn_type_get(BN_TYPE_Q8_0)->dequantize(block, 32, 0, 32, y);
    for (int j = 0; j < 32; j++) CHECK(y[j] == (float)(j - 16) * 0.5f);

    /* absmax 127 -> d = 1 exactly; halves round away from zero like roundf */
    float x[32] = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.49f, -126.5f};
    uint64_t bytes;
    uint8_t *q = quantize_alloc(BN_TYPE_Q8_0, x, 32, &bytes);
    CHECK_EQ_INT(bytes, 34);
    CHECK_EQ_INT(q[0] | q[1] << 8, 0x3c00); /* f16 1.0 */
    const int8_t *qs = (const int8_t *)q + 2;
    CHECK(qs[0] == 127 && qs[1] == 3 && qs[2] == -3 && qs[3] == 1 && qs[4] == -1 && qs[5] == 1 && qs[6] == -127);
    CHECK(qs[7] == 0 && qs[31] == 0);
    free(q);

    /* all-zero block: d = 0, codes 0 */
    memset(x, 0, sizeof x);
    q = quantize_alloc(BN_TYPE_Q8_0, x, 32, &bytes);
    int nonzero = 0;
    for (int i = 0; i < 34; i++) nonzero += q[i] != 0;
    CHECK_EQ_INT(nonzero, 0);
    free(q);
}

TEST(q8_0_error_bound) {
    const uint64_t n = 32 * 64;
    float x[32 * 64], y[32 * 64];
    for (uint64_t i = 0; i < n; i++) x[i] = rng_uniform(-3.0f, 3.0f) * (float)(1 + i / 32);
    uint64_t bytes;
    uint8_t *q = quantize_alloc(BN_TYPE_Q8_0, x, n, &bytes);
    bn_type_get(BN_TYPE_Q8_0)->dequantize(q, n, 0, n, y);
    int bad = 0;
    for (uint64_t b = 0; b < n / 32; b++) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[32 * b + j]));
        float d = amax / 127.0f, d16 = bn_f16_to_f32(bn_f32_to_f16(d));
        /* half a step of rounding, plus the f16 rounding of d applied to up to 127 steps */
        float bound = 0.5f * d + 127.0f * fabsf(d16 - d) + 1e-6f * amax;
        for (int j = 0; j < 32; j++) bad += fabsf(y[32 * b + j] - x[32 * b + j]) > bound;
    }
    CHECK_MSG(bad == 0, "%d values exceed the Q8_0 error bound", bad);
    /* sub-range */
    float part[64];
    bn_type_get(BN_TYPE_Q8_0)->dequantize(q, n, 320, 64, part);
    CHECK(memcmp(part, y + 320, sizeof part) == 0);
    free(q);
}

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static uint16_t to_half(uint32_t id, float f) {
    uint16_t h;
    bn_type_get(id)->quantize(&f, 1, &h);
    return h;
}

static float from_half(uint32_t id, uint16_t h) {
    float f;
    bn_type_get(id)->dequantize(&h, 1, 0, 1, &f);
    return f;
}

TEST(f16_edges) {
    const uint32_t F16 = BN_TYPE_F16;
    CHECK(from_half(F16, 0x0001) == ldexpf(1.0f, -24));              /* smallest subnormal */
    CHECK(from_half(F16, 0x03ff) == ldexpf(1023.0f, -24));           /* largest subnormal */
    CHECK(from_half(F16, 0x0400) == ldexpf(1.0f, -14));              /* smallest normal */
    CHECK(from_half(F16, 0x7bff) == 65504.0f);
    CHECK(from_half(F16, 0x8000) == 0.0f && signbit(from_half(F16, 0x8000)));
    CHECK(isinf(from_half(F16, 0x7c00)) && from_half(F16, 0x7c00) > 0);
    CHECK(isinf(from_half(F16, 0xfc00)) && from_half(F16, 0xfc00) < 0);
    CHECK(isnan(from_half(F16, 0x7e00)) && isnan(from_half(F16, 0x7c01)));

    CHECK_EQ_INT(to_half(F16, 1.0f), 0x3c00);
    CHECK_EQ_INT(to_half(F16, -2.0f), 0xc000);
    CHECK_EQ_INT(to_half(F16, 65504.0f), 0x7bff);
    CHECK_EQ_INT(to_half(F16, 65519.0f), 0x7bff);                   /* below the midpoint */
    CHECK_EQ_INT(to_half(F16, 65520.0f), 0x7c00);                   /* tie to even: inf */
    CHECK_EQ_INT(to_half(F16, 1e10f), 0x7c00);
    CHECK_EQ_INT(to_half(F16, -INFINITY), 0xfc00);
    CHECK((to_half(F16, NAN) & 0x7c00) == 0x7c00 && (to_half(F16, NAN) & 0x3ff) != 0);
    CHECK_EQ_INT(to_half(F16, 1.0f + ldexpf(1.0f, -11)), 0x3c00);    /* tie: stays even */
    CHECK_EQ_INT(to_half(F16, 1.0f + 3 * ldexpf(1.0f, -11)), 0x3c02); /* tie: up to even */
    CHECK_EQ_INT(to_half(F16, ldexpf(1.0f, -24)), 0x0001);
    CHECK_EQ_INT(to_half(F16, ldexpf(1.0f, -25)), 0x0000);           /* tie: down to even 0 */
    CHECK_EQ_INT(to_half(F16, ldexpf(3.0f, -25)), 0x0002);           /* tie: up to even 2 */
    CHECK_EQ_INT(to_half(F16, ldexpf(1.0f, -26)), 0x0000);
    CHECK_EQ_INT(to_half(F16, ldexpf(1023.5f, -24)), 0x0400);        /* rounds up to normal */
    CHECK_EQ_INT(to_half(F16, -ldexpf(5.0f, -24)), 0x8005);
    /* every finite half survives half -> float -> half */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++)
        if ((h & 0x7c00) != 0x7c00) bad += to_half(F16, from_half(F16, (uint16_t)h)) != h;
    CHECK_EQ_INT(bad, 0);
}

TEST(bf16_edges) {
    const uint32_t BF16 = BN_TYPE_BF16;
    CHECK(from_half(BF16, 0x3f80) == 1.0f);
    CHECK(from_half(BF16, 0x0001) == bits_f32(0x00010000)); /* subnormal */
    CHECK(isinf(from_half(BF16, 0xff80)) && from_half(BF16, 0xff80) < 0);
    CHECK(isnan(from_half(BF16, 0x7fc0)));
    CHECK_EQ_INT(to_half(BF16, 1.0f), 0x3f80);
    CHECK_EQ_INT(to_half(BF16, 1.0f + ldexpf(1.0f, -8)), 0x3f80);     /* tie: stays even */
    CHECK_EQ_INT(to_half(BF16, 1.0f + 3 * ldexpf(1.0f, -8)), 0x3f82); /* tie: up to even */
    CHECK_EQ_INT(to_half(BF16, bits_f32(0x3f808001)), 0x3f81);        /* above the tie */
    CHECK_EQ_INT(to_half(BF16, INFINITY), 0x7f80);
    CHECK_EQ_INT(to_half(BF16, bits_f32(0x7f7fffff)), 0x7f80);        /* FLT_MAX rounds to inf */
    CHECK_EQ_INT(to_half(BF16, bits_f32(0x00010000)), 0x0001);
    uint16_t nan_bits = to_half(BF16, bits_f32(0x7f800001)); /* signalling NaN stays a NaN */
    CHECK((nan_bits & 0x7f80) == 0x7f80 && (nan_bits & 0x7f) != 0);
    CHECK(f32_bits(from_half(BF16, 0xc0a0)) == 0xc0a00000u);
}

/* Q8_K restated directly from its definition: the signed value of largest magnitude (first
 * one on ties) sets iscale = -127/max; q = min(127, round-half-even(iscale*x)); d = 1/iscale;
 * bsums are sums of 16. rintf rounds half to even in the default rounding mode. */
static void q8_k_restated(const float *x, bn_block_q8_k *y) {
    float max = 0.0f;
    for (int j = 0; j < 256; j++)
        if (fabsf(x[j]) > fabsf(max)) max = x[j];
    memset(y, 0, sizeof *y);
    if (max == 0.0f) return;
    float iscale = -127.0f / max;
    for (int j = 0; j < 256; j++) {
        float s = iscale * x[j];
        int q = (int)rintf(s);
        y->qs[j] = (int8_t)(q < 127 ? q : 127);
    }
    for (int j = 0; j < 256; j++) y->bsums[j / 16] = (int16_t)(y->bsums[j / 16] + y->qs[j]);
    y->d = 1.0f / iscale;
}

static int q8_k_mismatches(const float *x, int n_blocks) {
    bn_block_q8_k got[4], want;
    int bad = 0;
    bn_quantize_row_q8_k(x, got, (uint64_t)n_blocks * 256);
    for (int b = 0; b < n_blocks; b++) {
        q8_k_restated(x + 256 * b, &want);
        bad += memcmp(&got[b].d, &want.d, 4) != 0 || memcmp(got[b].qs, want.qs, 256) != 0 ||
               memcmp(got[b].bsums, want.bsums, sizeof want.bsums) != 0;
    }
    return bad;
}

TEST(q8_k_bit_exact) {
    float x[4 * 256];
    /* random blocks at different magnitudes */
    for (int i = 0; i < 4 * 256; i++) x[i] = rng_uniform(-1.0f, 1.0f) * (i < 256 ? 1e-3f : i < 512 ? 1.0f : 1e4f);
    CHECK_EQ_INT(q8_k_mismatches(x, 4), 0);

    /* all-zero block next to a normal one */
    for (int j = 0; j < 256; j++) x[j] = 0.0f;
    CHECK_EQ_INT(q8_k_mismatches(x, 2), 0);
    bn_block_q8_k y[2];
    bn_quantize_row_q8_k(x, y, 512);
    CHECK(y[0].d == 0.0f && y[0].qs[0] == 0 && y[0].bsums[15] == 0);

    /* negative max of -127: iscale = 1, so x values are exact ties */
    for (int j = 0; j < 256; j++) x[j] = (float)(j % 16) - 7.5f; /* -7.5 .. 7.5 */
    x[100] = -127.0f;
    CHECK_EQ_INT(q8_k_mismatches(x, 1), 0);
    bn_quantize_row_q8_k(x, y, 256);
    CHECK(y[0].d == 1.0f);
    CHECK_EQ_INT(y[0].qs[0], -8);  /* -7.5 -> -8 (even) */
    CHECK_EQ_INT(y[0].qs[1], -6);  /* -6.5 -> -6 */
    CHECK_EQ_INT(y[0].qs[7], 0);   /* -0.5 -> 0 */
    CHECK_EQ_INT(y[0].qs[8], 0);   /*  0.5 -> 0 */
    CHECK_EQ_INT(y[0].qs[9], 2);   /*  1.5 -> 2 */
    CHECK_EQ_INT(y[0].qs[15], 8);  /*  7.5 -> 8 */
    CHECK_EQ_INT(y[0].qs[100], -127);

    /* positive max: iscale = -127/max flips signs; ties of the largest magnitude: first wins */
    for (int j = 0; j < 256; j++) x[j] = rng_uniform(-3.0f, 3.0f);
    x[10] = 5.0f;
    x[20] = -5.0f;
    CHECK_EQ_INT(q8_k_mismatches(x, 1), 0);
    bn_quantize_row_q8_k(x, y, 256);
    CHECK_EQ_INT(y[0].qs[10], -127);
    CHECK_EQ_INT(y[0].qs[20], 127);
    CHECK(y[0].d == 1.0f / (-127.0f / 5.0f));
    int sum = 0;
    for (int j = 0; j < 16; j++) sum += y[0].qs[j];
    CHECK_EQ_INT(y[0].bsums[0], sum);
}

TEST_MAIN_BEGIN("test_types")
    RUN(table_rows);
    RUN(nbytes);
    RUN(ternary_round_trip);
    RUN(ternary_quantize_rounds_to_nearest);
    RUN(tq2_0_layout);
    RUN(tq1_0_layout);
    RUN(i2_s_layout);
    RUN(i2_s_quantize_trailer);
    RUN(q8_0_layout_and_rounding);
    RUN(q8_0_error_bound);
    RUN(f16_edges);
    RUN(bf16_edges);
    RUN(q8_k_bit_exact);
TEST_MAIN_END()
