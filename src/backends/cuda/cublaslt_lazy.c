#define _GNU_SOURCE /* dladdr */
/* cuBLASLt loaded on first use: see cublaslt_lazy.h for why. */
#define KILN_CUBLASLT_LAZY_IMPL
#include "backends/cuda/cublaslt_lazy.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

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

/* dlopen of `name` in the folder of the CUDA runtime kiln was linked with: where the
 * toolkit's libraries are when the loader's search path does not name it. */
static void *open_beside_cudart(const char *name) {
    Dl_info info;
    if (!dladdr((void *)&cudaRuntimeGetVersion, &info) || !info.dli_fname) return NULL;
    const char *slash = strrchr(info.dli_fname, '/');
    char path[4096];
    if (!slash || (size_t)(slash - info.dli_fname) + strlen(name) + 2 > sizeof path) return NULL;
    snprintf(path, sizeof path, "%.*s/%s", (int)(slash - info.dli_fname), info.dli_fname, name);
    return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static void lt_open(void) {
    /* The major version kiln was compiled against: its ABI is what the pointers assume. */
    static const char *const names[] = {"libcublasLt.so." KILN_STR(CUBLAS_VER_MAJOR),
                                        "libcublasLt.so"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !h; i++) {
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h) snprintf(lt_error, sizeof lt_error, "cannot load cuBLASLt: %s", dlerror());
    }
    if (!h) h = open_beside_cudart(names[0]);
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
