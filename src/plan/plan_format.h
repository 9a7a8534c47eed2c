/*
 * The plan file: see docs/plan-format.md. Everything little-endian.
 *
 *   header (48 bytes): magic "KILNPLAN", u32 format version, u32 kiln version
 *     (KILN_VERSION), u32 device type, u32 section count, u64 file size,
 *     u64 section-table checksum, u64 header checksum (of the 40 bytes before it)
 *   section table: per section u32 id, u32 reserved (0), u64 offset, u64 size, u64 checksum
 *   sections, in id order; WEIGHTS last and 256-byte aligned, each weight 256-byte aligned
 */
#ifndef KILN_PLAN_FORMAT_H
#define KILN_PLAN_FORMAT_H

#include "runtime/engine.h"

#define KILN_PLAN_MAGIC          "KILNPLAN"
#define KILN_PLAN_FORMAT_VERSION 2u /* 2: value kinds in the dtype fields */
#define KILN_PLAN_HEADER_BYTES   48u
#define KILN_PLAN_SECTION_BYTES  32u
#define KILN_PLAN_WEIGHT_ALIGN   256u

enum kiln_plan_section_id {
    KILN_PLAN_META = 1,     /* kiln version string, device fingerprint, build flags */
    KILN_PLAN_GRAPH = 2,    /* tensors, nodes, attributes (subgraphs nested) */
    KILN_PLAN_BINDINGS = 3, /* I/O tensors and optimization profiles */
    KILN_PLAN_MEMORY = 4,   /* liveness and the planned arena */
    KILN_PLAN_KERNELS = 5,  /* the kernel chosen for each node */
    KILN_PLAN_WEIGHTS = 6,  /* constant data */
    KILN_PLAN_SECTION_COUNT = 6
};

/* The device fingerprint of this machine for `device`: "cpu x86_64 avx2 fma" or, for
 * CUDA, "cuda sm_90 cuda=13000 cudnn=91400 cublas=130000". */
kiln_status kiln_plan_device_fingerprint(kiln_device_type device, int32_t index, char *buf,
                                         size_t size);


/* Serializes an engine into a plan held in memory (malloc'ed, *out_size bytes). */
kiln_status kiln_plan_serialize(const kiln_engine *e, uint8_t **out, size_t *out_size);
/* Builds an engine from plan bytes. With `borrow` the engine's weights point into `data`,
 * which must outlive it (the caller keeps the mapping in the engine); otherwise they are
 * copied. Every length, offset and index is checked first: a damaged plan is an error. */
kiln_status kiln_plan_deserialize(const uint8_t *data, size_t size, int borrow, kiln_engine **out);
/* Frees an engine's contents (used by the runtime's engine destroy). */
void kiln_engine_free(kiln_engine *e);

#endif
