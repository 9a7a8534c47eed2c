/*
 * Unit test of the plan file (src/plan/plan_writer.c, plan_reader.c), through the public
 * API, on the bundled digits model:
 *   - round trip: build, serialize, load from memory and from a file (mmap), run, compare
 *     with the reference outputs; re-serializing a loaded engine gives the same bytes;
 *   - the layout: the plan is split and re-assembled by an independent implementation of
 *     docs/plan-format.md, which must reproduce the writer's bytes exactly;
 *   - corruption: every byte flipped, random bit flips, every truncation: always refused
 *     with KILN_ERR_PLAN or KILN_ERR_VERSION_MISMATCH and a message, never accepted;
 *   - compatibility: another kiln version, another device, an ONNX file instead of a plan;
 *   - robustness: damaged sections with valid checksums (what a checksum cannot catch)
 *     must never crash the loader, and known cases must be refused (weight dims whose
 *     element count overflows) or made safe (a huge thread count).
 *
 * The repository is found through $KILN_SOURCE_DIR, else from this file's path.
 * KILN_TEST_QUICK=1 shortens the corruption loops (for runs under valgrind).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kiln/kiln.h"
#include "plan/byte_io.h"
#include "plan/plan_format.h"
#include "runtime/engine.h"
#include "test_util.h"

/* ---- paths ------------------------------------------------------------------------------ */

static void source_path(char *buf, size_t size, const char *rel) {
    const char *env = getenv("KILN_SOURCE_DIR");
    if (env && *env) {
        snprintf(buf, size, "%s/%s", env, rel);
        return;
    }
    const char *file = __FILE__;
    const char *tail = strstr(file, "tests/unit/test_plan.c");
    if (tail)
        snprintf(buf, size, "%.*s%s", (int)(tail - file), file, rel);
    else
        snprintf(buf, size, "../../%s", rel); /* ctest runs in <build>/tests */
}

static uint8_t *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    uint8_t *data = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            uint8_t *p = realloc(data, cap);
            if (!p) break;
            data = p;
        }
        got = fread(data + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *size = n;
    return data;
}

static int write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t written = fwrite(data, 1, size, f);
    return (fclose(f) == 0) & (written == size);
}

/* A fresh temporary file name (the file exists, empty, so the name is ours). */
static void temp_path(char *buf, size_t size) {
    const char *dir = getenv("TMPDIR");
    snprintf(buf, size, "%s/kiln_test_plan_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(buf);
    if (fd >= 0) close(fd);
}

/* ---- .npy (float32, C order) ------------------------------------------------------------ */

typedef struct npy {
    float *data;
    int32_t rank;
    int64_t dims[KILN_MAX_DIMS];
    int64_t count;
} npy;

static int npy_load(const char *path, npy *out) {
    memset(out, 0, sizeof *out);
    size_t size;
    uint8_t *raw = read_file(path, &size);
    if (!raw || size < 10 || memcmp(raw, "\x93NUMPY", 6) != 0) {
        free(raw);
        return 0;
    }
    size_t header_len, start;
    if (raw[6] == 1) {
        header_len = (size_t)raw[8] | (size_t)raw[9] << 8;
        start = 10;
    } else {
        header_len = size < 12 ? 0
                               : (size_t)raw[8] | (size_t)raw[9] << 8 | (size_t)raw[10] << 16 |
                                     (size_t)raw[11] << 24;
        start = 12;
    }
    if (start + header_len > size) {
        free(raw);
        return 0;
    }
    char header[1024];
    size_t hl = header_len < sizeof header - 1 ? header_len : sizeof header - 1;
    memcpy(header, raw + start, hl);
    header[hl] = '\0';
    const char *shape = strstr(header, "'shape': (");
    if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False") || !shape) {
        free(raw);
        return 0;
    }
    out->count = 1;
    for (const char *p = shape + 10; *p && *p != ')' && out->rank < KILN_MAX_DIMS;) {
        char *end;
        long long d = strtoll(p, &end, 10);
        if (end == p) break;
        out->dims[out->rank++] = d;
        out->count *= d;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    size_t bytes = (size_t)out->count * sizeof(float);
    if (start + header_len + bytes > size) {
        free(raw);
        return 0;
    }
    out->data = malloc(bytes ? bytes : 1);
    if (out->data) memcpy(out->data, raw + start + header_len, bytes);
    free(raw);
    return out->data != NULL;
}

/* ---- the digits engine ------------------------------------------------------------------ */

static kiln_dims dims4(int64_t a, int64_t b, int64_t c, int64_t d) {
    kiln_dims r = {4, {a, b, c, d}};
    return r;
}

/* Builds an engine from an ONNX file with a batch profile 1..max_batch on `input`. */
static kiln_engine *build_engine(const char *onnx_path, const char *input, int64_t max_batch) {
    kiln_builder *builder = NULL;
    kiln_network *network = NULL;
    kiln_onnx_parser *parser = NULL;
    kiln_builder_config *config = NULL;
    kiln_optimization_profile *profile = NULL;
    kiln_engine *engine = NULL;
    kiln_status st = kiln_builder_create(NULL, &builder);
    if (st == KILN_OK)
        st = kiln_builder_create_network(builder, KILN_NETWORK_EXPLICIT_BATCH, &network);
    if (st == KILN_OK) st = kiln_onnx_parser_create(network, NULL, &parser);
    if (st == KILN_OK) st = kiln_onnx_parser_parse_from_file(parser, onnx_path);
    if (st == KILN_OK) st = kiln_builder_create_config(builder, &config);
    if (st == KILN_OK) st = kiln_builder_config_set_num_threads(config, 1);
    if (st == KILN_OK && input) {
        st = kiln_builder_create_optimization_profile(builder, &profile);
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(profile, input, KILN_PROFILE_MIN,
                                                          dims4(1, 1, 8, 8));
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(profile, input, KILN_PROFILE_OPT,
                                                          dims4(max_batch, 1, 8, 8));
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(profile, input, KILN_PROFILE_MAX,
                                                          dims4(max_batch, 1, 8, 8));
        if (st == KILN_OK) st = kiln_builder_config_add_optimization_profile(config, profile);
    }
    if (st == KILN_OK) st = kiln_builder_build_engine(builder, network, config, &engine);
    if (st != KILN_OK)
        fprintf(stderr, "building %s: %s: %s\n", onnx_path, kiln_status_string(st),
                kiln_last_error());
    kiln_optimization_profile_destroy(profile);
    kiln_builder_config_destroy(config);
    kiln_onnx_parser_destroy(parser);
    kiln_network_destroy(network);
    kiln_builder_destroy(builder);
    return st == KILN_OK ? engine : NULL;
}

/* Runs the digits engine on `batch` images; 1 on success. */
static int run_digits(kiln_engine *e, const float *images, int64_t batch, float *probabilities) {
    kiln_context *c = NULL;
    kiln_status st = kiln_engine_create_execution_context(e, &c);
    if (st == KILN_OK) st = kiln_context_set_input_shape(c, "image", dims4(batch, 1, 8, 8));
    if (st == KILN_OK) st = kiln_context_set_tensor_address(c, "image", (void *)images);
    if (st == KILN_OK) st = kiln_context_set_tensor_address(c, "probabilities", probabilities);
    if (st == KILN_OK) st = kiln_context_execute(c);
    if (st != KILN_OK) fprintf(stderr, "run: %s: %s\n", kiln_status_string(st), kiln_last_error());
    kiln_context_destroy(c);
    return st == KILN_OK;
}

static int close_to(const float *a, const float *b, int64_t n, float atol, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= atol)) {
            fprintf(stderr, "%s: element %lld is %.9g, expected %.9g\n", what, (long long)i, a[i],
                    b[i]);
            return 0;
        }
    return 1;
}

/* ---- an independent reading of docs/plan-format.md -------------------------------------- */

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) {
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}
static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* The documented checksum, written out again rather than calling kiln_checksum64, so the
 * document and the code are checked against each other. */
static uint64_t doc_checksum(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    size_t words = n / 8, i;
    for (i = 0; i < words; i++) {
        h = (h ^ get_u64(p + 8 * i)) * 0x100000001b3ull;
        h ^= h >> 29;
    }
    for (i = words * 8; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (uint64_t)n;
}

#define NSEC 6

typedef struct plan_parts {
    uint32_t format, version, device;
    uint8_t *sec[NSEC]; /* section i + 1 (META .. WEIGHTS), malloc'ed copies */
    size_t len[NSEC];
} plan_parts;

static void parts_free(plan_parts *p) {
    for (int i = 0; i < NSEC; i++) free(p->sec[i]);
    memset(p, 0, sizeof *p);
}

/* Splits a well-formed plan (trusted: the writer's own output). */
static int plan_split(const uint8_t *d, size_t n, plan_parts *out) {
    memset(out, 0, sizeof *out);
    if (n < 48 + 32 * NSEC || memcmp(d, "KILNPLAN", 8) != 0) return 0;
    out->format = get_u32(d + 8);
    out->version = get_u32(d + 12);
    out->device = get_u32(d + 16);
    if (get_u32(d + 20) != NSEC) return 0;
    for (int i = 0; i < NSEC; i++) {
        const uint8_t *t = d + 48 + 32 * i;
        uint64_t off = get_u64(t + 8), len = get_u64(t + 16);
        if (off > n || len > n - off) return 0;
        out->sec[i] = malloc(len ? len : 1);
        if (!out->sec[i]) return 0;
        memcpy(out->sec[i], d + off, len);
        out->len[i] = len;
    }
    return 1;
}

/* Lays a plan out as the document says: header, table, sections back to back, WEIGHTS at
 * the next multiple of 256 (zero padding), checksums of sections, table and header. */
static uint8_t *plan_join(const plan_parts *p, size_t *size) {
    uint64_t off[NSEC], pos = 48 + 32 * NSEC;
    for (int i = 0; i < NSEC; i++) {
        if (i == NSEC - 1) pos = (pos + 255) & ~(uint64_t)255;
        off[i] = pos;
        pos += p->len[i];
    }
    uint8_t *d = calloc(1, pos);
    if (!d) return NULL;
    for (int i = 0; i < NSEC; i++) {
        uint8_t *t = d + 48 + 32 * i;
        put_u32(t, (uint32_t)(i + 1));
        put_u32(t + 4, 0);
        put_u64(t + 8, off[i]);
        put_u64(t + 16, p->len[i]);
        put_u64(t + 24, doc_checksum(p->sec[i], p->len[i]));
        if (p->len[i]) memcpy(d + off[i], p->sec[i], p->len[i]);
    }
    memcpy(d, "KILNPLAN", 8);
    put_u32(d + 8, p->format);
    put_u32(d + 12, p->version);
    put_u32(d + 16, p->device);
    put_u32(d + 20, NSEC);
    put_u64(d + 24, pos);
    put_u64(d + 32, doc_checksum(d + 48, 32 * NSEC));
    put_u64(d + 40, doc_checksum(d, 40));
    *size = (size_t)pos;
    return d;
}

/* A walk over the GRAPH, BINDINGS, MEMORY and KERNELS encodings of the document, which
 * records every constant. It trusts nothing: an overrun clears `ok`. */
#define MAX_CONSTANTS 256

typedef struct plan_constant {
    char name[64];
    size_t dims_at; /* offset of its first dim in the GRAPH section */
    uint32_t dtype, rank;
    uint64_t offset, nbytes;
} plan_constant;

typedef struct walk {
    const uint8_t *p;
    size_t n, pos;
    int ok;
    int32_t count;
    plan_constant c[MAX_CONSTANTS];
} walk;

static int w_need(walk *w, uint64_t k) {
    if (!w->ok || k > w->n - w->pos) w->ok = 0;
    return w->ok;
}
static void w_skip(walk *w, uint64_t k) {
    if (w_need(w, k)) w->pos += (size_t)k;
}
static uint32_t w_u32(walk *w) {
    if (!w_need(w, 4)) return 0;
    w->pos += 4;
    return get_u32(w->p + w->pos - 4);
}
static uint64_t w_u64(walk *w) {
    if (!w_need(w, 8)) return 0;
    w->pos += 8;
    return get_u64(w->p + w->pos - 8);
}
static void w_str(walk *w, char *out, size_t cap) {
    uint32_t len = w_u32(w);
    if (!w_need(w, len)) return;
    if (out) snprintf(out, cap, "%.*s", (int)len, (const char *)w->p + w->pos);
    w->pos += len;
}

static void w_graph(walk *w, int depth);

static void w_attr(walk *w, int depth) {
    w_str(w, NULL, 0);
    uint32_t type = w_u32(w), count;
    switch (type) {
    case 1:
        w_skip(w, 8);
        break; /* INT */
    case 2:
        w_skip(w, 4);
        break; /* FLOAT */
    case 3:
        w_skip(w, w_u32(w));
        break; /* STRING */
    case 4:
        w_skip(w, 8 * (uint64_t)w_u32(w));
        break; /* INTS */
    case 5:
        w_skip(w, 4 * (uint64_t)w_u32(w));
        break; /* FLOATS */
    case 6:    /* STRINGS */
        count = w_u32(w);
        for (uint32_t i = 0; i < count && w->ok; i++) w_str(w, NULL, 0);
        break;
    case 7: /* TENSOR: dtype, rank, dims, nbytes, data inline */
        w_u32(w);
        w_skip(w, 8 * (uint64_t)w_u32(w));
        w_skip(w, w_u64(w));
        break;
    case 8:
        w_graph(w, depth + 1);
        break; /* GRAPH */
    case 9:    /* GRAPHS */
        count = w_u32(w);
        for (uint32_t i = 0; i < count && w->ok; i++) w_graph(w, depth + 1);
        break;
    default:
        w->ok = 0;
    }
}

static void w_graph(walk *w, int depth) {
    if (depth > 64) w->ok = 0;
    w_str(w, NULL, 0);
    uint32_t tensors = w_u32(w);
    for (uint32_t i = 0; i < tensors && w->ok; i++) {
        plan_constant c;
        memset(&c, 0, sizeof c);
        w_str(w, c.name, sizeof c.name);
        c.dtype = w_u32(w);
        c.rank = w_u32(w);
        c.dims_at = w->pos;
        for (uint32_t d = 0; c.rank != UINT32_MAX && d < c.rank && w->ok; d++) {
            w_skip(w, 8);
            w_str(w, NULL, 0);
        }
        w_u32(w); /* producer */
        if (w_u32(w)) {
            c.offset = w_u64(w);
            c.nbytes = w_u64(w);
            if (w->count < MAX_CONSTANTS) w->c[w->count++] = c;
        }
    }
    uint32_t nodes = w_u32(w);
    for (uint32_t i = 0; i < nodes && w->ok; i++) {
        w_str(w, NULL, 0); /* name */
        w_str(w, NULL, 0); /* op */
        w_u32(w);          /* opset */
        w_skip(w, 4 * (uint64_t)w_u32(w));
        w_skip(w, 4 * (uint64_t)w_u32(w));
        uint32_t attrs = w_u32(w);
        for (uint32_t a = 0; a < attrs && w->ok; a++) w_attr(w, depth);
    }
    w_skip(w, 4 * (uint64_t)w_u32(w)); /* graph inputs */
    w_skip(w, 4 * (uint64_t)w_u32(w)); /* graph outputs */
}

/* Walks a whole GRAPH section; 1 when it was consumed exactly. */
static int walk_graph(const uint8_t *p, size_t n, walk *w, uint32_t *top_nodes) {
    memset(w, 0, sizeof *w);
    w->p = p;
    w->n = n;
    w->ok = 1;
    w_graph(w, 0);
    if (top_nodes) {
        /* The top-level node count: walk again up to it. */
        walk t = {.p = p, .n = n, .ok = 1};
        w_str(&t, NULL, 0);
        uint32_t tensors = w_u32(&t);
        for (uint32_t i = 0; i < tensors && t.ok; i++) {
            w_str(&t, NULL, 0);
            w_u32(&t);
            uint32_t rank = w_u32(&t);
            for (uint32_t d = 0; rank != UINT32_MAX && d < rank && t.ok; d++) {
                w_skip(&t, 8);
                w_str(&t, NULL, 0);
            }
            w_u32(&t);
            if (w_u32(&t)) w_skip(&t, 16);
        }
        *top_nodes = w_u32(&t);
    }
    return w->ok && w->pos == w->n;
}

/* ---- loading ---------------------------------------------------------------------------- */

static kiln_runtime *runtime;

/* Loads plan bytes from memory; the engine is destroyed, the status returned. */
static kiln_status load_status(const uint8_t *plan, size_t size) {
    kiln_engine *e = NULL;
    kiln_clear_error();
    kiln_status st = kiln_runtime_deserialize_engine(runtime, plan, size, &e);
    kiln_engine_destroy(e);
    return st;
}

/* A damaged plan must be refused, with a plan or version status and a message. Prints at
 * most a few of the failures of one loop; returns 1 when the case was refused properly. */
static int refused(const uint8_t *plan, size_t size, const char *what, size_t where, int *printed) {
    kiln_status st = load_status(plan, size);
    const char *msg = kiln_last_error();
    int ok = (st == KILN_ERR_PLAN || st == KILN_ERR_VERSION_MISMATCH) && msg && *msg;
    if (!ok && (*printed)++ < 10)
        fprintf(stderr, "%s at %zu (plan of %zu bytes): %s, '%s'\n", what, where, size,
                kiln_status_string(st), msg ? msg : "(null)");
    return ok;
}

static int quick_mode(void) {
    const char *q = getenv("KILN_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0;
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_checksum_matches_doc(void) {
    uint8_t buf[300];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    for (size_t n = 0; n <= sizeof buf; n += 7)
        EXPECT(kiln_checksum64(buf, n) == doc_checksum(buf, n));
    EXPECT(kiln_checksum64(buf, 0) == (0xcbf29ce484222325ull ^ 0));
}

/* Layout: the writer's bytes are exactly what the document describes. */
static void test_layout(const uint8_t *plan, size_t size) {
    EXPECT(memcmp(plan, KILN_PLAN_MAGIC, 8) == 0);
    EXPECT_EQ_INT(get_u32(plan + 8), KILN_PLAN_FORMAT_VERSION);
    EXPECT_EQ_INT(get_u32(plan + 12), kiln_get_version());
    EXPECT_EQ_INT(get_u32(plan + 16), KILN_DEVICE_CPU);
    EXPECT_EQ_INT(get_u32(plan + 20), NSEC);
    EXPECT_EQ_INT(get_u64(plan + 24), size);
    uint64_t weights_off = get_u64(plan + 48 + 32 * 5 + 8);
    EXPECT_EQ_INT(weights_off % 256, 0);
    EXPECT_EQ_INT(get_u64(plan + 48 + 8), 48 + 32 * NSEC); /* META right after the table */

    plan_parts parts;
    EXPECT(plan_split(plan, size, &parts));
    size_t joined_size = 0;
    uint8_t *joined = plan_join(&parts, &joined_size);
    EXPECT(joined && joined_size == size && memcmp(joined, plan, size) == 0);
    free(joined);

    /* META: version string, device fingerprint, device index, flags, threads. */
    const uint8_t *m = parts.sec[0];
    uint32_t vlen = get_u32(m);
    EXPECT(vlen == strlen(kiln_version_string()) &&
           memcmp(m + 4, kiln_version_string(), vlen) == 0);
    uint32_t flen = get_u32(m + 4 + vlen);
    char here[256];
    kiln_plan_device_fingerprint(KILN_DEVICE_CPU, 0, here, sizeof here);
    EXPECT(flen == strlen(here) && memcmp(m + 8 + vlen, here, flen) == 0);
    EXPECT_EQ_INT(parts.len[0], 8 + vlen + flen + 12);

    /* GRAPH: walked to its end; every constant 256-aligned in WEIGHTS, the constants back
     * to back in the order met, each padded with zeros to a multiple of 256, and nothing
     * else in the section. */
    static walk w; /* large: keep it off the stack */
    uint32_t nodes = 0;
    EXPECT(walk_graph(parts.sec[1], parts.len[1], &w, &nodes));
    EXPECT(w.count > 0);
    uint64_t next = 0;
    for (int32_t i = 0; i < w.count; i++) {
        const plan_constant *c = &w.c[i];
        EXPECT_EQ_INT(c->offset, next);
        EXPECT(c->offset + c->nbytes <= parts.len[5]);
        if (c->offset + c->nbytes > parts.len[5]) break;
        uint64_t end = (c->offset + c->nbytes + 255) & ~(uint64_t)255;
        for (uint64_t b = c->offset + c->nbytes; b < end && b < parts.len[5]; b++)
            if (parts.sec[5][b] != 0) {
                EXPECT(parts.sec[5][b] == 0);
                break;
            }
        next = end;
    }
    EXPECT_EQ_INT(parts.len[5], next);

    /* BINDINGS: io records, then the profiles' min/opt/max for inputs of known rank. */
    walk b = {.p = parts.sec[2], .n = parts.len[2], .ok = 1};
    uint32_t io_count = w_u32(&b), modes[16] = {0}, ranks[16] = {0};
    EXPECT(io_count == 2); /* image, probabilities */
    for (uint32_t i = 0; i < io_count && i < 16 && b.ok; i++) {
        w_str(&b, NULL, 0);
        modes[i] = w_u32(&b);
        w_u32(&b); /* tensor */
        w_u32(&b); /* dtype */
        ranks[i] = w_u32(&b);
        if (ranks[i] != UINT32_MAX) w_skip(&b, 8 * (uint64_t)ranks[i]);
    }
    EXPECT(modes[0] == KILN_TENSOR_IO_INPUT && ranks[0] == 4);
    EXPECT(modes[1] == KILN_TENSOR_IO_OUTPUT && ranks[1] == 2);
    uint32_t profiles = w_u32(&b);
    EXPECT_EQ_INT(profiles, 1);
    for (uint32_t p = 0; p < profiles && b.ok; p++)
        for (uint32_t i = 0; i < io_count && i < 16; i++)
            if (modes[i] == KILN_TENSOR_IO_INPUT && ranks[i] != UINT32_MAX)
                w_skip(&b, 3 * 8 * (uint64_t)ranks[i]);
    EXPECT(b.ok && b.pos == b.n);

    /* MEMORY: one (first, last) pair per top-level tensor, two u64 and a u32. */
    walk m2 = {.p = parts.sec[3], .n = parts.len[3], .ok = 1};
    uint32_t tensors = w_u32(&m2);
    w_skip(&m2, 8 * (uint64_t)tensors + 8 + 8 + 4);
    EXPECT(m2.ok && m2.pos == m2.n);

    /* KERNELS: one name per top-level node. */
    walk k = {.p = parts.sec[4], .n = parts.len[4], .ok = 1};
    EXPECT_EQ_INT(w_u32(&k), nodes);
    for (uint32_t i = 0; i < nodes && k.ok; i++) w_str(&k, NULL, 0);
    EXPECT(k.ok && k.pos == k.n);
    parts_free(&parts);
}

static void test_round_trip(const char *onnx_path, const npy *images, const npy *expected) {
    kiln_engine *built = build_engine(onnx_path, "image", 64);
    EXPECT(built != NULL);
    if (!built) return;
    int64_t batch = images->dims[0];
    size_t out_count = (size_t)expected->count;
    float *out_built = calloc(out_count, sizeof(float));
    float *out_mem = calloc(out_count, sizeof(float));
    float *out_file = calloc(out_count, sizeof(float));
    EXPECT(run_digits(built, images->data, batch, out_built));
    EXPECT(close_to(out_built, expected->data, (int64_t)out_count, 1e-5f, "built engine"));

    kiln_host_memory *plan = NULL;
    EXPECT_EQ_INT(kiln_engine_serialize(built, &plan), KILN_OK);
    if (!plan) goto done_built;
    const uint8_t *bytes = kiln_host_memory_data(plan);
    size_t size = kiln_host_memory_size(plan);
    test_layout(bytes, size);

    /* From memory: the caller's buffer may go away at once. */
    uint8_t *copy = malloc(size);
    memcpy(copy, bytes, size);
    kiln_engine *from_mem = NULL;
    EXPECT_EQ_INT(kiln_runtime_deserialize_engine(runtime, copy, size, &from_mem), KILN_OK);
    memset(copy, 0xAB, size);
    free(copy);

    char path[512];
    temp_path(path, sizeof path);
    EXPECT_EQ_INT(kiln_engine_serialize_to_file(built, path), KILN_OK);
    size_t file_size = 0;
    uint8_t *file_bytes = read_file(path, &file_size);
    EXPECT(file_bytes && file_size == size && memcmp(file_bytes, bytes, size) == 0);
    free(file_bytes);
    kiln_engine *from_file = NULL;
    EXPECT_EQ_INT(kiln_runtime_deserialize_engine_from_file(runtime, path, &from_file), KILN_OK);
    unlink(path);

    if (from_mem && from_file) {
        EXPECT_EQ_INT(kiln_engine_num_layers(from_mem), kiln_engine_num_layers(built));
        EXPECT_EQ_INT(kiln_engine_get_weight_bytes(from_mem), kiln_engine_get_weight_bytes(built));
        EXPECT_EQ_INT(kiln_engine_get_planned_arena_bytes(from_file),
                      kiln_engine_get_planned_arena_bytes(built));
        kiln_dims lo, hi;
        EXPECT_EQ_INT(kiln_engine_get_profile_shape(from_file, "image", 0, KILN_PROFILE_MIN, &lo),
                      KILN_OK);
        EXPECT_EQ_INT(kiln_engine_get_profile_shape(from_file, "image", 0, KILN_PROFILE_MAX, &hi),
                      KILN_OK);
        EXPECT(lo.nb_dims == 4 && lo.d[0] == 1 && hi.nb_dims == 4 && hi.d[0] == 64);
        /* Loaded engines use the weights in place, where the plan put them: 256-aligned. */
        for (int k = 0; k < 2; k++) {
            const kiln_graph *g = (k ? from_file : from_mem)->graph;
            for (int32_t t = 0; t < g->tensor_count; t++)
                if (g->tensors[t].data) {
                    EXPECT(g->tensors[t].borrowed);
                    EXPECT_EQ_INT((uintptr_t)g->tensors[t].data % KILN_PLAN_WEIGHT_ALIGN, 0);
                }
        }
        EXPECT(run_digits(from_mem, images->data, batch, out_mem));
        EXPECT(run_digits(from_file, images->data, batch, out_file));
        EXPECT(close_to(out_mem, expected->data, (int64_t)out_count, 1e-5f, "from memory"));
        EXPECT(close_to(out_file, expected->data, (int64_t)out_count, 1e-5f, "from file"));
        EXPECT(memcmp(out_mem, out_file, out_count * sizeof(float)) == 0);
        EXPECT(memcmp(out_mem, out_built, out_count * sizeof(float)) == 0);
        /* One image at a time, at the bottom of the profile. */
        float one[10];
        EXPECT(run_digits(from_file, images->data + 64 * 5, 1, one));
        EXPECT(close_to(one, expected->data + 10 * 5, 10, 1e-5f, "batch of 1"));

        /* Plans are reproducible: a loaded engine writes back the same bytes. */
        kiln_host_memory *again_mem = NULL, *again_file = NULL;
        EXPECT_EQ_INT(kiln_engine_serialize(from_mem, &again_mem), KILN_OK);
        EXPECT_EQ_INT(kiln_engine_serialize(from_file, &again_file), KILN_OK);
        EXPECT(again_mem && kiln_host_memory_size(again_mem) == size &&
               memcmp(kiln_host_memory_data(again_mem), bytes, size) == 0);
        EXPECT(again_file && kiln_host_memory_size(again_file) == size &&
               memcmp(kiln_host_memory_data(again_file), bytes, size) == 0);
        kiln_host_memory_destroy(again_mem);
        kiln_host_memory_destroy(again_file);
    }
    kiln_engine_destroy(from_mem);
    kiln_engine_destroy(from_file);

    /* Building twice gives the same plan, and build_serialized_network is the same path. */
    {
        kiln_builder *b = NULL;
        kiln_network *n = NULL;
        kiln_onnx_parser *p = NULL;
        kiln_builder_config *cfg = NULL;
        kiln_optimization_profile *prof = NULL;
        kiln_host_memory *plan2 = NULL;
        kiln_status st = kiln_builder_create(NULL, &b);
        if (st == KILN_OK) st = kiln_builder_create_network(b, KILN_NETWORK_EXPLICIT_BATCH, &n);
        if (st == KILN_OK) st = kiln_onnx_parser_create(n, NULL, &p);
        if (st == KILN_OK) st = kiln_onnx_parser_parse_from_file(p, onnx_path);
        if (st == KILN_OK) st = kiln_builder_create_config(b, &cfg);
        if (st == KILN_OK) st = kiln_builder_config_set_num_threads(cfg, 1);
        if (st == KILN_OK) st = kiln_builder_create_optimization_profile(b, &prof);
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(prof, "image", KILN_PROFILE_MIN,
                                                          dims4(1, 1, 8, 8));
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(prof, "image", KILN_PROFILE_OPT,
                                                          dims4(64, 1, 8, 8));
        if (st == KILN_OK)
            st = kiln_optimization_profile_set_dimensions(prof, "image", KILN_PROFILE_MAX,
                                                          dims4(64, 1, 8, 8));
        if (st == KILN_OK) st = kiln_builder_config_add_optimization_profile(cfg, prof);
        if (st == KILN_OK) st = kiln_builder_build_serialized_network(b, n, cfg, &plan2);
        EXPECT_EQ_INT(st, KILN_OK);
        EXPECT(plan2 && kiln_host_memory_size(plan2) == size &&
               memcmp(kiln_host_memory_data(plan2), bytes, size) == 0);
        kiln_host_memory_destroy(plan2);
        kiln_optimization_profile_destroy(prof);
        kiln_builder_config_destroy(cfg);
        kiln_onnx_parser_destroy(p);
        kiln_network_destroy(n);
        kiln_builder_destroy(b);
    }
    kiln_host_memory_destroy(plan);
done_built:
    kiln_engine_destroy(built);
    free(out_built);
    free(out_mem);
    free(out_file);
}

/* Every byte of the plan flipped on its own, then random bit flips: all refused. */
static void test_flips(const uint8_t *plan, size_t size) {
    uint8_t *d = malloc(size);
    memcpy(d, plan, size);
    int printed = 0, accepted = 0;
    size_t step = quick_mode() ? 7 : 1;
    for (size_t i = 0; i < size; i += step) {
        d[i] ^= 0xFF;
        if (!refused(d, size, "byte flipped", i, &printed)) accepted++;
        d[i] ^= 0xFF;
    }
    /* Bits rather than bytes, and several at once, at seeded random places. */
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int cases = quick_mode() ? 50 : 1000;
    for (int c = 0; c < cases; c++) {
        size_t where[4];
        int nflip = 1 + c % 4;
        for (int k = 0; k < nflip; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            where[k] = (size_t)(x % (size * 8));
            d[where[k] / 8] ^= (uint8_t)(1u << (where[k] % 8));
        }
        /* Two flips of one bit cancel: skip the case when the bytes are the plan again. */
        if (memcmp(d, plan, size) != 0 && !refused(d, size, "bits flipped", where[0] / 8, &printed))
            accepted++;
        memcpy(d, plan, size);
    }
    EXPECT_EQ_INT(accepted, 0);
    /* And the unharmed plan still loads: the loop above really tested damage. */
    EXPECT_EQ_INT(load_status(d, size), KILN_OK);
    free(d);
}

/* Every truncation of the first 4 KiB, then a sample; and padding at the end. */
static void test_truncation(const uint8_t *plan, size_t size) {
    int printed = 0, accepted = 0;
    /* Each length gets its own exact-size buffer, so reading past it is caught by valgrind
     * or ASan rather than landing on the rest of the plan. */
    for (size_t n = 0; n < size; n = n < 4096 ? n + 1 : n + (quick_mode() ? 1021 : 97)) {
        uint8_t *d = malloc(n ? n : 1);
        memcpy(d, plan, n);
        if (!refused(n ? d : NULL, n, "truncated", n, &printed)) accepted++;
        free(d);
    }
    for (size_t n = size - 64; n < size; n++) {
        uint8_t *d = malloc(n);
        memcpy(d, plan, n);
        if (!refused(d, n, "truncated", n, &printed)) accepted++;
        free(d);
    }
    EXPECT_EQ_INT(accepted, 0);
    kiln_status st = load_status(plan, 20);
    EXPECT_EQ_INT(st, KILN_ERR_PLAN);
    EXPECT_STR_CONTAINS(kiln_last_error(), "not a kiln plan");
    st = load_status(plan, size - 1);
    EXPECT_EQ_INT(st, KILN_ERR_PLAN);
    EXPECT_STR_CONTAINS(kiln_last_error(), "truncated");

    uint8_t *padded = calloc(1, size + 16);
    memcpy(padded, plan, size);
    EXPECT_EQ_INT(load_status(padded, size + 16), KILN_ERR_PLAN);
    free(padded);

    /* The same through a file: a mapping of exactly the truncated length. */
    char path[512];
    temp_path(path, sizeof path);
    size_t lengths[] = {0, 7, 47, 48, 200, 1000, size / 2, size - 1};
    for (size_t k = 0; k < sizeof lengths / sizeof lengths[0]; k++) {
        EXPECT(write_file(path, plan, lengths[k]));
        kiln_engine *e = NULL;
        kiln_clear_error();
        st = kiln_runtime_deserialize_engine_from_file(runtime, path, &e);
        EXPECT(st == KILN_ERR_PLAN);
        EXPECT(*kiln_last_error() != '\0');
        kiln_engine_destroy(e);
    }
    unlink(path);
}

/* The header's kiln version changed (and its checksum fixed): a version mismatch naming
 * both versions. The same for the format version. */
static void test_version_mismatch(const uint8_t *plan, size_t size) {
    uint8_t *d = malloc(size);
    memcpy(d, plan, size);
    put_u32(d + 12, 10203); /* kiln 1.2.3 */
    put_u64(d + 40, doc_checksum(d, 40));
    EXPECT_EQ_INT(load_status(d, size), KILN_ERR_VERSION_MISMATCH);
    EXPECT_STR_CONTAINS(kiln_last_error(), "1.2.3");
    EXPECT_STR_CONTAINS(kiln_last_error(), kiln_version_string());

    memcpy(d, plan, size);
    put_u32(d + 8, KILN_PLAN_FORMAT_VERSION + 1);
    put_u64(d + 40, doc_checksum(d, 40));
    EXPECT_EQ_INT(load_status(d, size), KILN_ERR_VERSION_MISMATCH);
    EXPECT_STR_CONTAINS(kiln_last_error(), "format version");

    /* Without the checksum fixed, the same change is corruption. */
    memcpy(d, plan, size);
    put_u32(d + 12, 10203);
    EXPECT_EQ_INT(load_status(d, size), KILN_ERR_PLAN);
    EXPECT_STR_CONTAINS(kiln_last_error(), "checksum");
    free(d);
}

/* The plan with its META section rewritten: another fingerprint (NULL: keep it) and thread
 * count (< 0: keep it), every checksum fixed. */
static uint8_t *plan_with_meta(const uint8_t *plan, size_t size, const char *fp, int64_t threads,
                               size_t *out_size) {
    plan_parts parts;
    if (!plan_split(plan, size, &parts)) return NULL;
    const uint8_t *m = parts.sec[0];
    uint32_t vlen = get_u32(m), flen = get_u32(m + 4 + vlen);
    size_t tail = parts.len[0] - (8 + vlen + flen); /* device index, flags, threads */
    size_t fl = fp ? strlen(fp) : flen, len = 8 + vlen + fl + tail;
    uint8_t *meta = malloc(len);
    memcpy(meta, m, 4 + vlen);
    put_u32(meta + 4 + vlen, (uint32_t)fl);
    memcpy(meta + 8 + vlen, fp ? (const uint8_t *)fp : m + 8 + vlen, fl);
    memcpy(meta + 8 + vlen + fl, m + 8 + vlen + flen, tail);
    if (threads >= 0) put_u32(meta + len - 4, (uint32_t)threads);
    free(parts.sec[0]);
    parts.sec[0] = meta;
    parts.len[0] = len;
    uint8_t *d = plan_join(&parts, out_size);
    parts_free(&parts);
    return d;
}

static kiln_status load_with_fingerprint(const uint8_t *plan, size_t size, const char *fp) {
    size_t n = 0;
    uint8_t *d = plan_with_meta(plan, size, fp, -1, &n);
    kiln_status st = d ? load_status(d, n) : KILN_ERR_INTERNAL;
    free(d);
    return st;
}

static void test_device_mismatch(const uint8_t *plan, size_t size) {
    char here[256];
    kiln_plan_device_fingerprint(KILN_DEVICE_CPU, 0, here, sizeof here);
    const char *other = strstr(here, "aarch64") ? "cpu x86_64 avx2 fma" : "cpu aarch64";
    EXPECT_EQ_INT(load_with_fingerprint(plan, size, other), KILN_ERR_VERSION_MISMATCH);
    EXPECT_STR_CONTAINS(kiln_last_error(), other);
    EXPECT_STR_CONTAINS(kiln_last_error(), here);
    EXPECT_EQ_INT(load_with_fingerprint(plan, size, "cuda sm_90 cuda=13000 cudnn=91400"),
                  KILN_ERR_VERSION_MISMATCH);
    EXPECT_STR_CONTAINS(kiln_last_error(), "cuda sm_90");
    /* A CPU plan runs on any CPU of its architecture: the features may differ. */
    char arch[64];
    size_t a = strcspn(here, " ");
    a += 1 + strcspn(here + a + 1, " ");
    snprintf(arch, sizeof arch, "%.*s", (int)a, here);
    EXPECT_EQ_INT(load_with_fingerprint(plan, size, arch), KILN_OK);
    char more[300];
    snprintf(more, sizeof more, "%s avx512f avx512bw", arch);
    EXPECT_EQ_INT(load_with_fingerprint(plan, size, more), KILN_OK);
    /* ... but "cpu x86_64" is not "cpu x86_64_v2". */
    snprintf(more, sizeof more, "%s_v2", arch);
    EXPECT_EQ_INT(load_with_fingerprint(plan, size, more), KILN_ERR_VERSION_MISMATCH);
    EXPECT_EQ_INT(load_with_fingerprint(plan, size, ""), KILN_ERR_VERSION_MISMATCH);
}

static void test_onnx_is_not_a_plan(const char *onnx_path) {
    size_t size = 0;
    uint8_t *onnx = read_file(onnx_path, &size);
    EXPECT(onnx != NULL);
    if (!onnx) return;
    EXPECT_EQ_INT(load_status(onnx, size), KILN_ERR_PLAN);
    EXPECT_STR_CONTAINS(kiln_last_error(), "not a kiln plan");
    free(onnx);
    kiln_engine *e = NULL;
    EXPECT_EQ_INT(kiln_runtime_deserialize_engine_from_file(runtime, onnx_path, &e), KILN_ERR_PLAN);
    EXPECT_STR_CONTAINS(kiln_last_error(), "not a kiln plan");
    EXPECT_STR_CONTAINS(kiln_last_error(), onnx_path);
    kiln_engine_destroy(e);
    EXPECT_EQ_INT(kiln_runtime_deserialize_engine_from_file(runtime, "/nonexistent/x.plan", &e),
                  KILN_ERR_IO);
}

/* Plans with valid checksums that once loaded and then crashed at run time. */
static void test_rechecksummed_regressions(const uint8_t *plan, size_t size, const npy *images,
                                           const npy *expected) {
    /* A constant whose dims overflow the element count: dim 0 raised by k = 2^(64 - v),
     * where 2^v divides (the other dims' product x the dtype's bits), so the count, or the
     * bits it takes, wraps back to exactly the stored byte size. The reader once accepted
     * such a weight, and kernels then read past it. */
    plan_parts parts;
    EXPECT(plan_split(plan, size, &parts));
    static walk w;
    EXPECT(walk_graph(parts.sec[1], parts.len[1], &w, NULL));
    int patched = 0;
    for (int32_t i = 0; i < w.count && !patched; i++) {
        const plan_constant *c = &w.c[i];
        int32_t bits = kiln_dtype_bits((kiln_dtype)(c->dtype & 0xFF));
        if (c->rank == 0 || c->rank == UINT32_MAX || bits <= 0) continue;
        uint8_t *dims = parts.sec[1] + c->dims_at; /* i64 dim, then its name */
        uint64_t rest = (uint64_t)bits, d0 = get_u64(dims);
        size_t at = c->dims_at + 8;
        for (uint32_t d = 1; d < c->rank; d++) {
            at += 4 + get_u32(parts.sec[1] + at); /* the previous dim's name */
            rest *= get_u64(parts.sec[1] + at);
            at += 8;
        }
        int v = 0;
        while (rest && !(rest >> v & 1)) v++;
        if (!rest || v < 3) continue;
        put_u64(dims, d0 + ((uint64_t)1 << (64 - v)));
        size_t n = 0;
        uint8_t *d = plan_join(&parts, &n);
        EXPECT_EQ_INT(load_status(d, n), KILN_ERR_PLAN);
        EXPECT_STR_CONTAINS(kiln_last_error(), c->name);
        free(d);
        patched = 1;
    }
    EXPECT(patched);
    parts_free(&parts);

    /* A huge thread count (libgomp crashed on a team of 65,537): contexts cap it. */
    size_t n = 0;
    uint8_t *d = plan_with_meta(plan, size, NULL, 65537, &n);
    kiln_engine *e = NULL;
    EXPECT(d && kiln_runtime_deserialize_engine(runtime, d, n, &e) == KILN_OK);
    float *out = calloc((size_t)expected->count, sizeof(float));
    if (e) {
        EXPECT(run_digits(e, images->data, images->dims[0], out));
        EXPECT(close_to(out, expected->data, expected->count, 1e-5f, "65,537 threads"));
    }
    free(out);
    kiln_engine_destroy(e);
    free(d);
}

/*
 * What checksums cannot catch: a section damaged and re-checksummed (a buggy or hostile
 * writer). Every byte of META..KERNELS is set to a few values, the plan re-assembled and
 * loaded: the reader may accept it (a changed name is still a plan) but must never crash
 * or leak; what it refuses it refuses with a message. Accepted engines are not run here:
 * some attribute values that pass shape inference (MaxPool pads of 127 * 2^56) still
 * crash kernels, exactly as they do when they come from an ONNX model.
 */
static void test_rechecksummed_damage(const uint8_t *plan, size_t size) {
    plan_parts parts;
    EXPECT(plan_split(plan, size, &parts));
    /* Zero, the sign bit (huge or negative counts, dims, indices), and every bit flipped
     * (the last entry stands for "saved ^ 0xFF"). */
    static const uint8_t values[] = {0x00, 0x80, 0xFF};
    int printed = 0, bad = 0;
    long refused_count = 0, accepted_count = 0;
    size_t step = quick_mode() ? 3 : 1;
    for (int s = 0; s < NSEC - 1; s++) {
        for (size_t i = 0; i < parts.len[s]; i += step) {
            uint8_t saved = parts.sec[s][i];
            for (size_t v = 0; v < sizeof values; v++) {
                uint8_t nv = (uint8_t)(v == sizeof values - 1 ? saved ^ 0xFF : values[v]);
                if (nv == saved) continue;
                parts.sec[s][i] = nv;
                size_t n = 0;
                uint8_t *d = plan_join(&parts, &n);
                kiln_status st = load_status(d, n);
                if (st == KILN_OK) {
                    accepted_count++;
                } else {
                    refused_count++;
                    if (!*kiln_last_error() && printed++ < 10) {
                        fprintf(stderr, "section %d byte %zu = 0x%02x: %s without a message\n",
                                s + 1, i, nv, kiln_status_string(st));
                        bad++;
                    }
                }
                free(d);
            }
            parts.sec[s][i] = saved;
        }
    }
    EXPECT_EQ_INT(bad, 0);
    EXPECT(refused_count > 0);
    printf("re-checksummed damage: %ld refused, %ld accepted\n", refused_count, accepted_count);
    parts_free(&parts);
}

int main(void) {
    char onnx_path[1024], batch_path[1024], expected_path[1024];
    source_path(onnx_path, sizeof onnx_path, "models/digits/digits.onnx");
    source_path(batch_path, sizeof batch_path, "models/digits/samples/batch.npy");
    source_path(expected_path, sizeof expected_path,
                "models/digits/samples/expected_probabilities.npy");
    EXPECT_EQ_INT(kiln_runtime_create(NULL, &runtime), KILN_OK);
    test_checksum_matches_doc();

    npy images, expected;
    int have_npy = npy_load(batch_path, &images) && npy_load(expected_path, &expected);
    EXPECT(have_npy);
    if (!have_npy) {
        fprintf(stderr, "cannot read %s or %s (set KILN_SOURCE_DIR)\n", batch_path, expected_path);
        TEST_MAIN_END();
    }
    EXPECT(images.rank == 4 && images.dims[0] == 64 && images.dims[1] == 1);
    EXPECT(expected.rank == 2 && expected.dims[0] == 64 && expected.dims[1] == 10);

    test_round_trip(onnx_path, &images, &expected);
    test_onnx_is_not_a_plan(onnx_path);

    kiln_engine *e = build_engine(onnx_path, "image", 64);
    kiln_host_memory *plan = NULL;
    EXPECT(e && kiln_engine_serialize(e, &plan) == KILN_OK);
    kiln_engine_destroy(e);
    if (plan) {
        const uint8_t *bytes = kiln_host_memory_data(plan);
        size_t size = kiln_host_memory_size(plan);
        test_flips(bytes, size);
        test_truncation(bytes, size);
        test_version_mismatch(bytes, size);
        test_device_mismatch(bytes, size);
        test_rechecksummed_regressions(bytes, size, &images, &expected);
        test_rechecksummed_damage(bytes, size);
    }
    kiln_host_memory_destroy(plan);
    free(images.data);
    free(expected.data);
    kiln_runtime_destroy(runtime);
    TEST_MAIN_END();
}
