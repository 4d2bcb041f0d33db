/* blake3_sum: prints "<hex>  <file>" for each file with the library's BLAKE3 (src/debug/blake3.h),
 * reading in odd-sized pieces so that streaming is exercised; compared against b3sum by
 * tests/scripts/test_trace.sh. With no file it hashes stdin and prints "<hex>  -".
 * Exit 0, or 1 when a file cannot be read. */
#include <stdio.h>

#include "debug/blake3.h"

static int hash_stream(FILE *f, const char *label) {
    static unsigned char buf[4099]; /* odd size: pieces straddle blocks and chunks */
    bn_blake3_hasher h;
    bn_blake3_init(&h);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) bn_blake3_update(&h, buf, n);
    if (ferror(f)) {
        fprintf(stderr, "blake3_sum: %s: read error\n", label);
        return 1;
    }
    unsigned char digest[BN_BLAKE3_OUT_LEN];
    char hex[65];
    bn_blake3_finalize(&h, digest);
    bn_blake3_to_hex(digest, hex);
    printf("%s  %s\n", hex, label);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return hash_stream(stdin, "-");
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "blake3_sum: cannot open %s\n", argv[i]);
            rc = 1;
            continue;
        }
        rc |= hash_stream(f, argv[i]);
        fclose(f);
    }
    return rc;
}
