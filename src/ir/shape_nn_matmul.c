/* NN family shape functions: MatMul, MatMulInteger, Gemm, Einsum lives in shape_nn_einsum.c. */
#include "ir/shape_nn.h"

/* numpy matmul shapes: 1-D operands get a unit dim that is dropped again. */
static kiln_status matmul_shape(const kiln_node *node, const kiln_tview *a, const kiln_tview *b,
                                kiln_tview *out) {
    if (a->rank < 0 || b->rank < 0) {
        out->rank = -1;
        return KILN_OK;
    }
    if (a->rank < 1 || b->rank < 1) return kiln_shape_error(node, "operands must be at least 1-D");
    int64_t k_a = a->dims[a->rank - 1];
    int64_t k_b = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    if (k_a >= 0 && k_b >= 0 && k_a != k_b)
        return kiln_shape_error(node, "inner dims differ (%lld vs %lld)", (long long)k_a,
                                (long long)k_b);
    kiln_tview ba = {.rank = a->rank > 2 ? a->rank - 2 : 0};
    kiln_tview bb = {.rank = b->rank > 2 ? b->rank - 2 : 0};
    for (int32_t i = 0; i < ba.rank; i++) ba.dims[i] = a->dims[i];
    for (int32_t i = 0; i < bb.rank; i++) bb.dims[i] = b->dims[i];
    kiln_tview batch;
    KILN_TRY(kiln_broadcast_shapes(node, &ba, &bb, &batch));
    int32_t r = batch.rank;
    for (int32_t i = 0; i < r; i++) out->dims[i] = batch.dims[i];
    if (a->rank >= 2) out->dims[r++] = a->dims[a->rank - 2];
    if (b->rank >= 2) out->dims[r++] = b->dims[b->rank - 1];
    out->rank = r;
    return KILN_OK;
}

int kiln_nn_matmul_perm(const kiln_node *node, const char *attr, int32_t rank, int32_t *perm) {
    int32_t n = 0;
    const int64_t *p = kiln_attr_ints(node, attr, &n);
    if (!p) return 0;
    if (n != rank || rank < 1 || rank > KILN_MAX_DIMS) return -1;
    uint32_t seen = 0;
    for (int32_t i = 0; i < n; i++) {
        if (p[i] < 0 || p[i] >= rank || (seen >> p[i] & 1u)) return -1;
        seen |= 1u << p[i];
        perm[i] = (int32_t)p[i];
    }
    return 1;
}

/* v seen through the node's permutation `attr` (into tmp), or v itself without one. */
static kiln_status permuted(const kiln_node *node, const char *attr, const kiln_tview *v,
                            kiln_tview *tmp, const kiln_tview **out) {
    int32_t perm[KILN_MAX_DIMS];
    *out = v;
    if (v->rank < 0) return KILN_OK;
    int has = kiln_nn_matmul_perm(node, attr, v->rank, perm);
    if (has < 0) return kiln_shape_error(node, "%s is not a permutation of rank %d", attr, v->rank);
    if (!has) return KILN_OK;
    *tmp = *v;
    kiln_nn_permute_dims(v->rank, perm, v->dims, tmp->dims);
    *out = tmp;
    return KILN_OK;
}

/* Fused inputs (bias 2, sum 3) play no part in the shape; folded Transposes do. */
kiln_status kiln_shape_MatMul(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                              kiln_tview *out, int32_t n_out) {
    kiln_tview tmp, ta, tb;
    const kiln_tview *a, *b = kiln_nn_logical_weight(node, &in[1], &in[0], &tmp);
    if (in[0].dtype != b->dtype)
        return kiln_shape_error(node, "A and B dtypes differ (%s, %s)",
                                kiln_dtype_name(in[0].dtype), kiln_dtype_name(b->dtype));
    KILN_TRY(permuted(node, "_kiln_perm_a", &in[0], &ta, &a));
    KILN_TRY(permuted(node, "_kiln_perm_b", b, &tb, &b));
    out[0].dtype = in[0].dtype;
    KILN_TRY(matmul_shape(node, a, b, &out[0]));
    kiln_tview r = out[0];
    const kiln_tview *y;
    KILN_TRY(permuted(node, "_kiln_perm_y", &r, &ta, &y));
    out[0] = *y;
    return KILN_OK;
}

kiln_status kiln_shape_MatMulInteger(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                                     kiln_tview *out, int32_t n_out) {
    for (int i = 0; i < 2; i++)
        if (in[i].dtype != KILN_DTYPE_UINT8 && in[i].dtype != KILN_DTYPE_INT8)
            return kiln_shape_error(node, "inputs must be int8 or uint8");
    out[0].dtype = KILN_DTYPE_INT32;
    return matmul_shape(node, &in[0], &in[1], &out[0]);
}

kiln_status kiln_shape_Gemm(const kiln_node *node, const kiln_tview *in, int32_t n_in,
                            kiln_tview *out, int32_t n_out) {
    kiln_tview tmp;
    const kiln_tview *a = &in[0], *b = kiln_nn_logical_weight(node, &in[1], &in[0], &tmp);
    if (a->dtype != b->dtype) return kiln_shape_error(node, "A and B dtypes differ");
    out[0].dtype = a->dtype;
    out[0].rank = 2;
    if (a->rank < 0 || b->rank < 0) {
        out[0].dims[0] = out[0].dims[1] = -1;
        return KILN_OK;
    }
    if (a->rank != 2 || b->rank != 2) return kiln_shape_error(node, "A and B must be 2-D");
    int ta = kiln_attr_int(node, "transA", 0) != 0, tb = kiln_attr_int(node, "transB", 0) != 0;
    int64_t m = a->dims[ta ? 1 : 0], ka = a->dims[ta ? 0 : 1];
    int64_t kb = b->dims[tb ? 1 : 0], nn = b->dims[tb ? 0 : 1];
    if (ka >= 0 && kb >= 0 && ka != kb)
        return kiln_shape_error(node, "inner dims differ (%lld vs %lld)", (long long)ka,
                                (long long)kb);
    out[0].dims[0] = m;
    out[0].dims[1] = nn;
    if (n_in > 2 && kiln_tview_present(&in[2]) && in[2].rank >= 0) {
        const kiln_tview *c = &in[2];
        if (c->rank > 2) return kiln_shape_error(node, "C must be at most 2-D");
        for (int32_t i = 0; i < c->rank; i++) {
            int64_t d = c->dims[i], want = out[0].dims[2 - c->rank + i];
            if (d >= 0 && want >= 0 && d != 1 && d != want)
                return kiln_shape_error(node, "C does not broadcast to (M, N)");
        }
    }
    return KILN_OK;
}
