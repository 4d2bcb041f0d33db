/* Minimal unit-test support shared by tests/unit/test_*.c.
 *
 * Each test program registers cases with TEST(name) { ... } and runs them with
 * RUN(name). A case fails when any CHECK inside it fails; failures print file:line and
 * the failed expression. Output protocol read by tests/run_tests.sh:
 *   "ok - <program>/<case>"  or  "not ok - <program>/<case>"
 * and the program exits non-zero when any case failed. */
#ifndef BITNET_TEST_H
#define BITNET_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_case_failed_;
static int test_failures_;
static int test_cases_;
static const char *test_program_ = "test";

#define TEST(name) static void name(void)

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            test_case_failed_ = 1;                                                  \
        }                                                                           \
    } while (0)

#define CHECK_MSG(cond, ...)                                                        \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                           \
            fputc('\n', stderr);                                                    \
            test_case_failed_ = 1;                                                  \
        }                                                                           \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                          \
    do {                                                                            \
        long long a_ = (long long)(a), b_ = (long long)(b);                         \
        if (a_ != b_) {                                                             \
            fprintf(stderr, "  %s:%d: %s == %s failed: %lld vs %lld\n", __FILE__,   \
                    __LINE__, #a, #b, a_, b_);                                      \
            test_case_failed_ = 1;                                                  \
        }                                                                           \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                       \
    do {                                                                            \
        double a_ = (double)(a), b_ = (double)(b);                                  \
        if (!(fabs(a_ - b_) <= (tol))) {                                            \
            fprintf(stderr, "  %s:%d: |%s - %s| <= %g failed: %.9g vs %.9g\n",     \
                    __FILE__, __LINE__, #a, #b, (double)(tol), a_, b_);             \
            test_case_failed_ = 1;                                                  \
        }                                                                           \
    } while (0)

#define CHECK_STR(a, b)                                                             \
    do {                                                                            \
        const char *a_ = (a), *b_ = (b);                                            \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                    \
            fprintf(stderr, "  %s:%d: %s == %s failed: \"%s\" vs \"%s\"\n",         \
                    __FILE__, __LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
            test_case_failed_ = 1;                                                  \
        }                                                                           \
    } while (0)

/* Whether `name` is one of the comma-separated names in `list`. */
static inline int test_listed_(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
    return 0;
}

/* BITNET_TEST_ONLY="a,b": run only the cases named; BITNET_TEST_SKIP="a,b": run all but those
 * (tests/scripts/test_arm64.sh leaves the slowest end-to-end cases to the native runs, and
 * under a second tier a case whose tier-specific code the first tier's run covered); the
 * others print nothing. */
static inline int test_selected_(const char *name) {
    const char *only = getenv("BITNET_TEST_ONLY"), *skip = getenv("BITNET_TEST_SKIP");
    if (skip && *skip && test_listed_(skip, name)) return 0;
    return !only || !*only || test_listed_(only, name);
}

#define RUN(name)                                                                   \
    do {                                                                            \
        if (!test_selected_(#name)) break;                                          \
        test_case_failed_ = 0;                                                      \
        name();                                                                     \
        test_cases_++;                                                              \
        if (test_case_failed_) test_failures_++;                                    \
        printf("%s - %s/%s\n", test_case_failed_ ? "not ok" : "ok", test_program_, #name); \
        fflush(stdout);                                                             \
    } while (0)

#define TEST_MAIN_BEGIN(prog) int main(void) { test_program_ = (prog);
#define TEST_MAIN_END() return test_failures_ ? 1 : 0; }

#endif
