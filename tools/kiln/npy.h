/* Reading and writing tensors as numpy .npy files (version 1.0/2.0, little-endian, C order)
 * and as ONNX TensorProto .pb files. */
#ifndef KILN_CLI_NPY_H
#define KILN_CLI_NPY_H

#include "kiln/kiln.h"

typedef struct kiln_cli_tensor {
    kiln_dtype dtype;
    kiln_dims dims;
    void *data; /* malloc'ed */
    size_t nbytes;
} kiln_cli_tensor;

/* Reads FILE (.npy, or .pb holding a TensorProto). On failure prints nothing and returns
 * non-zero with kiln_last_error()-style text in `why`. */
int kiln_cli_tensor_load(const char *path, kiln_cli_tensor *out, char *why, size_t why_size);
int kiln_cli_npy_save(const char *path, kiln_dtype dtype, kiln_dims dims, const void *data,
                      char *why, size_t why_size);
void kiln_cli_tensor_free(kiln_cli_tensor *t);

#endif
