/* test_cpu: tier detection sanity, the BITNET_FORCE_TIER cap (checked in child processes,
 * since the tier is chosen once per process) and the bandwidth probe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu.h"
#include "kernels/kernel_impl.h"
#include "kernels/kernels.h"
#include "test.h"

TEST(tier_names_round_trip) {
    for (int t = 0; t < BN_TIER_COUNT; t++) {
        bn_cpu_tier back;
        CHECK(bn_cpu_tier_parse(bn_cpu_tier_name((bn_cpu_tier)t), &back));
        CHECK_EQ_INT(back, t);
    }
    bn_cpu_tier dummy;
    CHECK(!bn_cpu_tier_parse("avx1024", &dummy));
    CHECK(!bn_cpu_tier_parse(NULL, &dummy));
    CHECK_STR(bn_cpu_tier_name((bn_cpu_tier)99), "?");
}

TEST(tiers_are_consistent) {
    CHECK(bn_cpu_has_tier(BN_TIER_SCALAR));
    bn_cpu_tier best = bn_cpu_best_tier();
    CHECK(bn_cpu_has_tier(best));
    for (int t = best + 1; t < BN_TIER_COUNT; t++) CHECK(!bn_cpu_has_tier((bn_cpu_tier)t));
    for (int t = 0; t < BN_TIER_COUNT; t++) {
        bn_cpu_tier c = bn_cpu_tier_capped((bn_cpu_tier)t);
        CHECK((int)c <= t && bn_cpu_has_tier(c));
        CHECK((bn_kernels_for_tier((bn_cpu_tier)t) != NULL) == bn_cpu_has_tier((bn_cpu_tier)t));
    }
    /* the avx512 and amx tiers need AVX2 as well (their tables reuse nothing below, but the
     * Makefile compiles them with -mfma -mf16c) */
    if (bn_cpu_has_tier(BN_TIER_AVX512)) CHECK(bn_cpu_has_tier(BN_TIER_AVX2));
    if (bn_cpu_has_tier(BN_TIER_AMX)) CHECK(bn_cpu_has_tier(BN_TIER_AVX512));
    printf("# best tier %s, features: %s\n", bn_cpu_tier_name(best), bn_cpu_features());
}

/* bn_cpu_amd_family against what Linux reports in /proc/cpuinfo ("cpu family" in decimal,
 * the same base + extended sum): the family on an AuthenticAMD CPU, 0 on any other (and on
 * every non-x86 build). */
TEST(amd_family_matches_cpuinfo) {
#if !defined(__x86_64__) && !defined(__i386__)
    CHECK_EQ_INT(bn_cpu_amd_family(), 0); /* and under qemu-user /proc/cpuinfo is the host's */
    return;
#endif
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) {
        CHECK_EQ_INT(bn_cpu_amd_family() >= 0, 1);
        printf("# no /proc/cpuinfo: family %d not cross-checked\n", bn_cpu_amd_family());
        return;
    }
    char line[512], vendor[64] = "";
    int family = -1;
    while (fgets(line, sizeof line, f) && (family < 0 || !vendor[0])) {
        if (!vendor[0]) sscanf(line, "vendor_id : %63s", vendor);
        if (family < 0) sscanf(line, "cpu family : %d", &family);
    }
    fclose(f);
    bool amd = !strcmp(vendor, "AuthenticAMD");
    CHECK_MSG(bn_cpu_amd_family() == (amd ? family : 0), "vendor '%s' family %d, bn_cpu_amd_family %d", vendor, family,
              bn_cpu_amd_family());
    printf("# vendor %s, cpu family %d (0x%x)\n", vendor[0] ? vendor : "?", family, family);
}

/* Runs this program as a child with BITNET_FORCE_TIER=value; returns its "tier|note" line.
 * Under user-mode emulation (tests/scripts/test_arm64.sh) the child needs the emulator too:
 * BITNET_TEST_EXEC_WRAPPER (e.g. "qemu-aarch64 -cpu max") is put before the program, whose
 * path comes from /proc/self/exe (qemu answers with the emulated program's path). */
static void child_tier(const char *value, char *out, size_t cap) {
    char cmd[1024], exe[512];
    const char *wrap = getenv("BITNET_TEST_EXEC_WRAPPER");
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    out[0] = 0;
    if (n <= 0) return;
    exe[n] = 0;
    snprintf(cmd, sizeof cmd, "BITNET_TEST_CPU_CHILD=1 BITNET_FORCE_TIER='%s' %s '%s'", value, wrap ? wrap : "", exe);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    if (!fgets(out, (int)cap, f)) out[0] = 0;
    out[strcspn(out, "\n")] = 0;
    pclose(f);
}

TEST(force_tier_caps) {
    char line[256], want[256];
    for (int t = 0; t < BN_TIER_COUNT; t++) {
        child_tier(bn_cpu_tier_name((bn_cpu_tier)t), line, sizeof line);
        bn_cpu_tier got = bn_cpu_tier_capped((bn_cpu_tier)t);
        snprintf(want, sizeof want, "%s|%s", bn_cpu_tier_name(got), (int)got == t ? "" : "note");
        if ((int)got != t) CHECK(strstr(line, "not available") != NULL);
        else CHECK_STR(line, want);
        CHECK(strncmp(line, bn_cpu_tier_name(got), strlen(bn_cpu_tier_name(got))) == 0 && line[strlen(bn_cpu_tier_name(got))] == '|');
    }
    child_tier("turbo", line, sizeof line);
    snprintf(want, sizeof want, "%s|", bn_cpu_tier_name(bn_cpu_best_tier()));
    CHECK(strncmp(line, want, strlen(want)) == 0 && strstr(line, "not a tier name"));
}

TEST(read_bandwidth_probe) {
    double gbs = bn_measure_read_bandwidth(16u << 20, 2);
    CHECK(gbs > 0.1 && gbs < 10000.0);
    printf("# read bandwidth (16 MiB, 2 threads): %.1f GB/s\n", gbs);
}

TEST_MAIN_BEGIN("test_cpu")
if (getenv("BITNET_TEST_CPU_CHILD")) {
    printf("%s|%s\n", bn_kernel_tier_name(), bn_cpu_tier_note());
    return 0;
}
RUN(tier_names_round_trip);
RUN(tiers_are_consistent);
RUN(amd_family_matches_cpuinfo);
RUN(force_tier_caps);
RUN(read_bandwidth_probe);
TEST_MAIN_END()
