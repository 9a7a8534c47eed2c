/* kiln_cuda.h in a kiln built without the CUDA backend: every call says so. */
#ifndef KILN_HAVE_CUDA
#include "core/error.h"
#include "kiln/kiln_cuda.h"

static kiln_status kiln_no_cuda(const char *call) {
    return kiln_error(KILN_ERR_UNSUPPORTED,
                      "%s: this kiln was built without the CUDA backend (configure with nvcc "
                      "on the PATH, or -DKILN_CUDA=ON)",
                      call);
}

int kiln_cuda_is_available(void) {
    return 0;
}
kiln_status kiln_cuda_device_count(int32_t *count) {
    if (count) *count = 0;
    return KILN_OK;
}
kiln_status kiln_cuda_device_name(int32_t d, char *b, size_t s) {
    (void)d, (void)b, (void)s;
    return kiln_no_cuda("kiln_cuda_device_name");
}
kiln_status kiln_cuda_set_device(int32_t d) {
    (void)d;
    return kiln_no_cuda("kiln_cuda_set_device");
}
kiln_status kiln_cuda_malloc(size_t n, void **p) {
    (void)n, (void)p;
    return kiln_no_cuda("kiln_cuda_malloc");
}
kiln_status kiln_cuda_free(void *p) {
    (void)p;
    return kiln_no_cuda("kiln_cuda_free");
}
kiln_status kiln_cuda_malloc_host(size_t n, void **p) {
    (void)n, (void)p;
    return kiln_no_cuda("kiln_cuda_malloc_host");
}
kiln_status kiln_cuda_free_host(void *p) {
    (void)p;
    return kiln_no_cuda("kiln_cuda_free_host");
}
kiln_status kiln_cuda_stream_create(void **s) {
    (void)s;
    return kiln_no_cuda("kiln_cuda_stream_create");
}
kiln_status kiln_cuda_stream_destroy(void *s) {
    (void)s;
    return kiln_no_cuda("kiln_cuda_stream_destroy");
}
kiln_status kiln_cuda_stream_synchronize(void *s) {
    (void)s;
    return kiln_no_cuda("kiln_cuda_stream_synchronize");
}
kiln_status kiln_cuda_event_create(void **e) {
    (void)e;
    return kiln_no_cuda("kiln_cuda_event_create");
}
kiln_status kiln_cuda_event_destroy(void *e) {
    (void)e;
    return kiln_no_cuda("kiln_cuda_event_destroy");
}
kiln_status kiln_cuda_event_record(void *e, void *s) {
    (void)e, (void)s;
    return kiln_no_cuda("kiln_cuda_event_record");
}
kiln_status kiln_cuda_event_synchronize(void *e) {
    (void)e;
    return kiln_no_cuda("kiln_cuda_event_synchronize");
}
kiln_status kiln_cuda_event_elapsed_ms(void *a, void *b, float *ms) {
    (void)a, (void)b, (void)ms;
    return kiln_no_cuda("kiln_cuda_event_elapsed_ms");
}
kiln_status kiln_cuda_memcpy_htod_async(void *d, const void *s, size_t n, void *st) {
    (void)d, (void)s, (void)n, (void)st;
    return kiln_no_cuda("kiln_cuda_memcpy_htod_async");
}
kiln_status kiln_cuda_memcpy_dtoh_async(void *d, const void *s, size_t n, void *st) {
    (void)d, (void)s, (void)n, (void)st;
    return kiln_no_cuda("kiln_cuda_memcpy_dtoh_async");
}
kiln_status kiln_cuda_memcpy_dtod_async(void *d, const void *s, size_t n, void *st) {
    (void)d, (void)s, (void)n, (void)st;
    return kiln_no_cuda("kiln_cuda_memcpy_dtod_async");
}
kiln_status kiln_cuda_memcpy_htod(void *d, const void *s, size_t n) {
    (void)d, (void)s, (void)n;
    return kiln_no_cuda("kiln_cuda_memcpy_htod");
}
kiln_status kiln_cuda_memcpy_dtoh(void *d, const void *s, size_t n) {
    (void)d, (void)s, (void)n;
    return kiln_no_cuda("kiln_cuda_memcpy_dtoh");
}
kiln_status kiln_cuda_memset(void *d, int v, size_t n) {
    (void)d, (void)v, (void)n;
    return kiln_no_cuda("kiln_cuda_memset");
}
#else
typedef int kiln_cuda_stubs_unused; /* ISO C forbids an empty translation unit */
#endif
