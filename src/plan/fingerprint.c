/* Device fingerprints recorded in plans and checked when they are loaded. */
#include <stdio.h>
#include <string.h>

#include "plan/plan_format.h"

/* Filled in by the CUDA backend when it is built: "cuda sm_90 cuda=... cudnn=... cublas=...". */
kiln_status (*kiln_cuda_fingerprint_hook)(int32_t index, char *buf, size_t size) = NULL;

static void kiln_cpu_fingerprint(char *buf, size_t size) {
#if defined(__x86_64__)
    snprintf(buf, size, "cpu x86_64%s%s%s", __builtin_cpu_supports("avx2") ? " avx2" : "",
             __builtin_cpu_supports("fma") ? " fma" : "",
             __builtin_cpu_supports("avx512f") ? " avx512f" : "");
#elif defined(__aarch64__)
    snprintf(buf, size, "cpu aarch64");
#else
    snprintf(buf, size, "cpu unknown");
#endif
}

kiln_status kiln_plan_device_fingerprint(kiln_device_type device, int32_t index, char *buf,
                                         size_t size) {
    if (device == KILN_DEVICE_CPU) {
        kiln_cpu_fingerprint(buf, size);
        return KILN_OK;
    }
    if (kiln_cuda_fingerprint_hook) return kiln_cuda_fingerprint_hook(index, buf, size);
    snprintf(buf, size, "cuda (this kiln was built without the CUDA backend)");
    return KILN_OK;
}
