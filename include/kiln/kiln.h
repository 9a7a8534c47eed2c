/*
 * kiln — a deep-learning deployment engine.
 *
 * The user's path, as in TensorRT:
 *
 *   logger -> builder -> network (layer API or ONNX parser) -> builder config
 *          -> engine (or serialized plan) -> runtime -> engine -> execution context
 *          -> set input shapes -> set tensor addresses -> enqueue / execute
 *
 * Conventions
 * -----------
 * - Every object is an opaque handle created by a `kiln_<object>_create` call (or by a
 *   factory on its parent) and released by the matching `kiln_<object>_destroy`. Passing
 *   NULL to a destroy call is a no-op.
 * - Every fallible call returns a `kiln_status`. On failure it also leaves a message in
 *   thread-local storage, read with `kiln_last_error()`, naming the object at fault (node
 *   name, op, input, byte offset). The message stays until the next failing call on the
 *   same thread, or `kiln_clear_error()`.
 * - Output parameters are written only on success.
 * - Library code never aborts or exits the process.
 * - Calls not implemented in this version return KILN_ERR_NOT_IMPLEMENTED, and the message
 *   names the call.
 *
 * Ownership
 * ---------
 * - A network belongs to its creator, not to the builder: destroy it yourself. It must
 *   outlive any parser filling it and any build that reads it. While its parser lives, the
 *   network reads weights in place from the parsed model; destroying the parser first
 *   gives the network copies of them.
 * - An engine owns everything it needs (weights included): after a build the network,
 *   parser, config and builder may be destroyed. An engine made by
 *   `kiln_runtime_deserialize_engine` copies what it needs from the plan bytes, so the
 *   caller's buffer may be freed on return; one made from a file maps the file and keeps
 *   the mapping until the engine is destroyed.
 * - Contexts borrow their engine: destroy every context before its engine.
 * - Strings returned by getters belong to the object they came from and live as long
 *   as it does.
 * - `kiln_host_memory` blobs belong to the caller; free them with
 *   `kiln_host_memory_destroy`.
 * - A logger must outlive every object created with it.
 *
 * Thread safety
 * -------------
 * - Distinct objects may be used from distinct threads at the same time.
 * - One object is not to be used from two threads at once, with one exception: an engine
 *   is read-only after its creation, so several threads may each create and use their own
 *   execution context of one engine concurrently.
 * - The logger callback may be called from any thread that uses kiln; it must be
 *   thread-safe.
 *
 * No CUDA type appears here: streams cross the API as `void *` (a `cudaStream_t`).
 */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define KILN_API __declspec(dllexport)
#elif defined(__GNUC__)
#define KILN_API __attribute__((visibility("default")))
#else
#define KILN_API
#endif

/* ---------------------------------------------------------------- versions --------- */

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0
/* A single number, major * 10000 + minor * 100 + patch, to compare versions with. */
#define KILN_VERSION (KILN_VERSION_MAJOR * 10000 + KILN_VERSION_MINOR * 100 + KILN_VERSION_PATCH)

/* The version of the library actually loaded (may differ from the header's KILN_VERSION). */
KILN_API int32_t kiln_get_version(void);
/* "0.1.0" */
KILN_API const char *kiln_version_string(void);

/* ---------------------------------------------------------------- status ----------- */

typedef enum kiln_status {
    KILN_OK = 0,
    KILN_ERR_INVALID_ARGUMENT = 1, /* a NULL pointer, a bad enum value, an unknown name */
    KILN_ERR_OUT_OF_MEMORY = 2,
    KILN_ERR_IO = 3,               /* a file could not be opened, mapped or written */
    KILN_ERR_PARSE = 4,            /* malformed ONNX or protobuf bytes */
    KILN_ERR_UNSUPPORTED = 5,      /* a valid model kiln cannot handle (op, dtype, ...) */
    KILN_ERR_NOT_IMPLEMENTED = 6,  /* an API call this version does not implement yet */
    KILN_ERR_SHAPE = 7,            /* shapes that do not fit (profile bounds, ranks, ...) */
    KILN_ERR_PLAN = 8,             /* a truncated or corrupted plan file */
    KILN_ERR_VERSION_MISMATCH = 9, /* a plan from another kiln version or device */
    KILN_ERR_DEVICE = 10,          /* a CUDA / cuDNN / cuBLAS failure */
    KILN_ERR_INTERNAL = 11         /* a bug in kiln: please report it */
} kiln_status;

/* A short constant name for a status: "KILN_ERR_PARSE". Never NULL. */
KILN_API const char *kiln_status_string(kiln_status status);
/* The message the last failing call on this thread left; "" when there is none. */
KILN_API const char *kiln_last_error(void);
KILN_API void kiln_clear_error(void);

/* ---------------------------------------------------------------- logger ----------- */

/* TensorRT's severities, in the same order. */
typedef enum kiln_severity {
    KILN_SEVERITY_INTERNAL_ERROR = 0,
    KILN_SEVERITY_ERROR = 1,
    KILN_SEVERITY_WARNING = 2,
    KILN_SEVERITY_INFO = 3,
    KILN_SEVERITY_VERBOSE = 4
} kiln_severity;

typedef void (*kiln_log_callback)(void *user_data, kiln_severity severity, const char *message);

typedef struct kiln_logger kiln_logger;

/* A logger that forwards messages at `min_severity` or more severe to `callback`.
 * A NULL callback writes them to stderr as "[kiln] W: message". */
KILN_API kiln_status kiln_logger_create(kiln_log_callback callback, void *user_data,
                                        kiln_severity min_severity, kiln_logger **out);
KILN_API void kiln_logger_destroy(kiln_logger *logger);
KILN_API kiln_status kiln_logger_set_min_severity(kiln_logger *logger, kiln_severity severity);
/* Sends one message through the logger (used by kiln itself; handy for tools). */
KILN_API void kiln_logger_log(kiln_logger *logger, kiln_severity severity, const char *message);

/* ---------------------------------------------------------------- data types ------- */

typedef enum kiln_dtype {
    KILN_DTYPE_UNDEFINED = 0,
    KILN_DTYPE_FLOAT32 = 1,
    KILN_DTYPE_UINT8 = 2,
    KILN_DTYPE_INT8 = 3,
    KILN_DTYPE_UINT16 = 4,
    KILN_DTYPE_INT16 = 5,
    KILN_DTYPE_INT32 = 6,
    KILN_DTYPE_INT64 = 7,
    KILN_DTYPE_STRING = 8,
    KILN_DTYPE_BOOL = 9,
    KILN_DTYPE_FLOAT16 = 10,
    KILN_DTYPE_FLOAT64 = 11,
    KILN_DTYPE_UINT32 = 12,
    KILN_DTYPE_UINT64 = 13,
    KILN_DTYPE_COMPLEX64 = 14,
    KILN_DTYPE_COMPLEX128 = 15,
    KILN_DTYPE_BFLOAT16 = 16,
    KILN_DTYPE_FLOAT8E4M3FN = 17,
    KILN_DTYPE_FLOAT8E4M3FNUZ = 18,
    KILN_DTYPE_FLOAT8E5M2 = 19,
    KILN_DTYPE_FLOAT8E5M2FNUZ = 20,
    KILN_DTYPE_UINT4 = 21,
    KILN_DTYPE_INT4 = 22,
    KILN_DTYPE_FLOAT4E2M1 = 23,
    KILN_DTYPE_FLOAT8E8M0 = 24,
    KILN_DTYPE_UINT2 = 25,
    KILN_DTYPE_INT2 = 26
} kiln_dtype; /* the values are ONNX's TensorProto.DataType values */

/* "float32", "int64", ...; "undefined" for an unknown value. */
KILN_API const char *kiln_dtype_name(kiln_dtype dtype);
/* Size of one element in bits (4 for int4); 0 for string and undefined. */
KILN_API int32_t kiln_dtype_bits(kiln_dtype dtype);

#define KILN_MAX_DIMS 8

/* What an ONNX value is. Engine inputs and outputs have a declared kind
 * (kiln_engine_get_tensor_kind: TENSOR, SEQUENCE, OPTIONAL or OPTIONAL_SEQUENCE); a value
 * after a run has an actual kind (kiln_context_get_output_kind: TENSOR, SEQUENCE or NONE).
 * The dtype of a sequence (or an optional) is the dtype of its elements. */
typedef enum kiln_value_kind {
    KILN_VALUE_TENSOR = 0,            /* a tensor (the default) */
    KILN_VALUE_SEQUENCE = 1,          /* a sequence of tensors of one dtype */
    KILN_VALUE_NONE = 2,              /* an empty optional (values only) */
    KILN_VALUE_OPTIONAL = 3,          /* declared: an optional tensor (a tensor or none) */
    KILN_VALUE_OPTIONAL_SEQUENCE = 4  /* declared: an optional sequence (a sequence or none) */
} kiln_value_kind;

/* A shape. A dimension of -1 is dynamic (decided when the input shape is set). */
typedef struct kiln_dims {
    int32_t nb_dims;
    int64_t d[KILN_MAX_DIMS];
} kiln_dims;

/* ---------------------------------------------------------------- host memory ------ */

/* A blob of bytes kiln hands to the caller (a serialized plan). */
typedef struct kiln_host_memory kiln_host_memory;

KILN_API const void *kiln_host_memory_data(const kiln_host_memory *memory);
KILN_API size_t kiln_host_memory_size(const kiln_host_memory *memory);
KILN_API void kiln_host_memory_destroy(kiln_host_memory *memory);

/* ---------------------------------------------------------------- handles ---------- */

typedef struct kiln_builder kiln_builder;
typedef struct kiln_network kiln_network;
typedef struct kiln_tensor kiln_tensor; /* a tensor of a network; owned by the network */
typedef struct kiln_layer kiln_layer;   /* a layer of a network; owned by the network */
typedef struct kiln_onnx_parser kiln_onnx_parser;
typedef struct kiln_builder_config kiln_builder_config;
typedef struct kiln_optimization_profile kiln_optimization_profile;
typedef struct kiln_runtime kiln_runtime;
typedef struct kiln_engine kiln_engine;
typedef struct kiln_context kiln_context;

/* ---------------------------------------------------------------- builder ---------- */

KILN_API kiln_status kiln_builder_create(kiln_logger *logger, kiln_builder **out);
KILN_API void kiln_builder_destroy(kiln_builder *builder);

/* Network flags. Networks are always explicit-batch (the batch is a dimension like any
 * other); the flag exists so TensorRT code reads the same. */
#define KILN_NETWORK_EXPLICIT_BATCH (1u << 0)
#define KILN_NETWORK_STRONGLY_TYPED (1u << 1)

KILN_API kiln_status kiln_builder_create_network(kiln_builder *builder, uint32_t flags,
                                                 kiln_network **out);
KILN_API kiln_status kiln_builder_create_config(kiln_builder *builder, kiln_builder_config **out);
KILN_API kiln_status kiln_builder_create_optimization_profile(kiln_builder *builder,
                                                              kiln_optimization_profile **out);
/* Builds an engine and serializes it to a plan in one step. */
KILN_API kiln_status kiln_builder_build_serialized_network(kiln_builder *builder,
                                                           kiln_network *network,
                                                           kiln_builder_config *config,
                                                           kiln_host_memory **out_plan);
KILN_API kiln_status kiln_builder_build_engine(kiln_builder *builder, kiln_network *network,
                                               kiln_builder_config *config, kiln_engine **out);

/* ---------------------------------------------------------------- builder config --- */

typedef enum kiln_device_type { KILN_DEVICE_CPU = 0, KILN_DEVICE_CUDA = 1 } kiln_device_type;

typedef enum kiln_builder_flag {
    KILN_BUILDER_FLAG_FP16 = 0,
    KILN_BUILDER_FLAG_BF16 = 1,
    KILN_BUILDER_FLAG_TF32 = 2, /* on by default for CUDA targets */
    KILN_BUILDER_FLAG_INT8 = 3,
    KILN_BUILDER_FLAG_STRICT_TYPES = 4,
    KILN_BUILDER_FLAG_NO_OPTIMIZE = 5 /* skip graph optimizations (debugging, conformance) */
} kiln_builder_flag;

typedef enum kiln_memory_pool { KILN_MEMORY_POOL_WORKSPACE = 0 } kiln_memory_pool;

KILN_API void kiln_builder_config_destroy(kiln_builder_config *config);
KILN_API kiln_status kiln_builder_config_set_flag(kiln_builder_config *config,
                                                  kiln_builder_flag flag, int enabled);
KILN_API int kiln_builder_config_get_flag(const kiln_builder_config *config,
                                          kiln_builder_flag flag);
KILN_API kiln_status kiln_builder_config_set_memory_pool_limit(kiln_builder_config *config,
                                                               kiln_memory_pool pool, size_t bytes);
/* A plain max batch size: shorthand for a profile whose leading dims run 1..max_batch. */
KILN_API kiln_status kiln_builder_config_set_max_batch_size(kiln_builder_config *config,
                                                            int32_t max_batch);
KILN_API kiln_status kiln_builder_config_set_device(kiln_builder_config *config,
                                                    kiln_device_type device, int32_t index);
/* 0 means one thread per core. */
KILN_API kiln_status kiln_builder_config_set_num_threads(kiln_builder_config *config,
                                                         int32_t threads);
/* The config copies the profile; the caller still destroys it. */
KILN_API kiln_status kiln_builder_config_add_optimization_profile(
    kiln_builder_config *config, const kiln_optimization_profile *profile);

/* ---------------------------------------------------------------- profiles --------- */

typedef enum kiln_profile_selector {
    KILN_PROFILE_MIN = 0,
    KILN_PROFILE_OPT = 1,
    KILN_PROFILE_MAX = 2
} kiln_profile_selector;

KILN_API void kiln_optimization_profile_destroy(kiln_optimization_profile *profile);
KILN_API kiln_status kiln_optimization_profile_set_dimensions(kiln_optimization_profile *profile,
                                                              const char *input_name,
                                                              kiln_profile_selector which,
                                                              kiln_dims dims);
KILN_API kiln_status kiln_optimization_profile_get_dimensions(
    const kiln_optimization_profile *profile, const char *input_name, kiln_profile_selector which,
    kiln_dims *out);

/* ---------------------------------------------------------------- network ---------- */

KILN_API void kiln_network_destroy(kiln_network *network);
KILN_API int32_t kiln_network_num_inputs(const kiln_network *network);
KILN_API int32_t kiln_network_num_outputs(const kiln_network *network);
KILN_API int32_t kiln_network_num_layers(const kiln_network *network);
KILN_API kiln_tensor *kiln_network_get_input(const kiln_network *network, int32_t index);
KILN_API kiln_tensor *kiln_network_get_output(const kiln_network *network, int32_t index);
KILN_API kiln_layer *kiln_network_get_layer(const kiln_network *network, int32_t index);

KILN_API const char *kiln_tensor_get_name(const kiln_tensor *tensor);
KILN_API kiln_status kiln_tensor_set_name(kiln_tensor *tensor, const char *name);
KILN_API kiln_dtype kiln_tensor_get_dtype(const kiln_tensor *tensor);
KILN_API kiln_dims kiln_tensor_get_dims(const kiln_tensor *tensor);
KILN_API const char *kiln_layer_get_name(const kiln_layer *layer);
KILN_API kiln_status kiln_layer_set_name(kiln_layer *layer, const char *name);
KILN_API kiln_tensor *kiln_layer_get_output(const kiln_layer *layer, int32_t index);
/* Per-layer precision override (FP32/FP16/BF16) for targets that honour it. */
KILN_API kiln_status kiln_layer_set_precision(kiln_layer *layer, kiln_dtype precision);

/* Weights handed to the layer API are copied by the network. */
typedef struct kiln_weights {
    kiln_dtype dtype;
    const void *values;
    int64_t count;
} kiln_weights;

typedef enum kiln_activation_type {
    KILN_ACTIVATION_RELU = 0,
    KILN_ACTIVATION_SIGMOID = 1,
    KILN_ACTIVATION_TANH = 2,
    KILN_ACTIVATION_LEAKY_RELU = 3, /* alpha */
    KILN_ACTIVATION_ELU = 4,        /* alpha */
    KILN_ACTIVATION_SELU = 5,       /* alpha, beta */
    KILN_ACTIVATION_SOFTSIGN = 6,
    KILN_ACTIVATION_SOFTPLUS = 7,
    KILN_ACTIVATION_CLIP = 8,         /* alpha = min, beta = max */
    KILN_ACTIVATION_HARD_SIGMOID = 9, /* alpha, beta */
    KILN_ACTIVATION_GELU_ERF = 10,
    KILN_ACTIVATION_GELU_TANH = 11,
    KILN_ACTIVATION_SWISH = 12
} kiln_activation_type;

typedef enum kiln_pooling_type { KILN_POOLING_MAX = 0, KILN_POOLING_AVERAGE = 1 } kiln_pooling_type;

typedef enum kiln_elementwise_op {
    KILN_ELEMENTWISE_SUM = 0,
    KILN_ELEMENTWISE_SUB = 1,
    KILN_ELEMENTWISE_PROD = 2,
    KILN_ELEMENTWISE_DIV = 3,
    KILN_ELEMENTWISE_MAX = 4,
    KILN_ELEMENTWISE_MIN = 5,
    KILN_ELEMENTWISE_POW = 6
} kiln_elementwise_op;

typedef enum kiln_unary_op {
    KILN_UNARY_EXP = 0,
    KILN_UNARY_LOG = 1,
    KILN_UNARY_SQRT = 2,
    KILN_UNARY_RECIP = 3,
    KILN_UNARY_ABS = 4,
    KILN_UNARY_NEG = 5,
    KILN_UNARY_SIN = 6,
    KILN_UNARY_COS = 7,
    KILN_UNARY_ERF = 8,
    KILN_UNARY_FLOOR = 9,
    KILN_UNARY_CEIL = 10,
    KILN_UNARY_NOT = 11
} kiln_unary_op;

typedef enum kiln_reduce_op {
    KILN_REDUCE_SUM = 0,
    KILN_REDUCE_MEAN = 1,
    KILN_REDUCE_MAX = 2,
    KILN_REDUCE_MIN = 3,
    KILN_REDUCE_PROD = 4
} kiln_reduce_op;

typedef enum kiln_resize_mode {
    KILN_RESIZE_NEAREST = 0,
    KILN_RESIZE_LINEAR = 1,
    KILN_RESIZE_CUBIC = 2
} kiln_resize_mode;

/* Spatial parameters shared by convolution and pooling; unused entries are ignored. */
typedef struct kiln_window {
    int32_t nb_spatial; /* 1, 2 or 3 */
    int64_t kernel[3];
    int64_t stride[3]; /* 0 means 1 */
    int64_t pad_begin[3];
    int64_t pad_end[3];
    int64_t dilation[3]; /* 0 means 1 */
} kiln_window;

KILN_API kiln_status kiln_network_add_input(kiln_network *network, const char *name,
                                            kiln_dtype dtype, kiln_dims dims, kiln_tensor **out);
KILN_API kiln_status kiln_network_mark_output(kiln_network *network, kiln_tensor *tensor);
KILN_API kiln_status kiln_network_add_convolution(kiln_network *network, kiln_tensor *input,
                                                  int64_t out_channels, kiln_window window,
                                                  int64_t groups, kiln_weights kernel,
                                                  kiln_weights bias, kiln_layer **out);
KILN_API kiln_status kiln_network_add_deconvolution(kiln_network *network, kiln_tensor *input,
                                                    int64_t out_channels, kiln_window window,
                                                    int64_t groups, kiln_weights kernel,
                                                    kiln_weights bias, kiln_layer **out);
KILN_API kiln_status kiln_network_add_matrix_multiply(kiln_network *network, kiln_tensor *a,
                                                      int transpose_a, kiln_tensor *b,
                                                      int transpose_b, kiln_layer **out);
/* y = x * W^T + b over the last dimension of x; W is [out_features, in_features]. */
KILN_API kiln_status kiln_network_add_fully_connected(kiln_network *network, kiln_tensor *input,
                                                      int64_t out_features, kiln_weights kernel,
                                                      kiln_weights bias, kiln_layer **out);
KILN_API kiln_status kiln_network_add_activation(kiln_network *network, kiln_tensor *input,
                                                 kiln_activation_type type, float alpha, float beta,
                                                 kiln_layer **out);
KILN_API kiln_status kiln_network_add_pooling(kiln_network *network, kiln_tensor *input,
                                              kiln_pooling_type type, kiln_window window,
                                              kiln_layer **out);
KILN_API kiln_status kiln_network_add_elementwise(kiln_network *network, kiln_tensor *a,
                                                  kiln_tensor *b, kiln_elementwise_op op,
                                                  kiln_layer **out);
KILN_API kiln_status kiln_network_add_unary(kiln_network *network, kiln_tensor *input,
                                            kiln_unary_op op, kiln_layer **out);
KILN_API kiln_status kiln_network_add_softmax(kiln_network *network, kiln_tensor *input,
                                              int32_t axis, kiln_layer **out);
KILN_API kiln_status kiln_network_add_concatenation(kiln_network *network,
                                                    kiln_tensor *const *inputs, int32_t nb_inputs,
                                                    int32_t axis, kiln_layer **out);
/* Transpose (perm may be NULL), then reshape (reshape may be NULL; 0 copies the input dim,
 * -1 is inferred), then a second transpose (second_perm may be NULL). */
KILN_API kiln_status kiln_network_add_shuffle(kiln_network *network, kiln_tensor *input,
                                              const int32_t *perm, const kiln_dims *reshape,
                                              const int32_t *second_perm, kiln_layer **out);
KILN_API kiln_status kiln_network_add_slice(kiln_network *network, kiln_tensor *input,
                                            kiln_dims start, kiln_dims size, kiln_dims stride,
                                            kiln_layer **out);
KILN_API kiln_status kiln_network_add_gather(kiln_network *network, kiln_tensor *data,
                                             kiln_tensor *indices, int32_t axis, kiln_layer **out);
/* axes_mask: bit i set reduces dimension i. */
KILN_API kiln_status kiln_network_add_reduce(kiln_network *network, kiln_tensor *input,
                                             kiln_reduce_op op, uint32_t axes_mask, int keep_dims,
                                             kiln_layer **out);
KILN_API kiln_status kiln_network_add_constant(kiln_network *network, kiln_dims dims,
                                               kiln_weights weights, kiln_layer **out);
/* Normalizes over the dimensions in axes_mask, then applies scale and bias (tensors that
 * broadcast against the input). */
KILN_API kiln_status kiln_network_add_normalization(kiln_network *network, kiln_tensor *input,
                                                    kiln_tensor *scale, kiln_tensor *bias,
                                                    uint32_t axes_mask, float epsilon,
                                                    kiln_layer **out);
KILN_API kiln_status kiln_network_add_resize(kiln_network *network, kiln_tensor *input,
                                             kiln_resize_mode mode, kiln_dims output_dims,
                                             kiln_layer **out);
KILN_API kiln_status kiln_network_add_identity(kiln_network *network, kiln_tensor *input,
                                               kiln_layer **out);
KILN_API kiln_status kiln_network_add_cast(kiln_network *network, kiln_tensor *input, kiln_dtype to,
                                           kiln_layer **out);

/* ---------------------------------------------------------------- ONNX parser ------ */

/* The parser fills `network`, which must outlive it. */
KILN_API kiln_status kiln_onnx_parser_create(kiln_network *network, kiln_logger *logger,
                                             kiln_onnx_parser **out);
KILN_API void kiln_onnx_parser_destroy(kiln_onnx_parser *parser);
/* Parses a model held in memory. `model_dir` is where external data files are looked
 * for; NULL means the current directory. */
KILN_API kiln_status kiln_onnx_parser_parse(kiln_onnx_parser *parser, const void *data, size_t size,
                                            const char *model_dir);
/* Parses a model file (mapped, not read: weights are not copied). */
KILN_API kiln_status kiln_onnx_parser_parse_from_file(kiln_onnx_parser *parser, const char *path);
/* Errors of the last parse: one per problem found (every unsupported node, not only the
 * first). Each names its node. */
KILN_API int32_t kiln_onnx_parser_num_errors(const kiln_onnx_parser *parser);
KILN_API const char *kiln_onnx_parser_get_error(const kiln_onnx_parser *parser, int32_t index);
/* The node name and the op type of error `index`; "" where the error has no node. */
KILN_API const char *kiln_onnx_parser_get_error_node(const kiln_onnx_parser *parser, int32_t index);
KILN_API const char *kiln_onnx_parser_get_error_op(const kiln_onnx_parser *parser, int32_t index);

/* ---------------------------------------------------------------- runtime ---------- */

KILN_API kiln_status kiln_runtime_create(kiln_logger *logger, kiln_runtime **out);
KILN_API void kiln_runtime_destroy(kiln_runtime *runtime);
KILN_API kiln_status kiln_runtime_deserialize_engine(kiln_runtime *runtime, const void *plan,
                                                     size_t size, kiln_engine **out);
/* Maps the plan file; weights are used in place. */
KILN_API kiln_status kiln_runtime_deserialize_engine_from_file(kiln_runtime *runtime,
                                                               const char *path, kiln_engine **out);

/* ---------------------------------------------------------------- engine ----------- */

typedef enum kiln_tensor_io_mode {
    KILN_TENSOR_IO_NONE = 0,
    KILN_TENSOR_IO_INPUT = 1,
    KILN_TENSOR_IO_OUTPUT = 2
} kiln_tensor_io_mode;

KILN_API void kiln_engine_destroy(kiln_engine *engine);
KILN_API kiln_status kiln_engine_serialize(const kiln_engine *engine, kiln_host_memory **out);
KILN_API kiln_status kiln_engine_serialize_to_file(const kiln_engine *engine, const char *path);
KILN_API int32_t kiln_engine_num_io_tensors(const kiln_engine *engine);
/* NULL when index is out of range. */
KILN_API const char *kiln_engine_get_tensor_name(const kiln_engine *engine, int32_t index);
KILN_API kiln_tensor_io_mode kiln_engine_get_tensor_mode(const kiln_engine *engine,
                                                         const char *name);
KILN_API kiln_dtype kiln_engine_get_tensor_dtype(const kiln_engine *engine, const char *name);
/* The declared kind of an I/O tensor (kiln_value_kind): KILN_VALUE_TENSOR for plain
 * tensors (and for an unknown name), SEQUENCE, OPTIONAL or OPTIONAL_SEQUENCE for the ONNX
 * graph inputs and outputs of those types. Their dtype is their elements'. */
KILN_API kiln_value_kind kiln_engine_get_tensor_kind(const kiln_engine *engine, const char *name);
/* Shapes as built; dynamic dims are -1. */
KILN_API kiln_status kiln_engine_get_tensor_shape(const kiln_engine *engine, const char *name,
                                                  kiln_dims *out);
KILN_API kiln_status kiln_engine_get_profile_shape(const kiln_engine *engine,
                                                   const char *input_name, int32_t profile,
                                                   kiln_profile_selector which, kiln_dims *out);
KILN_API int32_t kiln_engine_num_layers(const kiln_engine *engine);
KILN_API kiln_device_type kiln_engine_get_device(const kiln_engine *engine);
KILN_API kiln_status kiln_engine_create_execution_context(kiln_engine *engine, kiln_context **out);

/* ---------------------------------------------------------------- context ---------- */

KILN_API void kiln_context_destroy(kiln_context *context);
/* Fixes the shape of a dynamic input; outside the profile it fails with the bounds. */
KILN_API kiln_status kiln_context_set_input_shape(kiln_context *context, const char *name,
                                                  kiln_dims dims);
/* The current shape of an I/O tensor: inputs as set, outputs as inferred (after a run for
 * data-dependent shapes). Sequences and empty optionals have none: nb_dims is -1. */
KILN_API kiln_status kiln_context_get_tensor_shape(const kiln_context *context, const char *name,
                                                   kiln_dims *out);
/* Binds a buffer (host memory for CPU engines, device memory for CUDA engines). The
 * buffer stays the caller's. */
KILN_API kiln_status kiln_context_set_tensor_address(kiln_context *context, const char *name,
                                                     void *address);
/* Runs asynchronously on `stream` (a cudaStream_t for CUDA engines; ignored on the CPU,
 * where the run has finished when the call returns). */
KILN_API kiln_status kiln_context_enqueue(kiln_context *context, void *stream);
/* Runs and waits for the results. */
KILN_API kiln_status kiln_context_execute(kiln_context *context);
/* After a run: the output's data as the context holds it (valid until the next run or a
 * shape change). For outputs whose shape depends on the data, or that were not bound:
 * read the shape with kiln_context_get_tensor_shape, then the data here. */
KILN_API kiln_status kiln_context_get_tensor_data(const kiln_context *context, const char *name,
                                                  const void **data);

/*
 * Values that are not plain numeric tensors: sequences, empty optionals and strings. These
 * calls serve CPU engines; on CUDA engines they fail with KILN_ERR_UNSUPPORTED (build the
 * engine for the CPU to run such a model).
 *
 * Inputs. A sequence input (kind SEQUENCE or OPTIONAL_SEQUENCE) is bound with
 * kiln_context_set_input_sequence: `count` items of the input's dtype, item i of shape
 * shapes[i] with its elements at data[i] (dense, row-major). The shapes are copied; the
 * item data stays the caller's and is read during each later run, as a buffer bound with
 * kiln_context_set_tensor_address is: it must stay valid and unchanged until the last run
 * that reads it has returned. Sequences of strings cannot be bound. An optional input
 * (kind OPTIONAL or OPTIONAL_SEQUENCE) is left empty with kiln_context_set_input_none, or
 * given a value with the tensor calls (or kiln_context_set_input_sequence); the last call
 * decides. A string input (dtype KILN_DTYPE_STRING) is bound with
 * kiln_context_set_input_strings: dims as for kiln_context_set_input_shape, and one
 * NUL-terminated string per element (row-major), all copied into the context, so the
 * caller's strings may be freed on return. kiln_context_set_tensor_address is refused for
 * sequence and string inputs.
 *
 * Outputs, after a run. kiln_context_get_output_kind gives the value's actual kind
 * (KILN_VALUE_TENSOR, SEQUENCE or NONE). A sequence output has
 * kiln_context_get_output_sequence_count items; item i is read with
 * kiln_context_get_output_sequence_item (its shape, and a pointer to its elements, of the
 * output's dtype). A string output's shape comes from kiln_context_get_tensor_shape and
 * element i (row-major) from kiln_context_get_output_string: `len` bytes at `*s`, which
 * may hold NULs and need not be NUL-terminated. Everything these calls return points into
 * the context and stays valid until its next run, shape change or destruction. Sequence,
 * empty and string outputs are not copied into buffers bound with
 * kiln_context_set_tensor_address, and kiln_context_get_tensor_data refuses them.
 */
KILN_API kiln_status kiln_context_set_input_sequence(kiln_context *context, const char *name,
                                                     int32_t count, const kiln_dims *shapes,
                                                     const void *const *data);
KILN_API kiln_status kiln_context_set_input_none(kiln_context *context, const char *name);
KILN_API kiln_status kiln_context_set_input_strings(kiln_context *context, const char *name,
                                                    kiln_dims dims, const char *const *strings);
/* *kind: a kiln_value_kind (TENSOR, SEQUENCE or NONE). */
KILN_API kiln_status kiln_context_get_output_kind(const kiln_context *context, const char *name,
                                                  int32_t *kind);
KILN_API kiln_status kiln_context_get_output_sequence_count(const kiln_context *context,
                                                            const char *name, int32_t *count);
KILN_API kiln_status kiln_context_get_output_sequence_item(const kiln_context *context,
                                                           const char *name, int32_t index,
                                                           kiln_dims *dims, const void **data);
KILN_API kiln_status kiln_context_get_output_string(const kiln_context *context, const char *name,
                                                    int64_t index, const char **s, size_t *len);
/* Per-layer timing of later runs (off by default: it costs a clock read per layer). */
KILN_API kiln_status kiln_context_set_profiling(kiln_context *context, int enabled);
/* Seconds layer `index` (in engine layer order) took in the last profiled run. */
KILN_API kiln_status kiln_context_get_layer_time(const kiln_context *context, int32_t index,
                                                 double *seconds);
/* The name, op and kernel of layer `index` of the engine (for profiles and reports). */
KILN_API const char *kiln_engine_get_layer_name(const kiln_engine *engine, int32_t index);
KILN_API const char *kiln_engine_get_layer_op(const kiln_engine *engine, int32_t index);
KILN_API const char *kiln_engine_get_layer_kernel(const kiln_engine *engine, int32_t index);
/* The original layers fused into layer `index` by graph optimizations, comma-separated
 * (owned by the engine), or NULL when nothing was fused into it. */
KILN_API const char *kiln_engine_get_layer_fused(const kiln_engine *engine, int32_t index);
/* Bytes of the activation arena planned at build time at the profile's opt shapes (0 when
 * shapes depend on the data), and the sum of the intermediate tensor sizes it replaces. */
KILN_API uint64_t kiln_engine_get_planned_arena_bytes(const kiln_engine *engine);
KILN_API uint64_t kiln_engine_get_naive_activation_bytes(const kiln_engine *engine);
KILN_API uint64_t kiln_engine_get_weight_bytes(const kiln_engine *engine);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KILN_H */
