/* test_blake3: the portable BLAKE3 against the official test vectors and streaming splits. */
#include <stdint.h>

#include "debug/blake3.h"
#include "test.h"

/* The official test vectors (BLAKE3 repository, test_vectors/test_vectors.json): input of
 * length L is the bytes i % 251; the expected default hash is the first 32 bytes of each
 * case's "hash" field. (Checked against Debian's b3sum 1.2.0 when this file was written;
 * tests/scripts/test_trace.sh re-checks the same lengths against b3sum at run time.) */
static const struct { size_t len; const char *hex; } vectors[] = {
    {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
    {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
    {1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11"},
    {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
    {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
    {2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a"},
    {2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030"},
    {3072, "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2"},
    {3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"},
    {4096, "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969"},
    {4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995"},
    {5120, "9cadc15fed8b5d854562b26a9536d9707cadeda9b143978f319ab34230535833"},
    {5121, "628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff"},
    {6144, "3e2e5b74e048f3add6d21faab3f83aa44d3b2278afb83b80b3c35164ebeca205"},
    {6145, "f1323a8631446cc50536a9f705ee5cb619424d46887f3c376c695b70e0f0507f"},
    {7168, "61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a"},
    {7169, "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817"},
    {8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63"},
    {8193, "bab6c09cb8ce8cf459261398d2e7aef35700bf488116ceb94a36d0f5f1b7bc3b"},
    {16384, "f875d6646de28985646f34ee13be9a576fd515f76b5b0a26bb324735041ddde4"},
    {31744, "62b6960e1a44bcc1eb1a611a8d6235b6b4b78f32e7abc4fb4c6cdcce94895c47"},
    {102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"},
};
#define N_VECTORS (sizeof vectors / sizeof vectors[0])
#define MAX_LEN 102400

static uint8_t input[MAX_LEN];

static void fill_input(void) {
    for (size_t i = 0; i < MAX_LEN; i++) input[i] = (uint8_t)(i % 251);
}

static void hash_in_pieces(size_t len, const size_t *pieces, size_t n_pieces, char hex[65]) {
    bn_blake3_hasher h;
    bn_blake3_init(&h);
    size_t off = 0;
    for (size_t k = 0; off < len; k++) {
        size_t take = pieces[k % n_pieces];
        if (take > len - off) take = len - off;
        bn_blake3_update(&h, input + off, take);
        off += take;
    }
    uint8_t digest[BN_BLAKE3_OUT_LEN];
    bn_blake3_finalize(&h, digest);
    bn_blake3_to_hex(digest, hex);
}

TEST(official_vectors_one_shot) {
    for (size_t v = 0; v < N_VECTORS; v++) {
        char hex[65];
        bn_blake3_hex(input, vectors[v].len, hex);
        CHECK_MSG(strcmp(hex, vectors[v].hex) == 0, "length %zu: got %s", vectors[v].len, hex);
    }
}

/* Piece sizes that straddle block (64) and chunk (1024) boundaries, including empty updates. */
TEST(streaming_odd_pieces_equal_one_shot) {
    static const size_t patterns[][4] = {{1, 1, 1, 1}, {63, 65, 0, 7}, {1023, 1, 1025, 3}, {64, 1024, 2048, 13},
                                         {4097, 999, 17, 0}};
    for (size_t v = 0; v < N_VECTORS; v++) {
        if (vectors[v].len > 8193 && vectors[v].len != 102400) continue; /* keep it quick */
        for (size_t p = 0; p < sizeof patterns / sizeof patterns[0]; p++) {
            size_t pieces[4];
            size_t n = 0;
            for (int k = 0; k < 4; k++)
                if (patterns[p][k]) pieces[n++] = patterns[p][k];
            char hex[65];
            hash_in_pieces(vectors[v].len, pieces, n, hex);
            CHECK_MSG(strcmp(hex, vectors[v].hex) == 0, "length %zu, pattern %zu: got %s", vectors[v].len, p, hex);
        }
    }
}

TEST(finalize_leaves_state_usable) {
    bn_blake3_hasher h;
    bn_blake3_init(&h);
    bn_blake3_update(&h, input, 3000);
    uint8_t mid[BN_BLAKE3_OUT_LEN], end[BN_BLAKE3_OUT_LEN];
    bn_blake3_finalize(&h, mid);
    bn_blake3_finalize(&h, end);
    CHECK(memcmp(mid, end, sizeof mid) == 0); /* finalize twice: same answer */
    bn_blake3_update(&h, input + 3000, 3073 - 3000);
    char hex[65];
    bn_blake3_finalize(&h, end);
    bn_blake3_to_hex(end, hex);
    CHECK_STR(hex, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3"); /* len 3073 */
    bn_blake3_update(&h, NULL, 0);
    bn_blake3_finalize(&h, mid);
    CHECK(memcmp(mid, end, sizeof mid) == 0);
}

TEST(different_inputs_differ) {
    char a[65], b[65];
    bn_blake3_hex(input, 2049, a);
    input[2048] ^= 1;
    bn_blake3_hex(input, 2049, b);
    input[2048] ^= 1;
    CHECK(strcmp(a, b) != 0);
    CHECK_EQ_INT(strlen(a), 64);
    CHECK_EQ_INT(strspn(a, "0123456789abcdef"), 64);
}

TEST_MAIN_BEGIN("test_blake3")
fill_input();
RUN(official_vectors_one_shot);
RUN(streaming_odd_pieces_equal_one_shot);
RUN(finalize_leaves_state_usable);
RUN(different_inputs_differ);
TEST_MAIN_END()
