/* cuBLASLt loaded on first use: see cublaslt_lazy.h for why. */
#define KILN_CUBLASLT_LAZY_IMPL
#include "backends/cuda/cublaslt_lazy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define KILN_CUBLASLT_POINTER(ret, name, params, args) ret(*name) params;
static struct {
    KILN_CUBLASLT_FUNCTIONS(KILN_CUBLASLT_POINTER)
    size_t (*cublasLtGetVersion)(void);
} lt;
#undef KILN_CUBLASLT_POINTER

static pthread_once_t lt_once = PTHREAD_ONCE_INIT;
static int lt_ok;
static char lt_error[512];

#define KILN_STR2(x) #x
#define KILN_STR(x)  KILN_STR2(x)

static void lt_open(void) {
    /* The major version kiln was compiled against: its ABI is what the pointers assume. */
    static const char *const names[] = {"libcublasLt.so." KILN_STR(CUBLAS_VER_MAJOR),
                                        "libcublasLt.so"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !h; i++) {
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) snprintf(lt_error, sizeof lt_error, "cannot load cuBLASLt: %s", dlerror());
    }
    if (!h) return;
#define KILN_CUBLASLT_RESOLVE(ret, name, params, args)                                             \
    *(void **)&lt.name = dlsym(h, #name);                                                          \
    if (!lt.name) {                                                                                \
        snprintf(lt_error, sizeof lt_error, "cuBLASLt (%s) lacks %s", names[0], #name);            \
        return;                                                                                    \
    }
    KILN_CUBLASLT_FUNCTIONS(KILN_CUBLASLT_RESOLVE)
    KILN_CUBLASLT_RESOLVE(size_t, cublasLtGetVersion, (void), ())
#undef KILN_CUBLASLT_RESOLVE
    lt_error[0] = '\0';
    lt_ok = 1;
}

int kiln_cublaslt_load(void) {
    pthread_once(&lt_once, lt_open);
    return lt_ok;
}

const char *kiln_cublaslt_load_error(void) {
    kiln_cublaslt_load();
    return lt_error;
}

#define KILN_CUBLASLT_WRAP(ret, name, params, args)                                                \
    ret kiln_lazy_##name params {                                                                  \
        if (!kiln_cublaslt_load()) return CUBLAS_STATUS_NOT_INITIALIZED;                           \
        return lt.name args;                                                                       \
    }
KILN_CUBLASLT_FUNCTIONS(KILN_CUBLASLT_WRAP)
#undef KILN_CUBLASLT_WRAP

size_t kiln_lazy_cublasLtGetVersion(void) {
    return kiln_cublaslt_load() ? lt.cublasLtGetVersion() : 0;
}
