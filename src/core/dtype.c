#include "kiln/kiln.h"

typedef struct kiln_dtype_info {
    const char *name;
    int32_t bits;
} kiln_dtype_info;

static const kiln_dtype_info kiln_dtype_table[] = {
    [KILN_DTYPE_UNDEFINED] = {"undefined", 0},
    [KILN_DTYPE_FLOAT32] = {"float32", 32},
    [KILN_DTYPE_UINT8] = {"uint8", 8},
    [KILN_DTYPE_INT8] = {"int8", 8},
    [KILN_DTYPE_UINT16] = {"uint16", 16},
    [KILN_DTYPE_INT16] = {"int16", 16},
    [KILN_DTYPE_INT32] = {"int32", 32},
    [KILN_DTYPE_INT64] = {"int64", 64},
    [KILN_DTYPE_STRING] = {"string", 0},
    [KILN_DTYPE_BOOL] = {"bool", 8},
    [KILN_DTYPE_FLOAT16] = {"float16", 16},
    [KILN_DTYPE_FLOAT64] = {"float64", 64},
    [KILN_DTYPE_UINT32] = {"uint32", 32},
    [KILN_DTYPE_UINT64] = {"uint64", 64},
    [KILN_DTYPE_COMPLEX64] = {"complex64", 64},
    [KILN_DTYPE_COMPLEX128] = {"complex128", 128},
    [KILN_DTYPE_BFLOAT16] = {"bfloat16", 16},
    [KILN_DTYPE_FLOAT8E4M3FN] = {"float8e4m3fn", 8},
    [KILN_DTYPE_FLOAT8E4M3FNUZ] = {"float8e4m3fnuz", 8},
    [KILN_DTYPE_FLOAT8E5M2] = {"float8e5m2", 8},
    [KILN_DTYPE_FLOAT8E5M2FNUZ] = {"float8e5m2fnuz", 8},
    [KILN_DTYPE_UINT4] = {"uint4", 4},
    [KILN_DTYPE_INT4] = {"int4", 4},
    [KILN_DTYPE_FLOAT4E2M1] = {"float4e2m1", 4},
    [KILN_DTYPE_FLOAT8E8M0] = {"float8e8m0", 8},
    [KILN_DTYPE_UINT2] = {"uint2", 2},
    [KILN_DTYPE_INT2] = {"int2", 2},
};

#define KILN_DTYPE_COUNT ((int)(sizeof kiln_dtype_table / sizeof kiln_dtype_table[0]))

const char *kiln_dtype_name(kiln_dtype dtype) {
    if ((int)dtype < 0 || (int)dtype >= KILN_DTYPE_COUNT) return "undefined";
    return kiln_dtype_table[dtype].name;
}

int32_t kiln_dtype_bits(kiln_dtype dtype) {
    if ((int)dtype < 0 || (int)dtype >= KILN_DTYPE_COUNT) return 0;
    return kiln_dtype_table[dtype].bits;
}
