/* include/kiln/kiln_cuda.h over the CUDA runtime, the error helpers of the CUDA kernels,
 * and the device fingerprint recorded in CUDA plans. */
#include "backends/cuda/cublaslt_lazy.h"
#include <cuda_runtime.h>
#include <stdio.h>
#include <string.h>
#ifdef KILN_HAVE_CUDNN
#include <cudnn.h>
#endif

#include "backends/cuda/cuda_kernel.h"
#include "kiln/kiln_cuda.h"

static kiln_status kiln_cuda_api(cudaError_t err, const char *call) {
    if (err == cudaSuccess) return KILN_OK;
    return kiln_error(KILN_ERR_DEVICE, "%s failed: %s (%s)", call, cudaGetErrorString(err),
                      cudaGetErrorName(err));
}

int kiln_cuda_is_available(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

kiln_status kiln_cuda_device_count(int32_t *count) {
    KILN_CHECK_ARG(count != NULL, "kiln_cuda_device_count");
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) n = 0;
    else KILN_TRY(kiln_cuda_api(err, "cudaGetDeviceCount"));
    *count = n;
    return KILN_OK;
}

kiln_status kiln_cuda_device_name(int32_t device, char *buffer, size_t size) {
    KILN_CHECK_ARG(buffer && size, "kiln_cuda_device_name");
    struct cudaDeviceProp p;
    KILN_TRY(kiln_cuda_api(cudaGetDeviceProperties(&p, device), "cudaGetDeviceProperties"));
    snprintf(buffer, size, "%s, sm_%d%d, %.1f GiB", p.name, p.major, p.minor,
             (double)p.totalGlobalMem / (1u << 30));
    return KILN_OK;
}

kiln_status kiln_cuda_set_device(int32_t device) {
    return kiln_cuda_api(cudaSetDevice(device), "cudaSetDevice");
}

kiln_status kiln_cuda_malloc(size_t bytes, void **ptr) {
    KILN_CHECK_ARG(ptr != NULL, "kiln_cuda_malloc");
    return kiln_cuda_api(cudaMalloc(ptr, bytes ? bytes : 1), "cudaMalloc");
}

kiln_status kiln_cuda_free(void *ptr) {
    return kiln_cuda_api(cudaFree(ptr), "cudaFree");
}

kiln_status kiln_cuda_malloc_host(size_t bytes, void **ptr) {
    KILN_CHECK_ARG(ptr != NULL, "kiln_cuda_malloc_host");
    return kiln_cuda_api(cudaMallocHost(ptr, bytes ? bytes : 1), "cudaMallocHost");
}

kiln_status kiln_cuda_free_host(void *ptr) {
    return kiln_cuda_api(cudaFreeHost(ptr), "cudaFreeHost");
}

kiln_status kiln_cuda_stream_create(void **stream) {
    KILN_CHECK_ARG(stream != NULL, "kiln_cuda_stream_create");
    return kiln_cuda_api(cudaStreamCreateWithFlags((cudaStream_t *)stream, cudaStreamNonBlocking),
                         "cudaStreamCreateWithFlags");
}

kiln_status kiln_cuda_stream_destroy(void *stream) {
    return kiln_cuda_api(cudaStreamDestroy((cudaStream_t)stream), "cudaStreamDestroy");
}

kiln_status kiln_cuda_stream_synchronize(void *stream) {
    return kiln_cuda_api(cudaStreamSynchronize((cudaStream_t)stream), "cudaStreamSynchronize");
}

kiln_status kiln_cuda_event_create(void **event) {
    KILN_CHECK_ARG(event != NULL, "kiln_cuda_event_create");
    return kiln_cuda_api(cudaEventCreate((cudaEvent_t *)event), "cudaEventCreate");
}

kiln_status kiln_cuda_event_destroy(void *event) {
    return kiln_cuda_api(cudaEventDestroy((cudaEvent_t)event), "cudaEventDestroy");
}

kiln_status kiln_cuda_event_record(void *event, void *stream) {
    return kiln_cuda_api(cudaEventRecord((cudaEvent_t)event, (cudaStream_t)stream),
                         "cudaEventRecord");
}

kiln_status kiln_cuda_event_synchronize(void *event) {
    return kiln_cuda_api(cudaEventSynchronize((cudaEvent_t)event), "cudaEventSynchronize");
}

kiln_status kiln_cuda_event_elapsed_ms(void *start, void *end, float *ms) {
    KILN_CHECK_ARG(ms != NULL, "kiln_cuda_event_elapsed_ms");
    return kiln_cuda_api(cudaEventElapsedTime(ms, (cudaEvent_t)start, (cudaEvent_t)end),
                         "cudaEventElapsedTime");
}

kiln_status kiln_cuda_memcpy_htod_async(void *dst, const void *src, size_t bytes, void *stream) {
    return kiln_cuda_api(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, (cudaStream_t)stream),
                         "cudaMemcpyAsync(host to device)");
}

kiln_status kiln_cuda_memcpy_dtoh_async(void *dst, const void *src, size_t bytes, void *stream) {
    return kiln_cuda_api(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, (cudaStream_t)stream),
                         "cudaMemcpyAsync(device to host)");
}

kiln_status kiln_cuda_memcpy_dtod_async(void *dst, const void *src, size_t bytes, void *stream) {
    return kiln_cuda_api(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, (cudaStream_t)stream),
                         "cudaMemcpyAsync(device to device)");
}

kiln_status kiln_cuda_memcpy_htod(void *dst, const void *src, size_t bytes) {
    return kiln_cuda_api(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy(host to device)");
}

kiln_status kiln_cuda_memcpy_dtoh(void *dst, const void *src, size_t bytes) {
    return kiln_cuda_api(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy(device to host)");
}

kiln_status kiln_cuda_memset(void *dst, int value, size_t bytes) {
    return kiln_cuda_api(cudaMemset(dst, value, bytes), "cudaMemset");
}

/* ---------------------------------------------------------------- kernel errors ---- */

static kiln_status kiln_cuda_node_fail(const kiln_node *node, const char *call, const char *what) {
    if (!node) return kiln_error(KILN_ERR_DEVICE, "%s failed: %s", call, what);
    const kiln_op_info *info = kiln_op_get_info(node->op);
    return kiln_error(KILN_ERR_DEVICE, "node '%s' (%s): %s failed: %s", node->name,
                      info ? info->name : "?", call, what);
}

kiln_status kiln_cuda_check(const kiln_node *node, int err, const char *call) {
    if (err == cudaSuccess) return KILN_OK;
    return kiln_cuda_node_fail(node, call, cudaGetErrorString((cudaError_t)err));
}

kiln_status kiln_cublas_check(const kiln_node *node, int status, const char *call) {
    if (status == CUBLAS_STATUS_SUCCESS) return KILN_OK;
    char what[64];
    snprintf(what, sizeof what, "cuBLAS status %d", status);
    return kiln_cuda_node_fail(node, call, what);
}

kiln_status kiln_cudnn_check(const kiln_node *node, int status, const char *call) {
#ifdef KILN_HAVE_CUDNN
    if (status == CUDNN_STATUS_SUCCESS) return KILN_OK;
    return kiln_cuda_node_fail(node, call, cudnnGetErrorString((cudnnStatus_t)status));
#else
    (void)status;
    return kiln_cuda_node_fail(node, call, "kiln was built without cuDNN");
#endif
}

kiln_status kiln_cuda_check_launch(const kiln_node *node, const char *kernel) {
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess) return KILN_OK;
    return kiln_cuda_node_fail(node, kernel, cudaGetErrorString(err));
}

/* ---------------------------------------------------------------- fingerprint ------ */

extern kiln_status (*kiln_cuda_fingerprint_hook)(int32_t index, char *buf, size_t size);

/* "cuda sm_90 cuda=13000 cudnn=91400 cublas=130000": a plan's kernels and tactics were
 * chosen for this GPU and these library versions. */
static kiln_status kiln_cuda_fingerprint(int32_t index, char *buf, size_t size) {
    struct cudaDeviceProp p;
    int runtime = 0;
    cudaError_t err = cudaGetDeviceProperties(&p, index);
    if (err != cudaSuccess) {
        snprintf(buf, size, "cuda (no GPU %d: %s)", index, cudaGetErrorString(err));
        return KILN_OK;
    }
    cudaRuntimeGetVersion(&runtime);
    size_t cudnn = 0;
#ifdef KILN_HAVE_CUDNN
    cudnn = cudnnGetVersion();
#endif
    snprintf(buf, size, "cuda sm_%d%d cuda=%d cudnn=%zu cublas=%zu", p.major, p.minor, runtime,
             cudnn, cublasLtGetVersion());
    return KILN_OK;
}

__attribute__((constructor)) static void kiln_cuda_register_fingerprint(void) {
    kiln_cuda_fingerprint_hook = kiln_cuda_fingerprint;
}
