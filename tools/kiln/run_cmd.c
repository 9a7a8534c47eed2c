/* kiln run MODEL.plan|MODEL.onnx --input NAME=FILE ... [--output-dir DIR] */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "engine_options.h"
#include "npy.h"
#include "kiln/kiln_cuda.h"

#define KILN_RUN_MAX_INPUTS 64

typedef struct kiln_run_input {
    const char *name;
    const char *path;
    kiln_cli_tensor tensor;
} kiln_run_input;

static void kiln_run_usage(FILE *f) {
    fprintf(f,
            "usage: kiln run MODEL.plan|MODEL.onnx --input NAME=FILE [--input ...] "
            "[--output-dir DIR] [options]\n"
            "  FILE is .npy or an ONNX TensorProto .pb; outputs go to DIR/NAME.npy\n"
            "  --labels FILE.npy  int64 class labels: print top-1 predictions and accuracy\n"
            "options (for .onnx models, built in memory first):\n%s",
            kiln_cli_engine_options_help());
}

/* "a/b:c" -> "a_b_c": output names become file names. */
static void kiln_run_file_name(const char *name, char *out, size_t size) {
    size_t i = 0;
    for (; name[i] && i + 1 < size; i++) {
        char c = name[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

/* Top-1 class of each row of a [N, C] float32 output, and the accuracy against labels. */
static int kiln_run_classify(const char *name, kiln_dims dims, const float *p, const char *labels_path) {
    if (dims.nb_dims != 2) {
        fprintf(stderr, "kiln run: --labels needs a [batch, classes] output; '%s' has rank %d\n",
                name, dims.nb_dims);
        return 1;
    }
    kiln_cli_tensor labels;
    char why[512];
    if (kiln_cli_tensor_load(labels_path, &labels, why, sizeof why)) {
        fprintf(stderr, "kiln run: labels: %s\n", why);
        return 1;
    }
    int64_t n = dims.d[0], c = dims.d[1];
    int64_t nl = labels.dims.nb_dims ? labels.dims.d[0] : 1;
    if (labels.dtype != KILN_DTYPE_INT64 || labels.dims.nb_dims != 1 || nl != n) {
        fprintf(stderr, "kiln run: labels must be int64 [%lld]\n", (long long)n);
        kiln_cli_tensor_free(&labels);
        return 1;
    }
    int64_t correct = 0;
    printf("predictions (label/predicted, * = wrong):\n");
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t k = 1; k < c; k++)
            if (p[i * c + k] > p[i * c + best]) best = k;
        int64_t label = ((const int64_t *)labels.data)[i];
        correct += best == label;
        printf(" %lld/%lld%s", (long long)label, (long long)best, best == label ? " " : "*");
        if (i % 16 == 15 || i + 1 == n) printf("\n");
    }
    printf("accuracy: %lld/%lld = %.2f%%\n", (long long)correct, (long long)n,
           n ? 100.0 * (double)correct / (double)n : 0.0);
    kiln_cli_tensor_free(&labels);
    return 0;
}

static void kiln_run_summary(const char *name, kiln_dtype dtype, kiln_dims dims, const void *data) {
    int64_t count = 1;
    printf("output '%s': %s [", name, kiln_dtype_name(dtype));
    for (int d = 0; d < dims.nb_dims; d++) {
        printf("%s%lld", d ? ", " : "", (long long)dims.d[d]);
        count *= dims.d[d];
    }
    printf("]");
    if (dtype == KILN_DTYPE_FLOAT32 && count > 0) {
        const float *f = data;
        double lo = f[0], hi = f[0], sum = 0;
        for (int64_t i = 0; i < count; i++) {
            lo = f[i] < lo ? f[i] : lo;
            hi = f[i] > hi ? f[i] : hi;
            sum += f[i];
        }
        printf("  min %.6g  max %.6g  mean %.6g\n  first:", lo, hi, sum / (double)count);
        for (int64_t i = 0; i < count && i < 8; i++) printf(" %.6g", f[i]);
        if (count > 8) printf(" ...");
    } else if (dtype == KILN_DTYPE_INT64 && count > 0) {
        printf("\n  first:");
        for (int64_t i = 0; i < count && i < 8; i++) printf(" %lld", (long long)((const int64_t *)data)[i]);
        if (count > 8) printf(" ...");
    }
    printf("\n");
}

/* For .onnx models without shape options: fix dynamic inputs at the given files' shapes. */
static char *kiln_run_shapes_from_inputs(const kiln_run_input *in, int n) {
    size_t cap = 64;
    for (int i = 0; i < n; i++) cap += strlen(in[i].name) + 24 * KILN_MAX_DIMS;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t pos = 0;
    s[0] = '\0';
    for (int i = 0; i < n; i++) {
        pos += (size_t)snprintf(s + pos, cap - pos, "%s%s:", i ? "," : "", in[i].name);
        for (int d = 0; d < in[i].tensor.dims.nb_dims; d++)
            pos += (size_t)snprintf(s + pos, cap - pos, "%s%lld", d ? "x" : "",
                                    (long long)in[i].tensor.dims.d[d]);
    }
    return s;
}

int kiln_cli_run(int argc, char **argv) {
    kiln_cli_engine_options o = {0};
    const char *model = NULL, *out_dir = NULL, *labels = NULL;
    kiln_run_input inputs[KILN_RUN_MAX_INPUTS];
    int n_inputs = 0;
    for (int i = 0; i < argc; i++) {
        int r = kiln_cli_engine_option(argc, argv, &i, &o);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            kiln_run_usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--input") && i + 1 < argc && n_inputs < KILN_RUN_MAX_INPUTS) {
            char *spec = argv[++i];
            char *eq = strchr(spec, '=');
            if (!eq || eq == spec || !eq[1]) {
                fprintf(stderr, "kiln run: --input takes NAME=FILE, not '%s'\n", spec);
                return 2;
            }
            *eq = '\0';
            inputs[n_inputs].name = spec;
            inputs[n_inputs++].path = eq + 1;
        } else if (!strcmp(argv[i], "--labels") && i + 1 < argc) {
            labels = argv[++i];
        } else if (!strcmp(argv[i], "--output-dir") && i + 1 < argc) {
            out_dir = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "kiln run: unknown option '%s'\n", argv[i]);
            kiln_run_usage(stderr);
            return 2;
        } else if (!model) {
            model = argv[i];
        } else {
            fprintf(stderr, "kiln run: one model at a time\n");
            return 2;
        }
    }
    if (!model) {
        kiln_run_usage(stderr);
        return 2;
    }
    int rc = 1;
    char why[1024];
    int loaded = 0;
    for (; loaded < n_inputs; loaded++)
        if (kiln_cli_tensor_load(inputs[loaded].path, &inputs[loaded].tensor, why, sizeof why)) {
            fprintf(stderr, "kiln run: input '%s': %s\n", inputs[loaded].name, why);
            goto free_inputs;
        }
    char *derived = NULL;
    if (kiln_cli_has_suffix(model, ".onnx") && !o.min_shapes && !o.opt_shapes && !o.max_shapes &&
        !o.max_batch && n_inputs)
        o.opt_shapes = derived = kiln_run_shapes_from_inputs(inputs, n_inputs);
    kiln_logger *logger = kiln_cli_logger(o.verbose);
    kiln_engine *engine = NULL;
    kiln_context *ctx = NULL;
    int on_gpu = 0;
    void *device[KILN_RUN_MAX_INPUTS] = {0};
    void *host_out = NULL;
    if (kiln_cli_load_engine(model, &o, logger, &engine)) goto done;
    if (kiln_engine_create_execution_context(engine, &ctx) != KILN_OK) {
        fprintf(stderr, "kiln run: %s\n", kiln_last_error());
        goto done;
    }
    on_gpu = kiln_engine_get_device(engine) == KILN_DEVICE_CUDA;
    for (int i = 0; i < n_inputs; i++) {
        const char *name = inputs[i].name;
        if (kiln_engine_get_tensor_mode(engine, name) != KILN_TENSOR_IO_INPUT) {
            fprintf(stderr, "kiln run: the model has no input named '%s'\n", name);
            goto done;
        }
        kiln_dtype want = kiln_engine_get_tensor_dtype(engine, name);
        if (want != inputs[i].tensor.dtype) {
            fprintf(stderr, "kiln run: input '%s' is %s, but %s holds %s\n", name,
                    kiln_dtype_name(want), inputs[i].path, kiln_dtype_name(inputs[i].tensor.dtype));
            goto done;
        }
        void *address = inputs[i].tensor.data;
        if (on_gpu && (kiln_cuda_malloc(inputs[i].tensor.nbytes, &device[i]) != KILN_OK ||
                       kiln_cuda_memcpy_htod(device[i], address, inputs[i].tensor.nbytes) != KILN_OK)) {
            fprintf(stderr, "kiln run: %s\n", kiln_last_error());
            goto done;
        }
        if (on_gpu) address = device[i];
        if (kiln_context_set_input_shape(ctx, name, inputs[i].tensor.dims) != KILN_OK ||
            kiln_context_set_tensor_address(ctx, name, address) != KILN_OK) {
            fprintf(stderr, "kiln run: %s\n", kiln_last_error());
            goto done;
        }
    }
    for (int32_t i = 0; i < kiln_engine_num_io_tensors(engine); i++) {
        const char *name = kiln_engine_get_tensor_name(engine, i);
        if (kiln_engine_get_tensor_mode(engine, name) != KILN_TENSOR_IO_INPUT) continue;
        int given = 0;
        for (int k = 0; k < n_inputs; k++) given |= !strcmp(inputs[k].name, name);
        if (!given) {
            kiln_dims d;
            kiln_engine_get_tensor_shape(engine, name, &d);
            fprintf(stderr, "kiln run: input '%s' (%s) is missing: give it with --input %s=FILE\n",
                    name, kiln_dtype_name(kiln_engine_get_tensor_dtype(engine, name)), name);
            goto done;
        }
    }
    if (kiln_context_execute(ctx) != KILN_OK) {
        fprintf(stderr, "kiln run: %s\n", kiln_last_error());
        goto done;
    }
    if (out_dir && mkdir(out_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "kiln run: cannot create %s: %s\n", out_dir, strerror(errno));
        goto done;
    }
    rc = 0;
    for (int32_t i = 0; i < kiln_engine_num_io_tensors(engine); i++) {
        const char *name = kiln_engine_get_tensor_name(engine, i);
        if (kiln_engine_get_tensor_mode(engine, name) != KILN_TENSOR_IO_OUTPUT) continue;
        kiln_dims dims;
        const void *data;
        kiln_dtype dtype = kiln_engine_get_tensor_dtype(engine, name);
        if (kiln_context_get_tensor_shape(ctx, name, &dims) != KILN_OK ||
            kiln_context_get_tensor_data(ctx, name, &data) != KILN_OK) {
            fprintf(stderr, "kiln run: %s\n", kiln_last_error());
            rc = 1;
            continue;
        }
        if (on_gpu) { /* the output is in device memory: bring it over */
            size_t bytes = (size_t)kiln_dtype_bits(dtype) / 8;
            for (int d = 0; d < dims.nb_dims; d++) bytes *= (size_t)dims.d[d];
            free(host_out);
            host_out = malloc(bytes ? bytes : 1);
            if (!host_out || kiln_cuda_memcpy_dtoh(host_out, data, bytes) != KILN_OK) {
                fprintf(stderr, "kiln run: %s\n", kiln_last_error());
                rc = 1;
                continue;
            }
            data = host_out;
        }
        kiln_run_summary(name, dtype, dims, data);
        if (labels && dtype == KILN_DTYPE_FLOAT32 && kiln_run_classify(name, dims, data, labels)) rc = 1;
        if (out_dir) {
            char file[512], path[4096];
            kiln_run_file_name(name, file, sizeof file);
            snprintf(path, sizeof path, "%s/%s.npy", out_dir, file);
            if (kiln_cli_npy_save(path, dtype, dims, data, why, sizeof why)) {
                fprintf(stderr, "kiln run: %s\n", why);
                rc = 1;
            } else {
                printf("  -> %s\n", path);
            }
        }
    }
done:
    kiln_context_destroy(ctx);
    kiln_engine_destroy(engine);
    kiln_logger_destroy(logger);
    for (int i = 0; i < n_inputs; i++)
        if (device[i]) kiln_cuda_free(device[i]);
    free(host_out);
    free(derived);
free_inputs:
    for (int i = 0; i < loaded; i++) kiln_cli_tensor_free(&inputs[i].tensor);
    return rc;
}
