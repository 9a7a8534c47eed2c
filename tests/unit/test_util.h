/* Minimal assertion helpers for the unit tests: each failure prints where and why, and
 * the test's exit status is the number of failures. */
#ifndef KILN_TEST_UTIL_H
#define KILN_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

static int kiln_test_failures = 0;

#define EXPECT(cond)                                                                          \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond);               \
            kiln_test_failures++;                                                             \
        }                                                                                     \
    } while (0)

#define EXPECT_EQ_INT(a, b)                                                                   \
    do {                                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                                   \
        if (a_ != b_) {                                                                       \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__,    \
                    #a, a_, #b, b_);                                                          \
            kiln_test_failures++;                                                             \
        }                                                                                     \
    } while (0)

#define EXPECT_STR_CONTAINS(haystack, needle)                                                 \
    do {                                                                                      \
        const char *h_ = (haystack);                                                          \
        if (!h_ || !strstr(h_, (needle))) {                                                   \
            fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__, __LINE__,         \
                    h_ ? h_ : "(null)", (needle));                                            \
            kiln_test_failures++;                                                             \
        }                                                                                     \
    } while (0)

#define TEST_MAIN_END()                                                                       \
    do {                                                                                      \
        if (kiln_test_failures) fprintf(stderr, "%d failure(s)\n", kiln_test_failures);       \
        else printf("all passed\n");                                                          \
        return kiln_test_failures ? 1 : 0;                                                    \
    } while (0)

#endif
