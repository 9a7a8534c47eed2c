/*
 * Unit test of the offline memory planner (src/plan/memory_plan.c) on hand-made lifetimes:
 * hand-checked cases with exact offsets and arena sizes, then 1000 random cases checked by
 * brute force (no two buffers live at the same time share a byte, every offset aligned,
 * the arena between the peak live size and the naive sum). Then the lifetimes of views
 * (kiln_memory_alias_lifetimes): roots through chains, a root's life stretched to its
 * views' last reads, and a plan made with them never lets a view's bytes be reused early.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/memory_plan.h"
#include "test_util.h"

#define A KILN_ARENA_ALIGNMENT

static uint64_t align_up(uint64_t v) {
    return (v + A - 1) / A * A;
}

static int placed(const uint64_t *sizes, const int32_t *first, int32_t i) {
    return sizes[i] > 0 && first[i] >= 0;
}

static int lifetimes_overlap(const int32_t *first, const int32_t *last, int32_t i, int32_t j) {
    return first[i] <= last[j] && first[j] <= last[i];
}

/*
 * Checks every property of a plan; returns the number of violations (printed, at most a
 * few). The reserved extent of a buffer is its size rounded up to the alignment: kernels
 * may touch the tail of the last vector, so those bytes must not be shared either.
 */
static int check_plan(int32_t n, const uint64_t *sizes, const int32_t *first, const int32_t *last,
                      const uint64_t *offsets, uint64_t arena, const char *what) {
    int bad = 0;
    uint64_t naive = 0;
    for (int32_t i = 0; i < n; i++) {
        if (!placed(sizes, first, i)) {
            if (offsets[i] != 0 && bad++ < 5)
                fprintf(stderr, "%s: unplaced buffer %d has offset %llu\n", what, i,
                        (unsigned long long)offsets[i]);
            continue;
        }
        naive += align_up(sizes[i]);
        if (offsets[i] % A != 0 && bad++ < 5)
            fprintf(stderr, "%s: buffer %d at %llu is not %d-aligned\n", what, i,
                    (unsigned long long)offsets[i], A);
        if (offsets[i] + sizes[i] > arena && bad++ < 5)
            fprintf(stderr, "%s: buffer %d [%llu, +%llu) ends past the arena (%llu)\n", what, i,
                    (unsigned long long)offsets[i], (unsigned long long)sizes[i],
                    (unsigned long long)arena);
        for (int32_t j = 0; j < i; j++) {
            if (!placed(sizes, first, j) || !lifetimes_overlap(first, last, i, j)) continue;
            uint64_t a0 = offsets[i], a1 = a0 + align_up(sizes[i]);
            uint64_t b0 = offsets[j], b1 = b0 + align_up(sizes[j]);
            if (a0 < b1 && b0 < a1 && bad++ < 5)
                fprintf(stderr,
                        "%s: buffers %d [%llu,%llu) steps %d..%d and %d [%llu,%llu) steps %d..%d "
                        "overlap\n",
                        what, i, (unsigned long long)a0, (unsigned long long)a1, first[i], last[i],
                        j, (unsigned long long)b0, (unsigned long long)b1, first[j], last[j]);
        }
    }
    if (arena > naive && bad++ < 5)
        fprintf(stderr, "%s: arena %llu is larger than the naive sum %llu\n", what,
                (unsigned long long)arena, (unsigned long long)naive);
    /* No plan can beat the bytes live at the busiest step. */
    int32_t max_step = 0;
    for (int32_t i = 0; i < n; i++)
        if (placed(sizes, first, i) && last[i] > max_step) max_step = last[i];
    for (int32_t s = 0; s <= max_step; s++) {
        uint64_t live = 0;
        for (int32_t i = 0; i < n; i++)
            if (placed(sizes, first, i) && first[i] <= s && s <= last[i])
                live += align_up(sizes[i]);
        if (live > arena && bad++ < 5)
            fprintf(stderr, "%s: %llu bytes live at step %d, arena only %llu\n", what,
                    (unsigned long long)live, s, (unsigned long long)arena);
    }
    return bad;
}

static uint64_t plan(int32_t n, const uint64_t *sizes, const int32_t *first, const int32_t *last,
                     uint64_t *offsets, const char *what) {
    uint64_t arena = UINT64_MAX;
    EXPECT_EQ_INT(kiln_memory_plan(n, sizes, first, last, offsets, &arena), KILN_OK);
    EXPECT_EQ_INT(check_plan(n, sizes, first, last, offsets, arena, what), 0);
    return arena;
}

static void test_known_cases(void) {
    uint64_t off[8];
    /* Nothing to place. */
    EXPECT_EQ_INT(plan(0, NULL, NULL, NULL, off, "empty"), 0);

    /* A chain a -> b -> c: each buffer lives while it is written and read. Largest first:
     * c at 0, b after c (they meet at step 2), a in the gap before b (a and c never meet).
     * The arena is the peak, b + c, so the plan is optimal. */
    {
        uint64_t sizes[] = {100, 200, 300}; /* 128, 256, 320 aligned */
        int32_t first[] = {0, 1, 2}, last[] = {1, 2, 3};
        EXPECT_EQ_INT(plan(3, sizes, first, last, off, "chain"), 576);
        EXPECT_EQ_INT(off[2], 0);
        EXPECT_EQ_INT(off[1], 320);
        EXPECT_EQ_INT(off[0], 0);
    }
    /* Lifetimes that never meet all start at 0: the arena is the largest buffer. */
    {
        uint64_t sizes[] = {64, 1000, 65, 512};
        int32_t first[] = {0, 1, 2, 3}, last[] = {0, 1, 2, 3};
        EXPECT_EQ_INT(plan(4, sizes, first, last, off, "disjoint"), 1024);
        for (int i = 0; i < 4; i++) EXPECT_EQ_INT(off[i], 0);
    }
    /* Lifetimes that all meet: the arena is the naive sum, buffers stacked largest first. */
    {
        uint64_t sizes[] = {64, 1000, 65, 512};
        int32_t first[] = {0, 0, 0, 0}, last[] = {5, 5, 5, 5};
        EXPECT_EQ_INT(plan(4, sizes, first, last, off, "all live"), 64 + 1024 + 128 + 512);
        EXPECT_EQ_INT(off[1], 0);
        EXPECT_EQ_INT(off[3], 1024);
        EXPECT_EQ_INT(off[2], 1536);
        EXPECT_EQ_INT(off[0], 1664);
    }
    /* A gap reused: P [0,1024) at step 0 and Q [0,512) at steps 1..3 do not meet; R lives
     * over both, so it goes above P at 1024; S (step 2) meets Q and R only and fits the gap
     * [512, 1024) between them. */
    {
        uint64_t sizes[] = {1024, 512, 256, 128};
        int32_t first[] = {0, 1, 0, 2}, last[] = {0, 3, 3, 2};
        EXPECT_EQ_INT(plan(4, sizes, first, last, off, "gap"), 1280);
        EXPECT_EQ_INT(off[0], 0);
        EXPECT_EQ_INT(off[1], 0);
        EXPECT_EQ_INT(off[2], 1024);
        EXPECT_EQ_INT(off[3], 512);
    }
    /* Best fit: at step 4 there are two gaps, 256 bytes at [256, 512) and 128 at
     * [768, 896), left by fillers that die after step 3. Largest first (ties by index):
     * W 0, filler 256, V 512, filler 768, U 896; then X, 128 bytes at step 4, takes the
     * smaller, later gap that fits it exactly rather than the first. */
    {
        /*                  W    F    V    F    U    X */
        uint64_t sizes[] = {256, 256, 256, 128, 128, 128};
        int32_t first[] = {0, 0, 0, 0, 0, 4};
        int32_t last[] = {4, 3, 4, 3, 4, 4};
        EXPECT_EQ_INT(plan(6, sizes, first, last, off, "best fit"), 1024);
        EXPECT_EQ_INT(off[0], 0);
        EXPECT_EQ_INT(off[1], 256);
        EXPECT_EQ_INT(off[2], 512);
        EXPECT_EQ_INT(off[3], 768);
        EXPECT_EQ_INT(off[4], 896);
        EXPECT_EQ_INT(off[5], 768);
    }
    /* Buffers of size 0 or never written (first < 0) are not placed and cost nothing. */
    {
        uint64_t sizes[] = {0, 4096, 100};
        int32_t first[] = {0, -1, 0}, last[] = {3, 3, 3};
        EXPECT_EQ_INT(plan(3, sizes, first, last, off, "unplaced"), 128);
        EXPECT_EQ_INT(off[0], 0);
        EXPECT_EQ_INT(off[1], 0);
        EXPECT_EQ_INT(off[2], 0);
    }
    /* Sizes that are not multiples of the alignment still give aligned neighbours. */
    {
        uint64_t sizes[] = {1, 1, 1};
        int32_t first[] = {0, 0, 0}, last[] = {1, 1, 1};
        EXPECT_EQ_INT(plan(3, sizes, first, last, off, "tiny"), 3 * A);
    }
}

/* xorshift64: the same cases on every run. */
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(uint64_t bound) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return bound ? rng_state % bound : 0;
}

static void test_random_cases(void) {
    enum { MAXN = 48 };
    uint64_t sizes[MAXN], offsets[MAXN], again[MAXN];
    int32_t first[MAXN], last[MAXN];
    int failures = 0;
    for (int c = 0; c < 1000; c++) {
        int32_t n = (int32_t)(1 + rnd(MAXN));
        int32_t steps = (int32_t)(1 + rnd(30));
        for (int32_t i = 0; i < n; i++) {
            /* Mostly ordinary sizes, some tiny, some repeated (ties), some zero. */
            uint64_t kind = rnd(10);
            sizes[i] = kind == 0 ? 0 : kind == 1 ? 1 + rnd(64) : kind == 2 ? 4096 : 1 + rnd(100000);
            first[i] = rnd(12) == 0 ? -1 : (int32_t)rnd((uint64_t)steps);
            last[i] = first[i] < 0 ? -1 : first[i] + (int32_t)rnd((uint64_t)(steps - first[i]) + 1);
        }
        char what[64];
        snprintf(what, sizeof what, "random case %d (n=%d)", c, n);
        uint64_t arena = 0, arena2 = 0;
        if (kiln_memory_plan(n, sizes, first, last, offsets, &arena) != KILN_OK) {
            failures++;
            continue;
        }
        if (check_plan(n, sizes, first, last, offsets, arena, what)) failures++;
        /* Plans are reproducible: builds of one model give identical plan files. */
        kiln_memory_plan(n, sizes, first, last, again, &arena2);
        if (arena2 != arena || memcmp(again, offsets, sizeof(uint64_t) * (size_t)n) != 0)
            failures++;
    }
    EXPECT_EQ_INT(failures, 0);
}

/* Buffers 0..6: 1 = view of 0, 2 = view of 1 (chain), 4 = view of 3, 6 = view of 0. */
static void test_alias_lifetimes(void) {
    enum { N = 7 };
    const int32_t alias_of[N] = {-1, 0, 1, -1, 3, -1, 0};
    const int32_t first[N] = {0, 1, 2, 1, 3, 2, 4};
    const int32_t last[N] = {1, 2, 8, 3, 4, 6, 5};
    int32_t root[N], live[N];
    kiln_memory_alias_lifetimes(N, alias_of, last, root, live);
    const int32_t want_root[N] = {0, 0, 0, 3, 3, 5, 0};
    const int32_t want_live[N] = {8, 2, 8, 4, 4, 6, 5};
    for (int i = 0; i < N; i++) {
        EXPECT_EQ_INT(root[i], want_root[i]);
        EXPECT_EQ_INT(live[i], want_live[i]);
    }
    /* Planned with views at size 0 and roots' stretched lives: buffer 5 (steps 2..6)
     * must not take buffer 0's bytes, which view 2 reads until step 8. */
    const uint64_t sizes[N] = {1000, 0, 0, 1000, 0, 1000, 0};
    uint64_t offsets[N], arena = 0;
    EXPECT_EQ_INT(kiln_memory_plan(N, sizes, first, live, offsets, &arena), KILN_OK);
    EXPECT(offsets[0] != offsets[5]);
    EXPECT_EQ_INT(check_plan(N, sizes, first, live, offsets, arena, "views"), 0);
    /* A cycle (which no graph makes) is cut, not followed forever. */
    const int32_t cyc[3] = {1, 2, 0}, cl[3] = {1, 2, 3};
    int32_t cr[3], clive[3];
    kiln_memory_alias_lifetimes(3, cyc, cl, cr, clive);
    for (int i = 0; i < 3; i++) EXPECT_EQ_INT(cr[i], i);
}

int main(void) {
    test_known_cases();
    test_random_cases();
    test_alias_lifetimes();
    TEST_MAIN_END();
}
