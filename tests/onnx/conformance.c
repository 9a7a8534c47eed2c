/*
 * The ONNX backend-test conformance runner.
 *
 * Each test folder (model.onnx + test_data_set_N/{input,output}_K.pb) goes the user's
 * whole path: parse -> build -> serialize -> deserialize -> execute every data set ->
 * compare with the expected outputs. One line per test, then a summary:
 *   PASS name
 *   PASS name (checked by shape, dtype and range)   -- models with random ops, see below
 *   FAIL name: why (largest error, where)
 *   UNSUPPORTED name: op or reason
 *   N passed, N failed, N skipped
 *
 * Each test runs in a child process with a time limit, so a crash or a hang is one failed
 * test, not a dead run (--no-fork runs them in-process, for debuggers and sanitizers).
 *
 * With --expected FILE (lines "test_name<TAB or spaces>reason"), listed tests are expected
 * not to pass and every other test to pass; the exit status is non-zero when any result
 * differs from that (an unexpected pass too, so the file stays true).
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln/kiln.h"
#include "kiln/kiln_cuda.h"
#include "onnx/onnx_model.h"

typedef enum { RESULT_PASS, RESULT_FAIL, RESULT_UNSUPPORTED } result_kind;

typedef struct options {
    const char *filters[64];
    int filter_count;
    const char *expected_path;
    const char *results_path;
    int no_fork;
    int no_optimize;
    int timeout;
    int quiet;
    int cuda; /* --backend cuda */
} options;

static int cuda_engine; /* the engine under test runs on the GPU: buffers are device memory */

typedef struct expected_entry {
    char *name;
    char *reason;
} expected_entry;

static expected_entry *expected;
static int expected_count;

/* ---------------------------------------------------------------- test data -------- */

typedef struct tensor_data {
    char name[256];
    kiln_dtype dtype;
    kiln_dims dims;
    void *data;
    size_t nbytes;
    char **strings; /* string tensors: a NUL-terminated copy of each element */
    int64_t string_count;
} tensor_data;

/* One input or output of a data set: a tensor, a sequence of tensors or an empty optional
 * (an optional holding a value is that value). */
typedef struct value_data {
    int kind; /* KILN_VALUE_TENSOR, SEQUENCE or NONE */
    tensor_data tensor;
    int32_t count;
    tensor_data *items;
} value_data;

/* Kinds of the model's fed inputs and outputs, from its graph's types (the .pb files carry
 * no type tag: a TensorProto, SequenceProto or OptionalProto is told apart by the type of
 * the value it belongs to, as tests/onnx/read_all.c does). */
static kiln_onnx_value_kind input_kinds[64], output_kinds[64];

static void free_tensor(tensor_data *t) {
    free(t->data);
    for (int64_t i = 0; t->strings && i < t->string_count; i++) free(t->strings[i]);
    free(t->strings);
    memset(t, 0, sizeof *t);
}

static void free_value(value_data *v) {
    free_tensor(&v->tensor);
    for (int32_t i = 0; v->items && i < v->count; i++) free_tensor(&v->items[i]);
    free(v->items);
    memset(v, 0, sizeof *v);
}

typedef struct string_reader {
    tensor_data *t;
    int64_t next;
} string_reader;

static void read_one_string(void *user, const char *data, size_t size) {
    string_reader *r = user;
    if (r->next >= r->t->string_count) return;
    char *copy = malloc(size + 1);
    if (copy) {
        memcpy(copy, data, size);
        copy[size] = '\0';
    }
    r->t->strings[r->next++] = copy;
}

static int read_tensor(const kiln_onnx_tensor *t, tensor_data *out, const char *path, char *why,
                       size_t why_size) {
    if (t->rank > KILN_MAX_DIMS) {
        snprintf(why, why_size, "test data of rank %d", t->rank);
        return 0;
    }
    snprintf(out->name, sizeof out->name, "%s", t->name ? t->name : "");
    out->dtype = (kiln_dtype)t->data_type;
    out->dims.nb_dims = t->rank;
    for (int32_t d = 0; d < t->rank; d++) out->dims.d[d] = t->dims[d];
    if (t->data_type == KILN_DTYPE_STRING) {
        out->string_count = t->element_count;
        out->strings = calloc((size_t)(t->element_count > 0 ? t->element_count : 1), sizeof(char *));
        string_reader r = {out, 0};
        int ok = out->strings && kiln_onnx_tensor_read_strings(t, read_one_string, &r) == KILN_OK &&
                 r.next == t->element_count;
        for (int64_t i = 0; ok && i < r.next; i++) ok = out->strings[i] != NULL;
        if (!ok) snprintf(why, why_size, "cannot decode the strings of %s: %s", path, kiln_last_error());
        return ok;
    }
    size_t nbytes = 0;
    kiln_onnx_tensor_nbytes(t, &nbytes);
    out->data = malloc(nbytes ? nbytes : 1);
    out->nbytes = nbytes;
    int ok = out->data && kiln_onnx_tensor_read(t, out->data, nbytes) == KILN_OK;
    if (!ok) snprintf(why, why_size, "cannot decode %s: %s", path, kiln_last_error());
    return ok;
}

static int read_value(const kiln_onnx_value *v, value_data *out, const char *path, char *why,
                      size_t why_size) {
    switch (v->kind) {
    case KILN_ONNX_VALUE_TENSOR:
        out->kind = KILN_VALUE_TENSOR;
        return read_tensor(v->tensor, &out->tensor, path, why, why_size);
    case KILN_ONNX_VALUE_SEQUENCE:
        out->kind = KILN_VALUE_SEQUENCE;
        out->items = calloc((size_t)(v->count ? v->count : 1), sizeof *out->items);
        if (!out->items) return 0;
        for (int32_t i = 0; i < v->count; i++) {
            if (v->items[i]->kind != KILN_ONNX_VALUE_TENSOR) {
                snprintf(why, why_size, "%s: a sequence of non-tensors", path);
                return 0;
            }
            out->count = i + 1;
            if (!read_tensor(v->items[i]->tensor, &out->items[i], path, why, why_size)) return 0;
        }
        return 1;
    case KILN_ONNX_VALUE_OPTIONAL:
        if (v->count == 0) {
            out->kind = KILN_VALUE_NONE;
            return 1;
        }
        return read_value(v->items[0], out, path, why, why_size);
    default: snprintf(why, why_size, "%s: test data of a map or sparse tensor", path); return 0;
    }
}

static int load_pb(const char *path, kiln_onnx_value_kind kind, value_data *out, char *why,
                   size_t why_size) {
    kiln_onnx_value_file *vf = NULL;
    memset(out, 0, sizeof *out);
    if (kiln_onnx_value_load_file(path, kind, &vf) != KILN_OK) {
        snprintf(why, why_size, "cannot read %s: %s", path, kiln_last_error());
        return 0;
    }
    int ok = read_value(vf->value, out, path, why, why_size);
    kiln_onnx_value_file_destroy(vf);
    return ok;
}

/* Reads input_K.pb or output_K.pb, K = 0, 1, ... until one is missing. */
static int load_set(const char *dir, const char *prefix, const kiln_onnx_value_kind *kinds,
                    value_data *out, int max, int *count, char *why, size_t why_size) {
    *count = 0;
    for (int k = 0; k < max; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, k);
        struct stat st;
        if (stat(path, &st) != 0) break;
        (*count)++;
        if (!load_pb(path, kinds[k], &out[k], why, why_size)) return 0;
    }
    return 1;
}

static void free_set(value_data *t, int n) {
    for (int i = 0; i < n; i++) free_value(&t[i]);
}

/* ---------------------------------------------------------------- comparison ------- */

static double to_double(kiln_dtype dtype, const void *data, size_t i) {
    switch (dtype) {
    case KILN_DTYPE_FLOAT32: return ((const float *)data)[i];
    case KILN_DTYPE_FLOAT64: return ((const double *)data)[i];
    case KILN_DTYPE_FLOAT16: {
        uint16_t h = ((const uint16_t *)data)[i];
        int e = (h >> 10) & 31, m = h & 1023;
        double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
        return h & 0x8000 ? -v : v;
    }
    case KILN_DTYPE_BFLOAT16: {
        uint32_t bits = (uint32_t)((const uint16_t *)data)[i] << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    case KILN_DTYPE_INT8: return ((const int8_t *)data)[i];
    case KILN_DTYPE_UINT8:
    case KILN_DTYPE_BOOL: return ((const uint8_t *)data)[i];
    case KILN_DTYPE_INT16: return ((const int16_t *)data)[i];
    case KILN_DTYPE_UINT16: return ((const uint16_t *)data)[i];
    case KILN_DTYPE_INT32: return ((const int32_t *)data)[i];
    case KILN_DTYPE_UINT32: return ((const uint32_t *)data)[i];
    case KILN_DTYPE_INT64: return (double)((const int64_t *)data)[i];
    case KILN_DTYPE_UINT64: return (double)((const uint64_t *)data)[i];
    default: return NAN;
    }
}

static int is_float(kiln_dtype d) {
    return d == KILN_DTYPE_FLOAT32 || d == KILN_DTYPE_FLOAT64 || d == KILN_DTYPE_FLOAT16 ||
           d == KILN_DTYPE_BFLOAT16;
}

/* Tolerances per dtype: relative + absolute, as the ONNX backend tests' own runner
 * (rtol 1e-3, atol 1e-7), widened for half precision and slightly for float32 sums. */
static void tolerance(kiln_dtype d, double *rtol, double *atol) {
    switch (d) {
    case KILN_DTYPE_FLOAT16: *rtol = 1e-2, *atol = 1e-3; return;
    case KILN_DTYPE_BFLOAT16: *rtol = 2e-2, *atol = 1e-2; return;
    case KILN_DTYPE_FLOAT32: *rtol = 1e-3, *atol = 1e-5; return;
    case KILN_DTYPE_FLOAT64: *rtol = 1e-6, *atol = 1e-9; return;
    default: *rtol = 0, *atol = 0; return;
    }
}

/* ---------------------------------------------------------------- random ops ------- */

/* Random ops (RandomUniform*, RandomNormal*, Bernoulli, Multinomial) cannot reproduce the
 * test's values. A test whose model has one is checked by dtype, shape and range instead:
 * an output a random op writes directly must hold values its distribution allows (uniform:
 * inside [low, high]; Bernoulli: 0 or 1; Multinomial: indices >= 0; normal: finite), any
 * other output of such a model must be finite. */
typedef enum { CHECK_VALUES, CHECK_FINITE, CHECK_RANGE, CHECK_BINARY } check_kind;
typedef struct random_check {
    char output[256];
    check_kind kind;
    double lo, hi; /* CHECK_RANGE */
} random_check;

static random_check random_checks[64];
static int random_check_count, model_is_random;

static double onnx_attr_float(const kiln_onnx_node *n, const char *name, double dflt) {
    for (int32_t a = 0; a < n->attribute_count; a++)
        if (!strcmp(n->attributes[a].name, name)) return n->attributes[a].f;
    return dflt;
}

/* How an output written by node n is checked (CHECK_VALUES: n is no random op). */
static check_kind random_op_check(const kiln_onnx_node *n, double *lo, double *hi) {
    const char *op = n->op_type;
    if (!strcmp(op, "RandomUniform") || !strcmp(op, "RandomUniformLike")) {
        *lo = onnx_attr_float(n, "low", 0.0), *hi = onnx_attr_float(n, "high", 1.0);
        return CHECK_RANGE;
    }
    if (!strcmp(op, "Multinomial")) {
        *lo = 0, *hi = INFINITY;
        return CHECK_RANGE;
    }
    if (!strcmp(op, "Bernoulli")) return CHECK_BINARY;
    if (!strcmp(op, "RandomNormal") || !strcmp(op, "RandomNormalLike")) return CHECK_FINITE;
    return CHECK_VALUES;
}

static kiln_onnx_value_kind kind_of(const kiln_onnx_type *t) {
    if (!t) return KILN_ONNX_VALUE_TENSOR;
    switch (t->kind) {
    case KILN_ONNX_TYPE_SEQUENCE: return KILN_ONNX_VALUE_SEQUENCE;
    case KILN_ONNX_TYPE_MAP: return KILN_ONNX_VALUE_MAP;
    case KILN_ONNX_TYPE_OPTIONAL: return KILN_ONNX_VALUE_OPTIONAL;
    case KILN_ONNX_TYPE_SPARSE_TENSOR: return KILN_ONNX_VALUE_SPARSE_TENSOR;
    default: return KILN_ONNX_VALUE_TENSOR;
    }
}

static int is_initializer(const kiln_onnx_graph *g, const char *name) {
    for (int32_t i = 0; i < g->initializer_count; i++)
        if (!strcmp(g->initializers[i].name, name)) return 1;
    return 0;
}

/* Reads the model's op types and value types: sets model_is_random and the checks of its
 * outputs, and the kinds of its fed inputs and outputs. */
static void find_random_ops(const char *model_path) {
    model_is_random = 0, random_check_count = 0;
    for (int i = 0; i < 64; i++) input_kinds[i] = output_kinds[i] = KILN_ONNX_VALUE_TENSOR;
    kiln_onnx_model *m = NULL;
    if (kiln_onnx_model_load_file(model_path, &m) != KILN_OK || !m->graph) {
        kiln_onnx_model_destroy(m); /* the import reports the error */
        return;
    }
    const kiln_onnx_graph *g = m->graph;
    for (int32_t i = 0, k = 0; i < g->input_count && k < 64; i++)
        if (!is_initializer(g, g->inputs[i].name)) input_kinds[k++] = kind_of(g->inputs[i].type);
    for (int32_t i = 0; i < g->output_count && i < 64; i++) output_kinds[i] = kind_of(g->outputs[i].type);
    double lo, hi;
    for (int32_t i = 0; i < g->node_count; i++)
        if (random_op_check(&g->nodes[i], &lo, &hi) != CHECK_VALUES) model_is_random = 1;
    for (int32_t o = 0; model_is_random && o < g->output_count && o < 64; o++) {
        random_check *c = &random_checks[random_check_count++];
        snprintf(c->output, sizeof c->output, "%s", g->outputs[o].name);
        c->kind = CHECK_FINITE;
        for (int32_t i = 0; i < g->node_count; i++)
            for (int32_t k = 0; k < g->nodes[i].output_count; k++)
                if (!strcmp(g->nodes[i].outputs[k], c->output)) {
                    check_kind kind = random_op_check(&g->nodes[i], &lo, &hi);
                    if (kind != CHECK_VALUES) c->kind = kind, c->lo = lo, c->hi = hi;
                }
    }
    kiln_onnx_model_destroy(m);
}

/* The values of a random output: 1 when they pass its check. */
static int check_random(const char *name, kiln_dtype dtype, const void *data, size_t count,
                        char *why, size_t why_size) {
    const random_check *c = NULL;
    for (int i = 0; i < random_check_count; i++)
        if (!strcmp(random_checks[i].output, name)) c = &random_checks[i];
    if (!c) return 1;
    for (size_t i = 0; i < count; i++) {
        double v = to_double(dtype, data, i);
        int ok = c->kind == CHECK_BINARY  ? v == 0 || v == 1
                 : c->kind == CHECK_RANGE ? v >= c->lo && v <= c->hi
                                          : isfinite(v);
        if (!ok) {
            snprintf(why, why_size, "output '%s' (random): value %.9g at index %zu is %s", name, v,
                     i,
                     c->kind == CHECK_BINARY  ? "not 0 or 1"
                     : c->kind == CHECK_RANGE ? "out of range"
                                              : "not finite");
            return 0;
        }
    }
    return 1;
}

static int compare(const char *name, kiln_dtype dtype, kiln_dims dims, const void *data,
                   const tensor_data *want, char *why, size_t why_size) {
    char got_s[128] = "", want_s[128] = "";
    if (dtype != want->dtype) {
        snprintf(why, why_size, "output '%s' has type %s, expected %s", name, kiln_dtype_name(dtype),
                 kiln_dtype_name(want->dtype));
        return 0;
    }
    int same = dims.nb_dims == want->dims.nb_dims;
    for (int d = 0; same && d < dims.nb_dims; d++) same = dims.d[d] == want->dims.d[d];
    if (!same) {
        size_t p = 0, q = 0;
        for (int d = 0; d < dims.nb_dims && p < 100; d++)
            p += (size_t)snprintf(got_s + p, sizeof got_s - p, "%s%lld", d ? "," : "", (long long)dims.d[d]);
        for (int d = 0; d < want->dims.nb_dims && q < 100; d++)
            q += (size_t)snprintf(want_s + q, sizeof want_s - q, "%s%lld", d ? "," : "",
                                  (long long)want->dims.d[d]);
        snprintf(why, why_size, "output '%s' has shape [%s], expected [%s]", name, got_s, want_s);
        return 0;
    }
    int bits = kiln_dtype_bits(dtype);
    size_t count = bits ? want->nbytes * 8 / (size_t)bits : 0;
    if (model_is_random) return check_random(name, dtype, data, count, why, why_size);
    if (bits < 8 || !(is_float(dtype) || bits >= 8)) {
        if (memcmp(data, want->data, want->nbytes) != 0) {
            /* the first bytes of both, to tell packing from values */
            char got_hex[64] = "", want_hex[64] = "";
            for (size_t i = 0; i < want->nbytes && i < 8; i++) {
                snprintf(got_hex + 3 * i, 4, " %02x", ((const uint8_t *)data)[i]);
                snprintf(want_hex + 3 * i, 4, " %02x", ((const uint8_t *)want->data)[i]);
            }
            snprintf(why, why_size, "output '%s' (%s) differs: bytes%s, expected%s", name,
                     kiln_dtype_name(dtype), got_hex, want_hex);
            return 0;
        }
        return 1;
    }
    double rtol, atol;
    tolerance(dtype, &rtol, &atol);
    double worst = 0;
    size_t worst_i = 0;
    int bad = 0;
    for (size_t i = 0; i < count; i++) {
        double a = to_double(dtype, data, i), b = to_double(dtype, want->data, i);
        if (isnan(a) || isnan(b)) {
            if (isnan(a) != isnan(b)) {
                bad = 1, worst = INFINITY, worst_i = i;
                break;
            }
            continue;
        }
        if (isinf(a) || isinf(b)) {
            if (a != b) {
                bad = 1, worst = INFINITY, worst_i = i;
                break;
            }
            continue;
        }
        double err = fabs(a - b);
        if (err > atol + rtol * fabs(b)) bad = 1;
        if (err > worst) worst = err, worst_i = i;
        if (!is_float(dtype) && a != b) bad = 1;
    }
    if (bad) {
        snprintf(why, why_size, "output '%s': max abs error %.3g at index %zu (got %.9g, expected %.9g)",
                 name, worst, worst_i, to_double(dtype, data, worst_i),
                 to_double(dtype, want->data, worst_i));
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- one test --------- */

#define MAX_IO 64

static result_kind classify(kiln_status st) {
    return st == KILN_ERR_UNSUPPORTED || st == KILN_ERR_NOT_IMPLEMENTED ? RESULT_UNSUPPORTED
                                                                        : RESULT_FAIL;
}

/* Binds one input's test value: a numeric tensor (shape and buffer, copied to the GPU for
 * CUDA engines), strings, a sequence or an empty optional. */
static kiln_status bind_input(kiln_context *ctx, const char *name, value_data *v) {
    if (v->kind == KILN_VALUE_NONE) return kiln_context_set_input_none(ctx, name);
    if (v->kind == KILN_VALUE_SEQUENCE) {
        kiln_dims shapes[256];
        const void *data[256];
        if (v->count > 256) return kiln_error(KILN_ERR_UNSUPPORTED, "a sequence of %d items", v->count);
        for (int32_t k = 0; k < v->count; k++) {
            if (v->items[k].dtype == KILN_DTYPE_STRING)
                return kiln_error(KILN_ERR_UNSUPPORTED, "input '%s': a sequence of strings", name);
            shapes[k] = v->items[k].dims;
            data[k] = v->items[k].data;
        }
        return kiln_context_set_input_sequence(ctx, name, v->count, shapes, data);
    }
    tensor_data *t = &v->tensor;
    if (t->dtype == KILN_DTYPE_STRING)
        return kiln_context_set_input_strings(ctx, name, t->dims, (const char *const *)t->strings);
    kiln_status st = kiln_context_set_input_shape(ctx, name, t->dims);
    void *address = t->data;
    if (st == KILN_OK && cuda_engine) {
        /* device copies of the inputs, freed with the test process */
        st = kiln_cuda_malloc(t->nbytes, &address);
        if (st == KILN_OK) st = kiln_cuda_memcpy_htod(address, t->data, t->nbytes);
    }
    if (st == KILN_OK) st = kiln_context_set_tensor_address(ctx, name, address);
    return st;
}

static const char *value_kind_name(int kind) {
    return kind == KILN_VALUE_SEQUENCE ? "a sequence" : kind == KILN_VALUE_NONE ? "empty" : "a tensor";
}

/* A string output, element by element (bytes equal). */
static int compare_strings(kiln_context *ctx, const char *name, kiln_dims dims,
                           const tensor_data *want, char *why, size_t why_size) {
    int same = dims.nb_dims == want->dims.nb_dims;
    for (int d = 0; same && d < dims.nb_dims; d++) same = dims.d[d] == want->dims.d[d];
    if (!same) {
        snprintf(why, why_size, "output '%s' (strings) has another shape than expected", name);
        return 0;
    }
    for (int64_t i = 0; i < want->string_count; i++) {
        const char *s;
        size_t len;
        if (kiln_context_get_output_string(ctx, name, i, &s, &len) != KILN_OK) {
            snprintf(why, why_size, "%s", kiln_last_error());
            return 0;
        }
        if (len != strlen(want->strings[i]) || memcmp(s, want->strings[i], len) != 0) {
            snprintf(why, why_size, "output '%s': string %lld is \"%.*s\", expected \"%s\"", name,
                     (long long)i, (int)(len < 200 ? len : 200), s, want->strings[i]);
            return 0;
        }
    }
    return 1;
}

/* A numeric tensor output of the context against the expected tensor. */
static int compare_tensor(kiln_engine *engine, kiln_context *ctx, const char *name,
                          const tensor_data *want, char *why, size_t why_size) {
    kiln_dims dims;
    const void *data;
    kiln_dtype dtype = kiln_engine_get_tensor_dtype(engine, name);
    if (kiln_context_get_tensor_shape(ctx, name, &dims) != KILN_OK) {
        snprintf(why, why_size, "%s", kiln_last_error());
        return 0;
    }
    if (dtype == KILN_DTYPE_STRING || want->dtype == KILN_DTYPE_STRING) {
        if (dtype != want->dtype) {
            snprintf(why, why_size, "output '%s' has type %s, expected %s", name,
                     kiln_dtype_name(dtype), kiln_dtype_name(want->dtype));
            return 0;
        }
        return compare_strings(ctx, name, dims, want, why, why_size);
    }
    if (kiln_context_get_tensor_data(ctx, name, &data) != KILN_OK) {
        snprintf(why, why_size, "%s", kiln_last_error());
        return 0;
    }
    void *host = NULL;
    if (cuda_engine) {
        /* sub-byte types (int4, float4...) round up to whole bytes */
        size_t count = 1;
        for (int d = 0; d < dims.nb_dims; d++) count *= (size_t)dims.d[d];
        size_t bytes = ((size_t)kiln_dtype_bits(dtype) * count + 7) / 8;
        host = malloc(bytes ? bytes : 1);
        if (!host || kiln_cuda_memcpy_dtoh(host, data, bytes) != KILN_OK) {
            snprintf(why, why_size, "%s", kiln_last_error());
            free(host);
            return 0;
        }
        data = host;
    }
    int same = compare(name, dtype, dims, data, want, why, why_size);
    free(host);
    return same;
}

/* One output against its expected value, whatever its kind. */
static int compare_output(kiln_engine *engine, kiln_context *ctx, const char *name,
                          const value_data *want, char *why, size_t why_size) {
    int32_t kind = KILN_VALUE_TENSOR;
    if (kiln_context_get_output_kind(ctx, name, &kind) != KILN_OK) {
        snprintf(why, why_size, "%s", kiln_last_error());
        return 0;
    }
    if (kind != want->kind) {
        snprintf(why, why_size, "output '%s' is %s, expected %s", name, value_kind_name(kind),
                 value_kind_name(want->kind));
        return 0;
    }
    if (kind == KILN_VALUE_NONE) return 1;
    if (kind == KILN_VALUE_TENSOR) return compare_tensor(engine, ctx, name, &want->tensor, why, why_size);
    int32_t count = 0;
    if (kiln_context_get_output_sequence_count(ctx, name, &count) != KILN_OK) {
        snprintf(why, why_size, "%s", kiln_last_error());
        return 0;
    }
    if (count != want->count) {
        snprintf(why, why_size, "output '%s' has %d items, expected %d", name, count, want->count);
        return 0;
    }
    kiln_dtype dtype = kiln_engine_get_tensor_dtype(engine, name);
    for (int32_t k = 0; k < count; k++) {
        kiln_dims dims;
        const void *data;
        char item[300];
        snprintf(item, sizeof item, "%s[%d]", name, k);
        if (kiln_context_get_output_sequence_item(ctx, name, k, &dims, &data) != KILN_OK) {
            snprintf(why, why_size, "%s", kiln_last_error());
            return 0;
        }
        if (!compare(item, dtype, dims, data, &want->items[k], why, why_size)) return 0;
    }
    return 1;
}

static result_kind run_dataset(kiln_engine *engine, kiln_context *ctx, const char *dir, char *why,
                               size_t why_size) {
    static value_data inputs[MAX_IO], outputs[MAX_IO];
    int nin = 0, nout = 0;
    result_kind r = RESULT_PASS;
    if (!load_set(dir, "input", input_kinds, inputs, MAX_IO, &nin, why, why_size) ||
        !load_set(dir, "output", output_kinds, outputs, MAX_IO, &nout, why, why_size)) {
        r = RESULT_UNSUPPORTED;
        goto done;
    }
    int in_k = 0, out_k = 0;
    for (int32_t i = 0; i < kiln_engine_num_io_tensors(engine); i++) {
        const char *name = kiln_engine_get_tensor_name(engine, i);
        if (kiln_engine_get_tensor_mode(engine, name) != KILN_TENSOR_IO_INPUT) continue;
        if (in_k >= nin) {
            snprintf(why, why_size, "no test data for input '%s'", name);
            r = RESULT_FAIL;
            goto done;
        }
        kiln_status st = bind_input(ctx, name, &inputs[in_k++]);
        if (st != KILN_OK) {
            snprintf(why, why_size, "%s", kiln_last_error());
            r = classify(st);
            goto done;
        }
    }
    kiln_status st = kiln_context_execute(ctx);
    if (st != KILN_OK) {
        snprintf(why, why_size, "%s", kiln_last_error());
        r = classify(st);
        goto done;
    }
    for (int32_t i = 0; i < kiln_engine_num_io_tensors(engine); i++) {
        const char *name = kiln_engine_get_tensor_name(engine, i);
        if (kiln_engine_get_tensor_mode(engine, name) != KILN_TENSOR_IO_OUTPUT) continue;
        if (out_k >= nout) break;
        if (!compare_output(engine, ctx, name, &outputs[out_k++], why, why_size)) {
            r = RESULT_FAIL;
            goto done;
        }
    }
    if (out_k != nout) {
        snprintf(why, why_size, "the engine has %d outputs, the test %d", out_k, nout);
        r = RESULT_FAIL;
    }
done:
    free_set(inputs, nin);
    free_set(outputs, nout);
    return r;
}

/* Builds a profile fixing each dynamic input at the shape of the first data set. */
static kiln_status add_profile(kiln_builder *builder, kiln_network *net, kiln_builder_config *cfg,
                               const char *test_dir) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/test_data_set_0", test_dir);
    kiln_optimization_profile *p = NULL;
    int needed = 0;
    for (int32_t i = 0; i < kiln_network_num_inputs(net); i++) {
        kiln_tensor *t = kiln_network_get_input(net, i);
        kiln_dims d = kiln_tensor_get_dims(t);
        int dynamic = d.nb_dims < 0;
        for (int k = 0; k < d.nb_dims; k++) dynamic |= d.d[k] < 0;
        if (!dynamic) continue;
        /* sequences and optionals have no profile (their values come whole) */
        if (i >= 64 || input_kinds[i] != KILN_ONNX_VALUE_TENSOR) continue;
        char path[4200], why[256];
        snprintf(path, sizeof path, "%s/input_%d.pb", dir, i);
        value_data vd;
        if (!load_pb(path, KILN_ONNX_VALUE_TENSOR, &vd, why, sizeof why)) {
            free_value(&vd);
            continue;
        }
        if (!p) kiln_builder_create_optimization_profile(builder, &p);
        for (int s = 0; p && s < 3; s++)
            kiln_optimization_profile_set_dimensions(p, kiln_tensor_get_name(t), (kiln_profile_selector)s,
                                                     vd.tensor.dims);
        free_value(&vd);
        needed = 1;
    }
    kiln_status st = KILN_OK;
    if (needed && p) st = kiln_builder_config_add_optimization_profile(cfg, p);
    kiln_optimization_profile_destroy(p);
    return st;
}

static result_kind run_test(const char *test_dir, const options *opt, char *why, size_t why_size) {
    char model[4096];
    snprintf(model, sizeof model, "%s/model.onnx", test_dir);
    kiln_logger *logger = NULL;
    kiln_builder *builder = NULL;
    kiln_network *net = NULL;
    kiln_onnx_parser *parser = NULL;
    kiln_builder_config *cfg = NULL;
    kiln_host_memory *plan = NULL;
    kiln_runtime *runtime = NULL;
    kiln_engine *engine = NULL;
    kiln_context *ctx = NULL;
    result_kind r = RESULT_PASS;
    find_random_ops(model);
    kiln_status st = kiln_logger_create(NULL, NULL, KILN_SEVERITY_INTERNAL_ERROR, &logger);
    if (st == KILN_OK) st = kiln_builder_create(logger, &builder);
    if (st == KILN_OK) st = kiln_builder_create_network(builder, KILN_NETWORK_EXPLICIT_BATCH, &net);
    if (st == KILN_OK) st = kiln_onnx_parser_create(net, logger, &parser);
    if (st == KILN_OK) {
        st = kiln_onnx_parser_parse_from_file(parser, model);
        if (st != KILN_OK) {
            if (kiln_onnx_parser_num_errors(parser) > 0) {
                const char *op = kiln_onnx_parser_get_error_op(parser, 0);
                snprintf(why, why_size, "%s%s%s", op && *op ? op : "", op && *op ? ": " : "",
                         kiln_onnx_parser_get_error(parser, 0));
            } else {
                snprintf(why, why_size, "%s", kiln_last_error());
            }
            r = classify(st);
            goto done;
        }
    }
    if (st == KILN_OK) st = kiln_builder_create_config(builder, &cfg);
    if (st == KILN_OK && opt->no_optimize)
        st = kiln_builder_config_set_flag(cfg, KILN_BUILDER_FLAG_NO_OPTIMIZE, 1);
    if (st == KILN_OK) st = kiln_builder_config_set_num_threads(cfg, 1);
    if (st == KILN_OK && opt->cuda) st = kiln_builder_config_set_device(cfg, KILN_DEVICE_CUDA, 0);
    /* Conformance compares with FP32 references: TF32 (on by default on GPUs) is measured
     * on whole models instead (bench/gpu_models.py). */
    if (st == KILN_OK && opt->cuda) st = kiln_builder_config_set_flag(cfg, KILN_BUILDER_FLAG_TF32, 0);
    cuda_engine = opt->cuda;
    if (st == KILN_OK) st = add_profile(builder, net, cfg, test_dir);
    if (st == KILN_OK) st = kiln_builder_build_serialized_network(builder, net, cfg, &plan);
    /* The network and parser may go before the engine is loaded: the plan owns all. */
    kiln_onnx_parser_destroy(parser), parser = NULL;
    kiln_network_destroy(net), net = NULL;
    if (st == KILN_OK) st = kiln_runtime_create(logger, &runtime);
    if (st == KILN_OK)
        st = kiln_runtime_deserialize_engine(runtime, kiln_host_memory_data(plan),
                                             kiln_host_memory_size(plan), &engine);
    kiln_host_memory_destroy(plan), plan = NULL;
    if (st == KILN_OK) st = kiln_engine_create_execution_context(engine, &ctx);
    if (st != KILN_OK) {
        snprintf(why, why_size, "%s", kiln_last_error());
        r = classify(st);
        goto done;
    }
    DIR *d = opendir(test_dir);
    struct dirent *e;
    int sets = 0;
    while (r == RESULT_PASS && d && (e = readdir(d))) {
        if (strncmp(e->d_name, "test_data_set_", 14)) continue;
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", test_dir, e->d_name);
        r = run_dataset(engine, ctx, dir, why, why_size);
        sets++;
    }
    if (d) closedir(d);
    if (r == RESULT_PASS && sets == 0) {
        snprintf(why, why_size, "no test data sets");
        r = RESULT_UNSUPPORTED;
    }
    if (r == RESULT_PASS && model_is_random)
        snprintf(why, why_size, "checked by shape, dtype and range");
done:
    kiln_context_destroy(ctx);
    kiln_engine_destroy(engine);
    kiln_runtime_destroy(runtime);
    kiln_host_memory_destroy(plan);
    kiln_builder_config_destroy(cfg);
    kiln_onnx_parser_destroy(parser);
    kiln_network_destroy(net);
    kiln_builder_destroy(builder);
    kiln_logger_destroy(logger);
    return r;
}

/* Runs a test in a child with a time limit; the child writes "<kind>\n<why>". */
static result_kind run_isolated(const char *test_dir, const options *opt, char *why, size_t why_size) {
    if (opt->no_fork) return run_test(test_dir, opt, why, why_size);
    int fds[2];
    if (pipe(fds) != 0) return run_test(test_dir, opt, why, why_size);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        alarm((unsigned)opt->timeout);
        char msg[2048] = "";
        result_kind r = run_test(test_dir, opt, msg, sizeof msg);
        char out[2100];
        int n = snprintf(out, sizeof out, "%d\n%s", (int)r, msg);
        if (n > 0 && write(fds[1], out, (size_t)n) < 0) _exit(3);
        _exit(0);
    }
    close(fds[1]);
    char buf[2100];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)n;
    buf[got] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        snprintf(why, why_size, "%s", sig == SIGALRM ? "timed out" : strsignal(sig));
        return RESULT_FAIL;
    }
    char *nl = strchr(buf, '\n');
    if (!nl) {
        snprintf(why, why_size, "the test process exited with status %d", WEXITSTATUS(status));
        return RESULT_FAIL;
    }
    snprintf(why, why_size, "%s", nl + 1);
    return (result_kind)atoi(buf);
}

/* ---------------------------------------------------------------- driver ----------- */

static const expected_entry *find_expected(const char *name) {
    for (int i = 0; i < expected_count; i++)
        if (!strcmp(expected[i].name, name)) return &expected[i];
    return NULL;
}

static int load_expected(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conformance: cannot read %s: %s\n", path, strerror(errno));
        return 0;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#') continue;
        size_t n = strcspn(line, " \t");
        char *reason = line + n;
        while (*reason == ' ' || *reason == '\t') reason++;
        line[n] = '\0';
        expected = realloc(expected, sizeof *expected * (size_t)(expected_count + 1));
        expected[expected_count].name = strdup(line);
        expected[expected_count].reason = strdup(reason);
        expected_count++;
    }
    fclose(f);
    return 1;
}

static int matches(const options *opt, const char *name) {
    if (opt->filter_count == 0) return 1;
    for (int i = 0; i < opt->filter_count; i++)
        if (strstr(name, opt->filters[i])) return 1;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void one_line(char *s) {
    for (; *s; s++)
        if (*s == '\n' || *s == '\t') *s = ' ';
}

int main(int argc, char **argv) {
    options opt = {.timeout = 60};
    const char *dirs[16];
    int ndirs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--filter") && i + 1 < argc && opt.filter_count < 64)
            opt.filters[opt.filter_count++] = argv[++i];
        else if (!strcmp(argv[i], "--expected") && i + 1 < argc) opt.expected_path = argv[++i];
        else if (!strcmp(argv[i], "--results") && i + 1 < argc) opt.results_path = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) opt.timeout = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-fork")) opt.no_fork = 1;
        else if (!strcmp(argv[i], "--no-optimize")) opt.no_optimize = 1;
        else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
            const char *b = argv[++i];
            if (!strcmp(b, "cuda")) opt.cuda = 1;
            else if (strcmp(b, "cpu")) {
                fprintf(stderr, "conformance: --backend is cpu or cuda\n");
                return 2;
            }
        }
        else if (!strcmp(argv[i], "--quiet")) opt.quiet = 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr,
                    "usage: kiln_conformance [--filter SUBSTR]... [--expected FILE] [--results FILE]\n"
                    "                        [--timeout SECONDS] [--no-fork] [--no-optimize] [--quiet]\n"
                    "                        [--backend cpu|cuda] DIR...\n");
            return 2;
        } else if (ndirs < 16) dirs[ndirs++] = argv[i];
    }
    if (!ndirs) {
        fprintf(stderr, "conformance: give at least one folder of tests\n");
        return 2;
    }
    if (opt.expected_path && !load_expected(opt.expected_path)) return 2;
    FILE *results = opt.results_path ? fopen(opt.results_path, "w") : NULL;
    int passed = 0, failed = 0, skipped = 0, surprises = 0;
    for (int di = 0; di < ndirs; di++) {
        DIR *d = opendir(dirs[di]);
        if (!d) {
            fprintf(stderr, "conformance: cannot open %s\n", dirs[di]);
            return 2;
        }
        char **names = NULL;
        int count = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || !matches(&opt, e->d_name)) continue;
            names = realloc(names, sizeof *names * (size_t)(count + 1));
            names[count++] = strdup(e->d_name);
        }
        closedir(d);
        qsort(names, (size_t)count, sizeof *names, by_name);
        for (int i = 0; i < count; i++) {
            char test_dir[4096], why[2048] = "";
            snprintf(test_dir, sizeof test_dir, "%s/%s", dirs[di], names[i]);
            result_kind r = run_isolated(test_dir, &opt, why, sizeof why);
            one_line(why);
            const char *label = r == RESULT_PASS ? "PASS" : r == RESULT_FAIL ? "FAIL" : "UNSUPPORTED";
            passed += r == RESULT_PASS;
            failed += r == RESULT_FAIL;
            skipped += r == RESULT_UNSUPPORTED;
            const expected_entry *x = opt.expected_path ? find_expected(names[i]) : NULL;
            const char *note = "";
            if (opt.expected_path && ((r == RESULT_PASS) == (x != NULL))) {
                surprises++;
                note = x ? "  [UNEXPECTED PASS: remove it from the expected-failures file]"
                         : "  [UNEXPECTED: not in the expected-failures file]";
            }
            if (!opt.quiet || *note)
                printf("%s %s%s%s%s%s\n", label, names[i],
                       r != RESULT_PASS ? ": " : *why ? " (" : "", why,
                       r == RESULT_PASS && *why ? ")" : "", note);
            if (results) {
                fprintf(results, "%s\t%s\t%s\n", label, names[i], why);
                fflush(results); /* --no-fork runs keep what finished if one test crashes */
            }
            free(names[i]);
        }
        free(names);
    }
    if (results) fclose(results);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (opt.expected_path) {
        printf("%d result(s) differ from %s\n", surprises, opt.expected_path);
        return surprises ? 1 : 0;
    }
    return 0;
}
