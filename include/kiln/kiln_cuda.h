/*
 * kiln_cuda.h — what a user of kiln's CUDA engines needs besides kiln.h: device and
 * page-locked host buffers, streams, events and asynchronous copies, so that no other CUDA
 * wrapper (pycuda, cuda-python) is needed.
 *
 * Streams and events are opaque `void *` (a cudaStream_t / cudaEvent_t), so this header
 * needs no CUDA headers. Every call returns a kiln_status; a CUDA failure becomes
 * KILN_ERR_DEVICE with a message naming the CUDA call and its error. In a kiln built
 * without the CUDA backend every call fails with KILN_ERR_UNSUPPORTED saying so.
 *
 * Ownership: whatever a *_create / *_malloc call returns belongs to the caller and is
 * released with the matching *_destroy / *_free call. Thread safety: as CUDA's own.
 */
#ifndef KILN_KILN_CUDA_H
#define KILN_KILN_CUDA_H

#include "kiln/kiln.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when this kiln has the CUDA backend and a GPU is visible, else 0. */
KILN_API int kiln_cuda_is_available(void);
KILN_API kiln_status kiln_cuda_device_count(int32_t *count);
/* "NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB" */
KILN_API kiln_status kiln_cuda_device_name(int32_t device, char *buffer, size_t size);
/* Makes `device` current for the calling thread. */
KILN_API kiln_status kiln_cuda_set_device(int32_t device);

/* Device memory (cudaMalloc: never managed memory). */
KILN_API kiln_status kiln_cuda_malloc(size_t bytes, void **device_ptr);
KILN_API kiln_status kiln_cuda_free(void *device_ptr);
/* Page-locked host memory (cudaMallocHost): the fast source/target of async copies. */
KILN_API kiln_status kiln_cuda_malloc_host(size_t bytes, void **host_ptr);
KILN_API kiln_status kiln_cuda_free_host(void *host_ptr);

KILN_API kiln_status kiln_cuda_stream_create(void **stream);
KILN_API kiln_status kiln_cuda_stream_destroy(void *stream);
KILN_API kiln_status kiln_cuda_stream_synchronize(void *stream);

KILN_API kiln_status kiln_cuda_event_create(void **event);
KILN_API kiln_status kiln_cuda_event_destroy(void *event);
KILN_API kiln_status kiln_cuda_event_record(void *event, void *stream);
KILN_API kiln_status kiln_cuda_event_synchronize(void *event);
/* Milliseconds between two recorded events. */
KILN_API kiln_status kiln_cuda_event_elapsed_ms(void *start, void *end, float *ms);

/* Asynchronous copies on `stream` (NULL: the default stream). Host memory should be
 * page-locked for the copy to be truly asynchronous. */
KILN_API kiln_status kiln_cuda_memcpy_htod_async(void *device_dst, const void *host_src,
                                                 size_t bytes, void *stream);
KILN_API kiln_status kiln_cuda_memcpy_dtoh_async(void *host_dst, const void *device_src,
                                                 size_t bytes, void *stream);
KILN_API kiln_status kiln_cuda_memcpy_dtod_async(void *device_dst, const void *device_src,
                                                 size_t bytes, void *stream);
/* Synchronous forms. */
KILN_API kiln_status kiln_cuda_memcpy_htod(void *device_dst, const void *host_src, size_t bytes);
KILN_API kiln_status kiln_cuda_memcpy_dtoh(void *host_dst, const void *device_src, size_t bytes);
KILN_API kiln_status kiln_cuda_memset(void *device_dst, int value, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KILN_CUDA_H */
