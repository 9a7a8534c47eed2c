#include "npy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_model.h"

static const struct {
    const char *descr;
    kiln_dtype dtype;
} kiln_npy_types[] = {
    {"<f4", KILN_DTYPE_FLOAT32}, {"<f8", KILN_DTYPE_FLOAT64}, {"<f2", KILN_DTYPE_FLOAT16},
    {"|i1", KILN_DTYPE_INT8},    {"|u1", KILN_DTYPE_UINT8},   {"<i2", KILN_DTYPE_INT16},
    {"<u2", KILN_DTYPE_UINT16},  {"<i4", KILN_DTYPE_INT32},   {"<u4", KILN_DTYPE_UINT32},
    {"<i8", KILN_DTYPE_INT64},   {"<u8", KILN_DTYPE_UINT64},  {"|b1", KILN_DTYPE_BOOL},
};
#define KILN_NPY_TYPE_COUNT (sizeof kiln_npy_types / sizeof kiln_npy_types[0])

static int kiln_npy_fail(char *why, size_t size, const char *path, const char *msg) {
    snprintf(why, size, "%s: %s", path, msg);
    return 1;
}

/* Parses the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), } */
static int kiln_npy_parse_header(const char *h, kiln_cli_tensor *out, char *msg, size_t size) {
    const char *d = strstr(h, "'descr'");
    const char *f = strstr(h, "'fortran_order'");
    const char *s = strstr(h, "'shape'");
    if (!d || !f || !s) {
        snprintf(msg, size, "malformed .npy header");
        return 1;
    }
    const char *q = strchr(d + 7, '\'');
    if (!q) {
        snprintf(msg, size, "malformed .npy descr");
        return 1;
    }
    char descr[16] = {0};
    const char *q2 = strchr(q + 1, '\'');
    if (!q2 || q2 - q - 1 >= (long)sizeof descr) {
        snprintf(msg, size, "malformed .npy descr");
        return 1;
    }
    memcpy(descr, q + 1, (size_t)(q2 - q - 1));
    if (descr[0] == '=') descr[0] = '<';
    if (!strcmp(descr, "<b1") || !strcmp(descr, "<i1") || !strcmp(descr, "<u1")) descr[0] = '|';
    out->dtype = KILN_DTYPE_UNDEFINED;
    for (size_t i = 0; i < KILN_NPY_TYPE_COUNT; i++)
        if (!strcmp(kiln_npy_types[i].descr, descr)) out->dtype = kiln_npy_types[i].dtype;
    if (out->dtype == KILN_DTYPE_UNDEFINED) {
        snprintf(msg, size, "unsupported .npy dtype '%s' (big-endian or structured?)", descr);
        return 1;
    }
    const char *fv = strchr(f + 15, ':');
    while (fv && (*fv == ':' || *fv == ' ')) fv++;
    if (fv && !strncmp(fv, "True", 4)) {
        snprintf(msg, size, "Fortran-order arrays are not supported: save with np.ascontiguousarray");
        return 1;
    }
    const char *p = strchr(s, '(');
    if (!p) {
        snprintf(msg, size, "malformed .npy shape");
        return 1;
    }
    p++;
    out->dims.nb_dims = 0;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || out->dims.nb_dims >= KILN_MAX_DIMS) {
            snprintf(msg, size, "malformed or too many .npy dimensions");
            return 1;
        }
        out->dims.d[out->dims.nb_dims++] = v;
        p = end;
    }
    return 0;
}

static int kiln_npy_load(const char *path, kiln_cli_tensor *out, char *why, size_t why_size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return kiln_npy_fail(why, why_size, path, strerror(errno));
    unsigned char pre[12];
    char msg[256];
    int rc = 1;
    char *header = NULL;
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        kiln_npy_fail(why, why_size, path, "not a .npy file");
        goto out;
    }
    size_t hlen = pre[8] | (size_t)pre[9] << 8;
    if (pre[6] >= 2) {
        if (fread(pre + 10, 1, 2, fp) != 2) goto trunc;
        hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    if (hlen > (1u << 20)) {
        kiln_npy_fail(why, why_size, path, "header too large");
        goto out;
    }
    header = malloc(hlen + 1);
    if (!header || fread(header, 1, hlen, fp) != hlen) goto trunc;
    header[hlen] = '\0';
    if (kiln_npy_parse_header(header, out, msg, sizeof msg)) {
        kiln_npy_fail(why, why_size, path, msg);
        goto out;
    }
    int64_t count = 1;
    for (int i = 0; i < out->dims.nb_dims; i++) count *= out->dims.d[i];
    out->nbytes = (size_t)count * (size_t)(kiln_dtype_bits(out->dtype) / 8);
    out->data = malloc(out->nbytes ? out->nbytes : 1);
    if (!out->data) {
        kiln_npy_fail(why, why_size, path, "out of memory");
        goto out;
    }
    if (fread(out->data, 1, out->nbytes, fp) != out->nbytes) goto trunc;
    rc = 0;
    goto out;
trunc:
    kiln_npy_fail(why, why_size, path, "truncated .npy file");
out:
    free(header);
    fclose(fp);
    if (rc) {
        free(out->data);
        out->data = NULL;
    }
    return rc;
}

static int kiln_pb_load(const char *path, kiln_cli_tensor *out, char *why, size_t why_size) {
    kiln_onnx_value_file *vf;
    if (kiln_onnx_value_load_file(path, KILN_ONNX_VALUE_TENSOR, &vf) != KILN_OK)
        return kiln_npy_fail(why, why_size, path, kiln_last_error());
    const kiln_onnx_tensor *t = vf->value->tensor;
    int rc = 1;
    if (t->rank > KILN_MAX_DIMS || kiln_dtype_bits((kiln_dtype)t->data_type) == 0) {
        kiln_npy_fail(why, why_size, path, "unsupported tensor type or rank");
    } else {
        out->dtype = (kiln_dtype)t->data_type;
        out->dims.nb_dims = t->rank;
        for (int32_t i = 0; i < t->rank; i++) out->dims.d[i] = t->dims[i];
        kiln_onnx_tensor_nbytes(t, &out->nbytes);
        out->data = malloc(out->nbytes ? out->nbytes : 1);
        if (out->data && kiln_onnx_tensor_read(t, out->data, out->nbytes) == KILN_OK) rc = 0;
        else kiln_npy_fail(why, why_size, path, kiln_last_error());
    }
    kiln_onnx_value_file_destroy(vf);
    return rc;
}

int kiln_cli_tensor_load(const char *path, kiln_cli_tensor *out, char *why, size_t why_size) {
    memset(out, 0, sizeof *out);
    size_t n = strlen(path);
    if (n > 3 && !strcmp(path + n - 3, ".pb")) return kiln_pb_load(path, out, why, why_size);
    return kiln_npy_load(path, out, why, why_size);
}

void kiln_cli_tensor_free(kiln_cli_tensor *t) {
    free(t->data);
    t->data = NULL;
}

int kiln_cli_npy_save(const char *path, kiln_dtype dtype, kiln_dims dims, const void *data,
                      char *why, size_t why_size) {
    const char *descr = NULL;
    for (size_t i = 0; i < KILN_NPY_TYPE_COUNT; i++)
        if (kiln_npy_types[i].dtype == dtype) descr = kiln_npy_types[i].descr;
    if (dtype == KILN_DTYPE_BFLOAT16) descr = "<u2"; /* numpy has no bfloat16: raw bits */
    if (!descr) return kiln_npy_fail(why, why_size, path, "this dtype has no .npy form");
    char shape[256] = "";
    size_t pos = 0;
    int64_t count = 1;
    for (int i = 0; i < dims.nb_dims; i++) {
        pos += (size_t)snprintf(shape + pos, sizeof shape - pos, "%lld,%s", (long long)dims.d[i],
                                i + 1 < dims.nb_dims ? " " : "");
        count *= dims.d[i];
    }
    if (dims.nb_dims > 1) shape[pos - 1] = '\0'; /* numpy writes (2, 3) but (2,) */
    char header[512];
    int hl = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
                      descr, shape);
    int total = 10 + hl + 1;
    int pad = (64 - total % 64) % 64;
    FILE *fp = fopen(path, "wb");
    if (!fp) return kiln_npy_fail(why, why_size, path, strerror(errno));
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    int hlen = hl + pad + 1;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    size_t nbytes = (size_t)count * (size_t)(kiln_dtype_bits(dtype) / 8);
    int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(header, 1, (size_t)hl, fp) == (size_t)hl;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', fp) != EOF;
    ok = ok && fputc('\n', fp) != EOF && fwrite(data, 1, nbytes, fp) == nbytes;
    if (fclose(fp) != 0) ok = 0;
    if (!ok) return kiln_npy_fail(why, why_size, path, "write failed");
    return 0;
}
