/*
 * cuBLASLt, loaded when first used.
 *
 * libcublasLt is large (540 MB on disk) and its load-time relocations alone make ~150 MB of
 * a process resident. Linking it would charge that to every program that uses kiln, CPU
 * engines included, so the CUDA backend instead opens it with dlopen the first time a CUDA
 * engine needs it. The files that call cuBLASLt include this header after <cublasLt.h>: it
 * renames each function kiln uses to a wrapper that loads the library on first call and
 * returns CUBLAS_STATUS_NOT_INITIALIZED when it cannot be loaded (kiln_cublaslt_load_error()
 * then says why).
 */
#ifndef KILN_CUDA_CUBLASLT_LAZY_H
#define KILN_CUDA_CUBLASLT_LAZY_H

#include <cublasLt.h>

/* Every cuBLASLt function kiln calls: X(return type, name, parameters, arguments). */
#define KILN_CUBLASLT_FUNCTIONS(X)                                                                 \
    X(cublasStatus_t, cublasLtCreate, (cublasLtHandle_t * h), (h))                                 \
    X(cublasStatus_t, cublasLtDestroy, (cublasLtHandle_t h), (h))                                  \
    X(cublasStatus_t, cublasLtMatmulDescCreate,                                                    \
      (cublasLtMatmulDesc_t * d, cublasComputeType_t ct, cudaDataType_t st), (d, ct, st))          \
    X(cublasStatus_t, cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t d), (d))                    \
    X(cublasStatus_t, cublasLtMatmulDescSetAttribute,                                              \
      (cublasLtMatmulDesc_t d, cublasLtMatmulDescAttributes_t a, const void *buf, size_t n),       \
      (d, a, buf, n))                                                                              \
    X(cublasStatus_t, cublasLtMatrixLayoutCreate,                                                  \
      (cublasLtMatrixLayout_t * l, cudaDataType t, uint64_t rows, uint64_t cols, int64_t ld),      \
      (l, t, rows, cols, ld))                                                                      \
    X(cublasStatus_t, cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t l), (l))                \
    X(cublasStatus_t, cublasLtMatrixLayoutSetAttribute,                                            \
      (cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t a, const void *buf, size_t n),    \
      (l, a, buf, n))                                                                              \
    X(cublasStatus_t, cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t * p), (p))       \
    X(cublasStatus_t, cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t p), (p))        \
    X(cublasStatus_t, cublasLtMatmulPreferenceSetAttribute,                                        \
      (cublasLtMatmulPreference_t p, cublasLtMatmulPreferenceAttributes_t a, const void *buf,      \
       size_t n),                                                                                  \
      (p, a, buf, n))                                                                              \
    X(cublasStatus_t, cublasLtMatmulAlgoGetHeuristic,                                              \
      (cublasLtHandle_t h, cublasLtMatmulDesc_t d, cublasLtMatrixLayout_t a,                       \
       cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c, cublasLtMatrixLayout_t dd,              \
       cublasLtMatmulPreference_t p, int n, cublasLtMatmulHeuristicResult_t *res, int *count),     \
      (h, d, a, b, c, dd, p, n, res, count))                                                       \
    X(cublasStatus_t, cublasLtMatmul,                                                              \
      (cublasLtHandle_t h, cublasLtMatmulDesc_t d, const void *alpha, const void *a,               \
       cublasLtMatrixLayout_t la, const void *b, cublasLtMatrixLayout_t lb, const void *beta,      \
       const void *c, cublasLtMatrixLayout_t lc, void *dd, cublasLtMatrixLayout_t ld,              \
       const cublasLtMatmulAlgo_t *algo, void *ws, size_t ws_size, cudaStream_t stream),           \
      (h, d, alpha, a, la, b, lb, beta, c, lc, dd, ld, algo, ws, ws_size, stream))

#define KILN_CUBLASLT_DECLARE(ret, name, params, args) ret kiln_lazy_##name params;
KILN_CUBLASLT_FUNCTIONS(KILN_CUBLASLT_DECLARE)
#undef KILN_CUBLASLT_DECLARE
/* cublasLtGetVersion of the loaded library; 0 when it cannot be loaded. */
size_t kiln_lazy_cublasLtGetVersion(void);

/* Loads cuBLASLt if not yet done (thread-safe); 1 when it is usable. */
int kiln_cublaslt_load(void);
/* Why the last load failed ("" when it did not). */
const char *kiln_cublaslt_load_error(void);

#ifndef KILN_CUBLASLT_LAZY_IMPL
#define cublasLtCreate                       kiln_lazy_cublasLtCreate
#define cublasLtDestroy                      kiln_lazy_cublasLtDestroy
#define cublasLtMatmulDescCreate             kiln_lazy_cublasLtMatmulDescCreate
#define cublasLtMatmulDescDestroy            kiln_lazy_cublasLtMatmulDescDestroy
#define cublasLtMatmulDescSetAttribute       kiln_lazy_cublasLtMatmulDescSetAttribute
#define cublasLtMatrixLayoutCreate           kiln_lazy_cublasLtMatrixLayoutCreate
#define cublasLtMatrixLayoutDestroy          kiln_lazy_cublasLtMatrixLayoutDestroy
#define cublasLtMatrixLayoutSetAttribute     kiln_lazy_cublasLtMatrixLayoutSetAttribute
#define cublasLtMatmulPreferenceCreate       kiln_lazy_cublasLtMatmulPreferenceCreate
#define cublasLtMatmulPreferenceDestroy      kiln_lazy_cublasLtMatmulPreferenceDestroy
#define cublasLtMatmulPreferenceSetAttribute kiln_lazy_cublasLtMatmulPreferenceSetAttribute
#define cublasLtMatmulAlgoGetHeuristic       kiln_lazy_cublasLtMatmulAlgoGetHeuristic
#define cublasLtMatmul                       kiln_lazy_cublasLtMatmul
#define cublasLtGetVersion                   kiln_lazy_cublasLtGetVersion
#endif

#endif
