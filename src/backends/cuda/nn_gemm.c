/*
 * MatMul and Gemm on the GPU through cuBLASLt.
 *
 * kiln's tensors are row-major and cuBLASLt's default layout is column-major: a row-major
 * r x c matrix is the column-major c x r matrix (its transpose) with the same leading
 * dimension. So Y = op(A) op(B) (row-major, m x n) is computed as the column-major
 * Y^T = op(B)^T op(A)^T (n x m): cuBLASLt's "A" operand is our B, its "B" operand our A,
 * with m and n swapped; our transB / transA become its TRANSA / TRANSB.
 *
 * MatMul: numpy batching. B shared by every batch ([..., M, K] x [K, N]): one GEMM of
 * (batches * M) rows. Equal batches, or A shared: one strided-batched GEMM (stride 0 for
 * the shared operand). Other broadcasts: one GEMM per output batch. 1-D operands as
 * [1, K] / [K, 1]. Gemm: transA, transB, alpha, beta; C as a bias epilogue when it is a
 * vector of N and alpha == beta == 1, else copied (broadcast) into Y first and accumulated
 * with beta.
 *
 * Compute in float (TF32 tensor cores for float32 when allowed). Tactic: the index, among
 * the first 8 of cublasLtMatmulAlgoGetHeuristic's results, of the one timed fastest at
 * build time; run re-queries the heuristic with the same descriptors and takes that index.
 */
#include "backends/cuda/cublaslt_lazy.h"
#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#include "backends/cuda/nn_common.h"

#define GEMM_WORKSPACE ((size_t)32 << 20) /* cuBLAS's recommendation for Hopper */
#define GEMM_ALGOS 8
#define GEMM_ALIGN_MAX 64u                /* kiln's arena alignment */
#define GEMM_KEY_LEN 24

/* One cuBLASLt call's geometry, in row-major terms. */
typedef struct gemm_shape {
    kiln_dtype dt;
    int ta, tb;
    int64_t m, n, k;       /* Y[m, n] = op(A)[m, k] op(B)[k, n] */
    int64_t lda, ldb, ldy; /* row lengths of the stored A, B, Y */
    int64_t batch;         /* strided batch count */
    int64_t sa, sb, sy;    /* batch strides, elements (0: shared by every batch) */
    int bias;              /* epilogue: a vector of n added to every row */
} gemm_shape;

typedef struct gemm_state {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, ly; /* cuBLASLt's A (our B), B (our A), C = D (our Y) */
    cublasLtMatmulPreference_t pref;
    int64_t key[GEMM_KEY_LEN];
    int valid;
    cublasLtMatmulHeuristicResult_t res[GEMM_ALGOS];
    int n_res;
    int chosen;
} gemm_state;

/* One node's work: the shape, the pointers, and how to get C in. */
typedef struct gemm_call {
    gemm_shape g;
    const void *a, *b, *bias;
    void *y;
    float alpha, beta;
    int64_t loops;                   /* > 1: one call per output batch at these offsets */
    int64_t *a_off, *b_off, *y_off;  /* elements; malloc'ed, freed by gemm_call_free */
    const kiln_tview *c_copy;        /* Gemm's C, broadcast into Y before the GEMM */
    int zero_k;                      /* K == 0: Y = beta * C or 0, no GEMM */
    uint32_t align;                  /* bytes, every pointer (and stride) of the call */
} gemm_call;

static void gemm_call_free(gemm_call *c) {
    free(c->a_off);
    free(c->b_off);
    free(c->y_off);
    c->a_off = c->b_off = c->y_off = NULL;
}

static cudaDataType_t gemm_cuda_type(kiln_dtype t) {
    return t == KILN_DTYPE_FLOAT16 ? CUDA_R_16F : t == KILN_DTYPE_BFLOAT16 ? CUDA_R_16BF : CUDA_R_32F;
}

static uint32_t bytes_align(uint64_t v) {
    uint32_t a = GEMM_ALIGN_MAX;
    while (a > 1 && v % a) a >>= 1;
    return a;
}

static uint32_t min_u32(uint32_t a, uint32_t b) {
    return a < b ? a : b;
}

static void gemm_state_clear(gemm_state *s) {
    if (s->desc) cublasLtMatmulDescDestroy(s->desc);
    if (s->la) cublasLtMatrixLayoutDestroy(s->la);
    if (s->lb) cublasLtMatrixLayoutDestroy(s->lb);
    if (s->ly) cublasLtMatrixLayoutDestroy(s->ly);
    if (s->pref) cublasLtMatmulPreferenceDestroy(s->pref);
    s->desc = NULL;
    s->la = s->lb = s->ly = NULL;
    s->pref = NULL;
    s->valid = 0;
}

static void gemm_state_destroy(void *p) {
    gemm_state *s = p;
    if (!s) return;
    gemm_state_clear(s);
    free(s);
}

static kiln_status layout(const kiln_node *node, cublasLtMatrixLayout_t *l, cudaDataType_t t,
                          uint64_t rows, uint64_t cols, int64_t ld, int64_t batch, int64_t stride) {
    KILN_TRY(kiln_cublas_check(node, cublasLtMatrixLayoutCreate(l, t, rows, cols, ld),
                               "cublasLtMatrixLayoutCreate"));
    if (batch > 1) {
        int32_t count = (int32_t)batch;
        KILN_TRY(kiln_cublas_check(node,
                                   cublasLtMatrixLayoutSetAttribute(*l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                                    &count, sizeof count),
                                   "cublasLtMatrixLayoutSetAttribute (batch count)"));
        KILN_TRY(kiln_cublas_check(node,
                                   cublasLtMatrixLayoutSetAttribute(
                                       *l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                       sizeof stride),
                                   "cublasLtMatrixLayoutSetAttribute (batch stride)"));
    }
    return KILN_OK;
}

/* The node's state with descriptors and heuristic results for this call (rebuilt when the
 * shape changes). */
static kiln_status gemm_setup(kiln_cuda_ctx *ctx, const kiln_node *node, const gemm_call *c,
                             gemm_state **out) {
    const gemm_shape *g = &c->g;
    void **slot = kiln_cuda_node_state(ctx, gemm_state_destroy);
    gemm_state *s = *slot;
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        *slot = s;
    }
    int tf32 = g->dt == KILN_DTYPE_FLOAT32 && kiln_cuda_allow_tf32(ctx);
    int64_t tactic = kiln_attr_int(node, "_kiln_tactic", -1);
    int64_t key[GEMM_KEY_LEN] = {g->dt, g->ta, g->tb,  g->m,  g->n,  g->k,    g->lda, g->ldb,
                                 g->ldy, g->batch, g->sa, g->sb, g->sy, g->bias, tf32,   c->align,
                                 tactic};
    *out = s;
    if (s->valid && !memcmp(key, s->key, sizeof key)) return KILN_OK;
    gemm_state_clear(s);
    cublasComputeType_t ct = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    KILN_TRY(kiln_cublas_check(node, cublasLtMatmulDescCreate(&s->desc, ct, CUDA_R_32F),
                               "cublasLtMatmulDescCreate"));
    int32_t op_a = g->tb ? CUBLAS_OP_T : CUBLAS_OP_N; /* cuBLASLt's A is our B */
    int32_t op_b = g->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    KILN_TRY(kiln_cublas_check(node,
                               cublasLtMatmulDescSetAttribute(s->desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                                              &op_a, sizeof op_a),
                               "cublasLtMatmulDescSetAttribute (transa)"));
    KILN_TRY(kiln_cublas_check(node,
                               cublasLtMatmulDescSetAttribute(s->desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                                              &op_b, sizeof op_b),
                               "cublasLtMatmulDescSetAttribute (transb)"));
    if (g->bias) {
        /* Bias of D's type (the default), one value per row of the column-major D, which
         * is per column n of our Y. */
        uint32_t epi = CUBLASLT_EPILOGUE_BIAS;
        KILN_TRY(kiln_cublas_check(node,
                                   cublasLtMatmulDescSetAttribute(s->desc, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                                  &epi, sizeof epi),
                                   "cublasLtMatmulDescSetAttribute (epilogue)"));
        const void *bias = c->bias;
        KILN_TRY(kiln_cublas_check(node,
                                   cublasLtMatmulDescSetAttribute(
                                       s->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
                                   "cublasLtMatmulDescSetAttribute (bias)"));
    }
    cudaDataType_t t = gemm_cuda_type(g->dt);
    /* cuBLASLt's A = our op(B)^T, n x k: our B stored k x n (row-major, ld ldb) is the
     * column-major n x k matrix, or with transB our B stored n x k is column-major k x n. */
    KILN_TRY(layout(node, &s->la, t, (uint64_t)(g->tb ? g->k : g->n), (uint64_t)(g->tb ? g->n : g->k),
                    g->ldb, g->batch, g->sb));
    /* cuBLASLt's B = our op(A)^T, k x m: our A stored m x k is column-major k x m; with
     * transA our A stored k x m is column-major m x k. */
    KILN_TRY(layout(node, &s->lb, t, (uint64_t)(g->ta ? g->m : g->k), (uint64_t)(g->ta ? g->k : g->m),
                    g->lda, g->batch, g->sa));
    /* C = D = our Y^T, n x m column-major with ld ldy. */
    KILN_TRY(layout(node, &s->ly, t, (uint64_t)g->n, (uint64_t)g->m, g->ldy, g->batch, g->sy));
    KILN_TRY(kiln_cublas_check(node, cublasLtMatmulPreferenceCreate(&s->pref),
                               "cublasLtMatmulPreferenceCreate"));
    uint64_t ws = GEMM_WORKSPACE;
    KILN_TRY(kiln_cublas_check(node,
                               cublasLtMatmulPreferenceSetAttribute(
                                   s->pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws),
                               "cublasLtMatmulPreferenceSetAttribute (workspace)"));
    static const cublasLtMatmulPreferenceAttributes_t align_attrs[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    uint32_t align = c->align;
    for (int i = 0; i < 4; i++)
        KILN_TRY(kiln_cublas_check(node,
                                   cublasLtMatmulPreferenceSetAttribute(s->pref, align_attrs[i], &align,
                                                                        sizeof align),
                                   "cublasLtMatmulPreferenceSetAttribute (alignment)"));
    s->n_res = 0;
    KILN_TRY(kiln_cublas_check(node,
                               cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)kiln_cuda_cublaslt(ctx),
                                                              s->desc, s->la, s->lb, s->ly, s->ly,
                                                              s->pref, GEMM_ALGOS, s->res, &s->n_res),
                               "cublasLtMatmulAlgoGetHeuristic"));
    s->chosen = -1;
    if (tactic >= 0 && tactic < s->n_res && s->res[tactic].state == CUBLAS_STATUS_SUCCESS)
        s->chosen = (int)tactic;
    for (int i = 0; s->chosen < 0 && i < s->n_res; i++)
        if (s->res[i].state == CUBLAS_STATUS_SUCCESS) s->chosen = i;
    if (s->chosen < 0)
        return kiln_node_error(KILN_ERR_DEVICE, node,
                               "cuBLASLt has no algorithm for this GEMM (%lld x %lld x %lld, "
                               "batch %lld)",
                               (long long)g->m, (long long)g->n, (long long)g->k, (long long)g->batch);
    memcpy(s->key, key, sizeof key);
    s->valid = 1;
    return KILN_OK;
}

/* One cublasLtMatmul with heuristic result `r` on our A, B, Y (offsets already applied). */
static int gemm_launch(kiln_cuda_ctx *ctx, const gemm_state *s, const gemm_call *c, int r,
                       const void *a, const void *b, void *y, void *ws, size_t ws_size) {
    float beta = c->c_copy ? c->beta : 0.0f;
    return (int)cublasLtMatmul((cublasLtHandle_t)kiln_cuda_cublaslt(ctx), s->desc, &c->alpha, b, s->la,
                               a, s->lb, &beta, y, s->ly, y, s->ly, &s->res[r].algo, ws, ws_size,
                               (cudaStream_t)kiln_cuda_stream(ctx));
}

static size_t esize_of(const gemm_call *c) {
    return kiln_cuda_nn_esize(c->g.dt);
}

/* What must happen before the GEMM: Y = C broadcast (Gemm), or the whole result for K == 0. */
static kiln_status gemm_pre(kiln_cuda_ctx *ctx, const kiln_node *node, const gemm_call *c) {
    void *stream = kiln_cuda_stream(ctx);
    if (c->zero_k && !c->c_copy)
        return kiln_cuda_check(node,
                               cudaMemsetAsync(c->y, 0, (size_t)(c->g.m * c->g.n) * esize_of(c),
                                               (cudaStream_t)stream),
                               "cudaMemsetAsync");
    if (!c->c_copy) return KILN_OK;
    const kiln_tview *ct = c->c_copy;
    int64_t cs0 = 0, cs1 = 0;
    if (ct->rank == 1) cs1 = ct->dims[0] == 1 ? 0 : 1;
    if (ct->rank == 2) {
        cs0 = ct->dims[0] == 1 ? 0 : ct->dims[1];
        cs1 = ct->dims[1] == 1 ? 0 : 1;
    }
    kiln_cuda_nn_broadcast_2d(ct->data, c->y, c->g.dt, c->g.m, c->g.n, cs0, cs1,
                              c->zero_k ? c->beta : 1.0f, stream);
    return kiln_cuda_check_launch(node, "kiln_cuda_nn_broadcast_2d");
}

static kiln_status gemm_execute(kiln_cuda_ctx *ctx, const kiln_node *node, gemm_call *c) {
    KILN_TRY(gemm_pre(ctx, node, c));
    if (c->zero_k) return KILN_OK;
    gemm_state *s;
    KILN_TRY(gemm_setup(ctx, node, c, &s));
    if (c->g.bias)
        KILN_TRY(kiln_cublas_check(node,
                                   cublasLtMatmulDescSetAttribute(s->desc,
                                                                  CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                                  &c->bias, sizeof c->bias),
                                   "cublasLtMatmulDescSetAttribute (bias)"));
    size_t ws_size = s->res[s->chosen].workspaceSize;
    void *ws = NULL;
    if (ws_size) {
        ws = kiln_cuda_workspace(ctx, ws_size);
        if (!ws)
            return kiln_node_error(KILN_ERR_OUT_OF_MEMORY, node,
                                   "out of device memory (%zu bytes of GEMM workspace)", ws_size);
    }
    size_t es = esize_of(c);
    for (int64_t i = 0; i < c->loops; i++) {
        const char *a = c->a, *b = c->b;
        char *y = c->y;
        if (c->a_off) {
            a += c->a_off[i] * (int64_t)es;
            b += c->b_off[i] * (int64_t)es;
            y += c->y_off[i] * (int64_t)es;
        }
        KILN_TRY(kiln_cublas_check(node, gemm_launch(ctx, s, c, s->chosen, a, b, y, ws, ws_size),
                                   "cublasLtMatmul"));
    }
    return KILN_OK;
}

/* Times every heuristic result on the call's first GEMM; the fastest index, or -1. */
static int64_t gemm_tune(kiln_cuda_ctx *ctx, const kiln_node *node, gemm_call *c) {
    if (gemm_pre(ctx, node, c) != KILN_OK || c->zero_k) return -1;
    gemm_state *s;
    if (gemm_setup(ctx, node, c, &s) != KILN_OK || s->n_res < 2) return -1;
    size_t ws_size = 0;
    for (int i = 0; i < s->n_res; i++)
        if (s->res[i].state == CUBLAS_STATUS_SUCCESS && s->res[i].workspaceSize > ws_size)
            ws_size = s->res[i].workspaceSize;
    void *ws = ws_size ? kiln_cuda_workspace(ctx, ws_size) : NULL;
    if (ws_size && !ws) return -1;
    cudaStream_t stream = (cudaStream_t)kiln_cuda_stream(ctx);
    cudaEvent_t start = NULL, stop = NULL;
    if (cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) {
        if (start) cudaEventDestroy(start);
        return -1;
    }
    enum { REPS = 5 };
    int64_t best = -1;
    float best_ms = 0.0f;
    for (int i = 0; i < s->n_res; i++) {
        if (s->res[i].state != CUBLAS_STATUS_SUCCESS) continue;
        size_t need = s->res[i].workspaceSize;
        if (gemm_launch(ctx, s, c, i, c->a, c->b, c->y, ws, need) != CUBLAS_STATUS_SUCCESS) continue;
        int ok = cudaEventRecord(start, stream) == cudaSuccess;
        for (int r = 0; ok && r < REPS; r++)
            ok = gemm_launch(ctx, s, c, i, c->a, c->b, c->y, ws, need) == CUBLAS_STATUS_SUCCESS;
        ok = ok && cudaEventRecord(stop, stream) == cudaSuccess;
        ok = ok && cudaEventSynchronize(stop) == cudaSuccess;
        float ms = 0.0f;
        ok = ok && cudaEventElapsedTime(&ms, start, stop) == cudaSuccess;
        if (ok && (best < 0 || ms < best_ms)) {
            best = i;
            best_ms = ms;
        }
    }
    cudaStreamSynchronize(stream);
    cudaGetLastError(); /* a failed candidate must not leak its error into the next launch */
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    return best;
}

/* ------------------------------------------------------------------ MatMul ---------- */

static int64_t product(const int64_t *d, int32_t r) {
    int64_t p = 1;
    for (int32_t i = 0; i < r; i++) p *= d[i];
    return p;
}

/* t's batch dims right-aligned to r dims (1 where t has none). */
static void batch_dims(const kiln_tview *t, int32_t r, int64_t *dims) {
    int32_t tb = t->rank > 2 ? t->rank - 2 : 0;
    for (int32_t i = 0; i < r; i++) {
        int32_t j = i - (r - tb);
        dims[i] = j >= 0 ? t->dims[j] : 1;
    }
}

static kiln_status matmul_call(const kiln_node *node, const kiln_tview *a, const kiln_tview *b,
                               kiln_tview *y, gemm_call *c) {
    memset(c, 0, sizeof *c);
    gemm_shape *g = &c->g;
    g->dt = y->dtype;
    int64_t k = a->dims[a->rank - 1];
    int64_t m = a->rank >= 2 ? a->dims[a->rank - 2] : 1;
    int64_t n = b->rank >= 2 ? b->dims[b->rank - 1] : 1;
    int32_t r = y->rank - (a->rank >= 2) - (b->rank >= 2);
    if (r < 0) return kiln_shape_error(node, "output rank %d too small", (int)y->rank);
    int64_t ad[KILN_MAX_DIMS], bd[KILN_MAX_DIMS];
    batch_dims(a, r, ad);
    batch_dims(b, r, bd);
    int64_t batches = product(y->dims, r), a_batches = product(ad, r), b_batches = product(bd, r);
    c->a = a->data;
    c->b = b->data;
    c->y = y->data;
    c->alpha = 1.0f;
    c->beta = 0.0f;
    c->loops = 1;
    g->m = m;
    g->n = n;
    g->k = k;
    g->lda = k;
    g->ldb = n;
    g->ldy = n;
    g->batch = 1;
    size_t es = kiln_cuda_nn_esize(g->dt);
    uint32_t align = min_u32(bytes_align((uintptr_t)a->data),
                             min_u32(bytes_align((uintptr_t)b->data), bytes_align((uintptr_t)y->data)));
    if (k == 0) {
        c->zero_k = 1;
        c->align = align;
        return KILN_OK;
    }
    if (b_batches == 1 && a_batches == batches) {
        g->m = batches * m; /* B shared: A's batches stacked into one tall matrix */
    } else if (batches <= 0x7fffffff && (a_batches == batches || a_batches == 1) &&
               b_batches == batches) {
        g->batch = batches;
        g->sa = a_batches == 1 ? 0 : m * k;
        g->sb = k * n;
        g->sy = m * n;
        align = min_u32(align, min_u32(bytes_align((uint64_t)(g->sa * (int64_t)es)),
                                       min_u32(bytes_align((uint64_t)(g->sb * (int64_t)es)),
                                               bytes_align((uint64_t)(g->sy * (int64_t)es)))));
    } else {
        /* Other broadcasts: one GEMM per output batch (the CPU kernel's offsets). */
        c->loops = batches;
        c->a_off = malloc(sizeof(int64_t) * (size_t)(batches ? batches : 1));
        c->b_off = malloc(sizeof(int64_t) * (size_t)(batches ? batches : 1));
        c->y_off = malloc(sizeof(int64_t) * (size_t)(batches ? batches : 1));
        if (!c->a_off || !c->b_off || !c->y_off) {
            gemm_call_free(c);
            return kiln_error(KILN_ERR_OUT_OF_MEMORY, "out of memory");
        }
        int64_t idx[KILN_MAX_DIMS] = {0};
        for (int64_t t = 0; t < batches; t++) {
            int64_t ao = 0, bo = 0;
            for (int32_t i = 0; i < r; i++) {
                ao = ao * ad[i] + (ad[i] == 1 ? 0 : idx[i]);
                bo = bo * bd[i] + (bd[i] == 1 ? 0 : idx[i]);
            }
            c->a_off[t] = ao * m * k;
            c->b_off[t] = bo * k * n;
            c->y_off[t] = t * m * n;
            align = min_u32(align, min_u32(bytes_align((uint64_t)(c->a_off[t] * (int64_t)es)),
                                           min_u32(bytes_align((uint64_t)(c->b_off[t] * (int64_t)es)),
                                                   bytes_align((uint64_t)(c->y_off[t] * (int64_t)es)))));
            for (int32_t i = r - 1; i >= 0; i--) {
                if (++idx[i] < y->dims[i]) break;
                idx[i] = 0;
            }
        }
    }
    c->align = align;
    return KILN_OK;
}

/* The fusion contract's MatMul attributes (docs/dev/fusion-contract.md), none of which these
 * kernels honour yet: the CPU-only fusion passes set them, so a node carrying one is
 * refused rather than run wrong. */
static int has_cpu_fusion(const kiln_node *node) {
    static const char *const attrs[] = {"_kiln_activation", "_kiln_bias_input", "_kiln_sum_input",
                                        "_kiln_scale",      "_kiln_perm_a",     "_kiln_perm_b",
                                        "_kiln_perm_y"};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        if (kiln_node_attr(node, attrs[i])) return 1;
    return 0;
}

int kiln_cuda_matmul_supports(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              const kiln_tview *out, int32_t n_out) {
    if (n_in < 2 || n_out < 1 || has_cpu_fusion(node)) return 0;
    kiln_dtype dt = in[0].dtype;
    return kiln_cuda_nn_float(dt) && in[1].dtype == dt && out[0].dtype == dt && in[0].rank >= 1 &&
           in[1].rank >= 1;
}

kiln_status kiln_cuda_matmul(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                             int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in, (void)n_out;
    if (kiln_cuda_nn_count(&out[0]) == 0) return KILN_OK;
    gemm_call c;
    KILN_TRY(matmul_call(node, &in[0], &in[1], &out[0], &c));
    kiln_status st = gemm_execute(ctx, node, &c);
    gemm_call_free(&c);
    return st;
}

int64_t kiln_cuda_matmul_tune(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                              int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_in, (void)n_out;
    if (kiln_cuda_nn_count(&out[0]) == 0) return -1;
    gemm_call c;
    if (matmul_call(node, &in[0], &in[1], &out[0], &c) != KILN_OK) return -1;
    int64_t t = gemm_tune(ctx, node, &c);
    gemm_call_free(&c);
    return t;
}

/* ------------------------------------------------------------------ Gemm ------------ */

static kiln_status gemm_call_init(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                  kiln_tview *y, gemm_call *c) {
    memset(c, 0, sizeof *c);
    const kiln_tview *a = &in[0], *b = &in[1];
    const kiln_tview *ct = n_in > 2 && kiln_tview_present(&in[2]) ? &in[2] : NULL;
    gemm_shape *g = &c->g;
    g->dt = y->dtype;
    g->ta = kiln_attr_int(node, "transA", 0) != 0;
    g->tb = kiln_attr_int(node, "transB", 0) != 0;
    c->alpha = kiln_attr_float(node, "alpha", 1.0f);
    c->beta = kiln_attr_float(node, "beta", 1.0f);
    if (a->rank != 2 || b->rank != 2 || y->rank != 2)
        return kiln_shape_error(node, "A, B and Y must be 2-D");
    g->m = y->dims[0];
    g->n = y->dims[1];
    g->k = a->dims[g->ta ? 0 : 1];
    g->lda = a->dims[1];
    g->ldb = b->dims[1];
    g->ldy = g->n;
    g->batch = 1;
    c->a = a->data;
    c->b = b->data;
    c->y = y->data;
    c->loops = 1;
    if (ct && c->beta == 0.0f) ct = NULL;
    if (ct && ct->rank > 2) return kiln_shape_error(node, "C must be at most 2-D");
    c->align = min_u32(bytes_align((uintptr_t)a->data),
                       min_u32(bytes_align((uintptr_t)b->data), bytes_align((uintptr_t)y->data)));
    c->zero_k = g->k == 0;
    /* C as one vector of N ([N] or [1, N]) added to every row: the bias epilogue (only with
     * alpha == beta == 1, so whether cuBLASLt scales the bias does not matter). */
    int vector = (ct && ct->rank == 1 && ct->dims[0] == g->n) ||
                 (ct && ct->rank == 2 && ct->dims[0] == 1 && ct->dims[1] == g->n);
    if (vector && !c->zero_k && c->alpha == 1.0f && c->beta == 1.0f &&
        bytes_align((uintptr_t)ct->data) >= 16) {
        g->bias = 1;
        c->bias = ct->data;
    } else if (ct) {
        c->c_copy = ct;
    }
    return KILN_OK;
}

int kiln_cuda_gemm_supports(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            const kiln_tview *out, int32_t n_out) {
    (void)node;
    if (n_in < 2 || n_out < 1) return 0;
    kiln_dtype dt = in[0].dtype;
    if (!kiln_cuda_nn_float(dt) || in[1].dtype != dt || out[0].dtype != dt) return 0;
    if (in[0].rank != 2 || in[1].rank != 2) return 0;
    if (n_in > 2 && kiln_tview_present(&in[2]) && (in[2].dtype != dt || in[2].rank > 2)) return 0;
    return 1;
}

kiln_status kiln_cuda_gemm(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                           int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_out;
    if (kiln_cuda_nn_count(&out[0]) == 0) return KILN_OK;
    gemm_call c;
    KILN_TRY(gemm_call_init(node, in, n_in, &out[0], &c));
    return gemm_execute(ctx, node, &c);
}

int64_t kiln_cuda_gemm_tune(kiln_cuda_ctx *ctx, const kiln_node *node, const kiln_tview *in,
                            int32_t n_in, kiln_tview *out, int32_t n_out) {
    (void)n_out;
    if (kiln_cuda_nn_count(&out[0]) == 0) return -1;
    gemm_call c;
    if (gemm_call_init(node, in, n_in, &out[0], &c) != KILN_OK) return -1;
    return gemm_tune(ctx, node, &c);
}
