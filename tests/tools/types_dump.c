/* types_dump: our quantizers and dequantizers on a fixed pseudo-random input, as files, so
 * that tests/scripts/test_types_gguf_py.sh can compare them with llama.cpp's gguf-py.
 *
 *   types_dump write DIR
 *       DIR/input.f32              the input: 2048 f32 values (see make_input)
 *       DIR/<type>.bin             our quantization of it, for every type in the table
 *       DIR/<type>.deq             our dequantization of <type>.bin (2048 f32)
 *   types_dump dequant TYPE N IN OUT
 *       our dequantization of the N-element tensor in file IN into OUT (f32) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/types.h"

#define N_INPUT 2048

static const char *const type_names[] = {"f32", "f16", "bf16", "q8_0", "tq1_0", "tq2_0", "i2_s"};

/* 8 blocks of 256 with different characters: random values at several magnitudes, an
 * all-zero block (scale 0), and a block of exact halves under absmax 127 (Q8_0 ties). */
static void make_input(float *x) {
    uint64_t s = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < N_INPUT; i++) {
        s ^= s << 13; /* xorshift64 */
        s ^= s >> 7;
        s ^= s << 17;
        float u = (float)(s >> 40) / 16777216.0f * 2.0f - 1.0f; /* [-1, 1) */
        int block = i / 256;
        if (block == 2) x[i] = 0.0f;
        else if (block == 3) x[i] = (i % 256 == 7) ? 127.0f : (float)(i % 64 - 32) + 0.5f;
        else x[i] = u * (float)(1 << block) * 0.01f;
    }
}

static int write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "types_dump: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

static void *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(len > 0 ? (size_t)len : 1);
    *n = p && len >= 0 ? fread(p, 1, (size_t)len, f) : 0;
    fclose(f);
    return p;
}

static int cmd_write(const char *dir) {
    static float x[N_INPUT], y[N_INPUT];
    char path[4096];
    make_input(x);
    snprintf(path, sizeof path, "%s/input.f32", dir);
    if (write_file(path, x, sizeof x)) return 1;
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        const bn_type_traits *t = bn_type_by_name(type_names[i]);
        uint64_t bytes;
        if (!t || !bn_type_nbytes(t->id, N_INPUT, &bytes)) return 1;
        uint8_t *q = malloc(bytes);
        t->quantize(x, N_INPUT, q);
        t->dequantize(q, N_INPUT, 0, N_INPUT, y);
        snprintf(path, sizeof path, "%s/%s.bin", dir, t->name);
        int rc = write_file(path, q, bytes);
        snprintf(path, sizeof path, "%s/%s.deq", dir, t->name);
        rc |= write_file(path, y, sizeof y);
        free(q);
        if (rc) return 1;
    }
    return 0;
}

static int cmd_dequant(const char *type, const char *n_arg, const char *in, const char *out) {
    const bn_type_traits *t = bn_type_by_name(type);
    uint64_t n = strtoull(n_arg, NULL, 10), bytes;
    size_t got = 0;
    if (!t || !bn_type_nbytes(t->id, n, &bytes)) {
        fprintf(stderr, "types_dump: bad type '%s' or size %s\n", type, n_arg);
        return 1;
    }
    uint8_t *q = read_file(in, &got);
    if (!q || got != bytes) {
        fprintf(stderr, "types_dump: %s: expected %llu bytes, got %zu\n", in, (unsigned long long)bytes, got);
        free(q);
        return 1;
    }
    float *y = malloc(n * sizeof *y);
    t->dequantize(q, n, 0, n, y);
    int rc = write_file(out, y, n * sizeof *y);
    free(q);
    free(y);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "write") == 0) return cmd_write(argv[2]);
    if (argc == 6 && strcmp(argv[1], "dequant") == 0) return cmd_dequant(argv[2], argv[3], argv[4], argv[5]);
    fprintf(stderr, "usage: types_dump write DIR | types_dump dequant TYPE N IN OUT\n");
    return 2;
}
