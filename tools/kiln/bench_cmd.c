#define _POSIX_C_SOURCE 200809L
/*
 * kiln bench MODEL.onnx|MODEL.plan: warm-up, then timed runs on random inputs; prints a
 * performance summary in the manner of trtexec (throughput, latency percentiles), with
 * --profile the time of every layer, with --json the figures for tools.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "engine_options.h"
#include "npy.h"
#include "kiln/kiln_cuda.h"

typedef struct kiln_bench_options {
    int iterations;      /* 0: run for `duration` seconds */
    double duration;
    int warmup;
    int batch;           /* dynamic leading dims */
    int profile;
    const char *json;    /* path, or "-" for stdout */
    int n_inputs;        /* --input NAME=FILE: real data instead of random values */
    const char *input_names[16], *input_files[16];
    int64_t int_lo, int_hi; /* --int-range: what integer inputs are filled with */
} kiln_bench_options;

static double kiln_bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int kiln_bench_cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double kiln_bench_percentile(const double *sorted, int n, double p) {
    if (n == 0) return 0;
    double rank = p / 100.0 * (n - 1);
    int lo = (int)floor(rank), hi = (int)ceil(rank);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

static void kiln_bench_usage(FILE *f) {
    fprintf(f,
            "usage: kiln bench MODEL.onnx|MODEL.plan [options]\n"
            "  --iterations N      timed runs (default: run for --duration)\n"
            "  --duration S        seconds of timed runs (default 3)\n"
            "  --warmup N          untimed runs first (default 10)\n"
            "  --batch N           size of dynamic leading dimensions (default: profile opt)\n"
            "  --shapes S          input shapes, name:1x3x224x224,...\n"
            "  --profile           time every layer\n"
            "  --json FILE         write the figures as JSON (- for stdout)\n"
            "  --input NAME=FILE   feed this .npy/.pb instead of random values (e.g. token ids)\n"
            "  --int-range LO,HI   fill integer inputs with values from LO to HI (default 0,99;\n"
            "                      e.g. 0,1 for BERT's token types and mask)\n"
            "engine options (for .onnx):\n%s",
            kiln_cli_engine_options_help());
}

/* Fills a buffer with deterministic pseudo-random values of the dtype; integers from lo to
 * hi (bench/cpu_compare.py reproduces this fill for ORT: keep them in step). */
static void kiln_bench_fill(void *data, kiln_dtype dtype, int64_t count, uint32_t seed,
                            int64_t lo, int64_t hi) {
    uint32_t x = seed * 2654435761u + 1;
    uint64_t span = (uint64_t)(hi - lo) + 1;
    for (int64_t i = 0; i < count; i++) {
        x = x * 1664525u + 1013904223u;
        float v = (float)((x >> 8) & 0xffff) / 65536.0f * 2.0f - 1.0f;
        int64_t k = lo + (int64_t)((uint64_t)(x >> 16) % span);
        switch (dtype) {
        case KILN_DTYPE_FLOAT32: ((float *)data)[i] = v; break;
        case KILN_DTYPE_FLOAT64: ((double *)data)[i] = v; break;
        case KILN_DTYPE_INT64: ((int64_t *)data)[i] = k; break;
        case KILN_DTYPE_INT32: ((int32_t *)data)[i] = (int32_t)k; break;
        case KILN_DTYPE_BOOL: ((uint8_t *)data)[i] = (x >> 16) & 1; break;
        default: ((uint8_t *)data)[i * (kiln_dtype_bits(dtype) / 8)] = (uint8_t)(x >> 24); break;
        }
    }
}

/* Shape of an input for the run: the engine's, with dynamic dims from the profile's opt
 * shape or --batch. */
static kiln_dims kiln_bench_shape(kiln_engine *e, const char *name, int batch) {
    kiln_dims d, opt;
    kiln_engine_get_tensor_shape(e, name, &d);
    int have_opt = kiln_engine_get_profile_shape(e, name, 0, KILN_PROFILE_OPT, &opt) == KILN_OK;
    for (int i = 0; i < d.nb_dims; i++)
        if (d.d[i] < 0) d.d[i] = i == 0 && batch > 0 ? batch : have_opt ? opt.d[i] : 1;
    return d;
}

static void kiln_bench_json(FILE *f, const char *model, int threads, int n, double total,
                            const double *sorted, kiln_engine *e, const double *layer_ms) {
    fprintf(f, "{\"model\": \"%s\", \"threads\": %d, \"iterations\": %d, \"seconds\": %.6f,\n", model,
            threads, n, total);
    fprintf(f, " \"throughput_qps\": %.3f, \"latency_ms\": {\"min\": %.4f, \"mean\": %.4f, "
               "\"median\": %.4f, \"p90\": %.4f, \"p99\": %.4f, \"max\": %.4f}",
            n / total, sorted[0], total * 1e3 / n, kiln_bench_percentile(sorted, n, 50),
            kiln_bench_percentile(sorted, n, 90), kiln_bench_percentile(sorted, n, 99), sorted[n - 1]);
    if (layer_ms) {
        fprintf(f, ",\n \"layers\": [");
        for (int32_t i = 0; i < kiln_engine_num_layers(e); i++)
            fprintf(f, "%s\n  {\"name\": \"%s\", \"op\": \"%s\", \"kernel\": \"%s\", \"ms\": %.5f}",
                    i ? "," : "", kiln_engine_get_layer_name(e, i), kiln_engine_get_layer_op(e, i),
                    kiln_engine_get_layer_kernel(e, i), layer_ms[i]);
        fprintf(f, "]");
    }
    fprintf(f, "}\n");
}

int kiln_cli_bench(int argc, char **argv) {
    kiln_cli_engine_options o = {0};
    kiln_bench_options b = {.duration = 3.0, .warmup = 10, .int_lo = 0, .int_hi = 99};
    const char *model = NULL;
    for (int i = 0; i < argc; i++) {
        int r = kiln_cli_engine_option(argc, argv, &i, &o);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            kiln_bench_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--iterations") && has) b.iterations = atoi(argv[++i]);
        else if (!strcmp(a, "--duration") && has) b.duration = atof(argv[++i]);
        else if (!strcmp(a, "--warmup") && has) b.warmup = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && has) b.batch = atoi(argv[++i]);
        else if (!strcmp(a, "--json") && has) b.json = argv[++i];
        else if (!strcmp(a, "--profile")) b.profile = 1;
        else if (!strcmp(a, "--input") && has && b.n_inputs < 16) {
            char *spec = argv[++i], *eq = strchr(spec, '=');
            if (!eq) {
                fprintf(stderr, "kiln bench: --input takes NAME=FILE\n");
                return 2;
            }
            *eq = '\0';
            b.input_names[b.n_inputs] = spec;
            b.input_files[b.n_inputs++] = eq + 1;
        } else if (!strcmp(a, "--int-range") && has) {
            /* int32 inputs take it too: both ends must fit one */
            char *end = NULL, *spec = argv[++i];
            long long lo = strtoll(spec, &end, 10), hi = 0;
            int ok = end != spec && *end == ',';
            if (ok) {
                char *second = end + 1;
                hi = strtoll(second, &end, 10);
                ok = end != second && *end == '\0';
            }
            if (!ok || lo > hi || lo < INT32_MIN || hi > INT32_MAX) {
                fprintf(stderr,
                        "kiln bench: --int-range takes LO,HI with LO <= HI, both int32 "
                        "(got '%s')\n",
                        spec);
                return 2;
            }
            b.int_lo = lo;
            b.int_hi = hi;
        } else if (a[0] == '-') {
            fprintf(stderr, "kiln bench: unknown option '%s'\n", a);
            kiln_bench_usage(stderr);
            return 2;
        } else
            model = a;
    }
    if (!model || b.iterations < 0 || b.duration <= 0 || b.warmup < 0 || b.batch < 0) {
        kiln_bench_usage(stderr);
        return 2;
    }
    if (b.batch && !o.max_batch && !o.opt_shapes) o.max_batch = b.batch;
    kiln_logger *logger = kiln_cli_logger(o.verbose);
    kiln_engine *e = NULL;
    kiln_context *ctx = NULL;
    void **buffers = NULL;
    double *lat = NULL, *layer_ms = NULL;
    int rc = 1, n = 0, gpu_buffers = 0, filled_ints = 0;
    double t_load = kiln_bench_now();
    if (kiln_cli_load_engine(model, &o, logger, &e)) goto done;
    t_load = kiln_bench_now() - t_load;
    if (kiln_engine_create_execution_context(e, &ctx) != KILN_OK) {
        fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
        goto done;
    }
    int32_t nio = kiln_engine_num_io_tensors(e);
    buffers = calloc((size_t)nio + 1, sizeof *buffers);
    for (int32_t i = 0; buffers && i < nio; i++) {
        const char *name = kiln_engine_get_tensor_name(e, i);
        if (kiln_engine_get_tensor_mode(e, name) != KILN_TENSOR_IO_INPUT) continue;
        kiln_dims d = kiln_bench_shape(e, name, b.batch);
        kiln_dtype dt = kiln_engine_get_tensor_dtype(e, name);
        const char *file = NULL;
        for (int k = 0; k < b.n_inputs; k++)
            if (!strcmp(b.input_names[k], name)) file = b.input_files[k];
        int64_t count = 1;
        if (file) {
            kiln_cli_tensor t;
            char why[512];
            if (kiln_cli_tensor_load(file, &t, why, sizeof why)) {
                fprintf(stderr, "kiln bench: input '%s': %s\n", name, why);
                goto done;
            }
            if (t.dtype != dt) {
                fprintf(stderr, "kiln bench: input '%s' is %s, %s holds %s\n", name,
                        kiln_dtype_name(dt), file, kiln_dtype_name(t.dtype));
                kiln_cli_tensor_free(&t);
                goto done;
            }
            d = t.dims;
            buffers[i] = t.data;
        }
        for (int k = 0; k < d.nb_dims; k++) count *= d.d[k];
        if (!file) {
            buffers[i] = malloc((size_t)(count * kiln_dtype_bits(dt) / 8) + 1);
            if (!buffers[i]) goto done;
            kiln_bench_fill(buffers[i], dt, count, (uint32_t)i + 1, b.int_lo, b.int_hi);
            filled_ints |= dt == KILN_DTYPE_INT64 || dt == KILN_DTYPE_INT32;
        }
        if (kiln_engine_get_device(e) == KILN_DEVICE_CUDA) { /* inputs live on the GPU */
            size_t bytes = (size_t)(count * kiln_dtype_bits(dt) / 8);
            void *dev = NULL;
            if (kiln_cuda_malloc(bytes, &dev) != KILN_OK ||
                kiln_cuda_memcpy_htod(dev, buffers[i], bytes) != KILN_OK) {
                fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
                goto done;
            }
            free(buffers[i]);
            buffers[i] = dev;
            gpu_buffers = 1;
        }
        if (kiln_context_set_input_shape(ctx, name, d) != KILN_OK ||
            kiln_context_set_tensor_address(ctx, name, buffers[i]) != KILN_OK) {
            fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
            goto done;
        }
    }
    for (int w = 0; w < b.warmup + 1; w++) /* the first run also plans the arena */
        if (kiln_context_execute(ctx) != KILN_OK) {
            fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
            if (filled_ints) /* e.g. token ids past a vocabulary, or token types past 1 */
                fprintf(stderr,
                        "kiln bench: integer inputs were filled with %lld..%lld; give values "
                        "the model accepts with --input NAME=FILE.npy, or another range with "
                        "--int-range LO,HI\n",
                        (long long)b.int_lo, (long long)b.int_hi);
            goto done;
        }
    int cap = b.iterations ? b.iterations : 1024;
    lat = malloc(sizeof *lat * (size_t)cap);
    double start = kiln_bench_now(), total = 0;
    while (lat && (b.iterations ? n < b.iterations : kiln_bench_now() - start < b.duration)) {
        if (n == cap) {
            double *p = realloc(lat, sizeof *lat * (size_t)(cap *= 2));
            if (!p) break;
            lat = p;
        }
        double t0 = kiln_bench_now();
        if (kiln_context_execute(ctx) != KILN_OK) {
            fprintf(stderr, "kiln bench: %s\n", kiln_last_error());
            goto done;
        }
        lat[n++] = (kiln_bench_now() - t0) * 1e3;
    }
    total = kiln_bench_now() - start;
    if (b.profile) {
        /* Layer times come from separate runs, so the clock reads do not skew the summary. */
        int32_t layers = kiln_engine_num_layers(e);
        layer_ms = calloc((size_t)layers + 1, sizeof *layer_ms);
        kiln_context_set_profiling(ctx, 1);
        int runs = n < 20 ? n : 20;
        for (int r = 0; layer_ms && r < runs; r++) {
            kiln_context_execute(ctx);
            for (int32_t l = 0; l < layers; l++) {
                double s = 0;
                kiln_context_get_layer_time(ctx, l, &s);
                layer_ms[l] += s * 1e3 / runs;
            }
        }
    }
    qsort(lat, (size_t)n, sizeof *lat, kiln_bench_cmp);
    /* with --json -, stdout carries the JSON alone and the summary goes to stderr */
    FILE *out = b.json && !strcmp(b.json, "-") ? stderr : stdout;
    fprintf(out, "=== Performance summary: %s ===\n", model);
    fprintf(out, "Load/build: %.3f s   Threads: %d   Iterations: %d in %.3f s\n", t_load, o.threads,
            n, total);
    fprintf(out, "Throughput: %.2f qps\n", n / total);
    fprintf(out, "Latency (ms): min %.4f  mean %.4f  median %.4f  p90 %.4f  p99 %.4f  max %.4f\n",
            lat[0], total * 1e3 / n, kiln_bench_percentile(lat, n, 50),
            kiln_bench_percentile(lat, n, 90), kiln_bench_percentile(lat, n, 99), lat[n - 1]);
    if (layer_ms) {
        double sum = 0;
        for (int32_t l = 0; l < kiln_engine_num_layers(e); l++) sum += layer_ms[l];
        fprintf(out, "\n=== Layer profile (average over runs) ===\n%-48s %-20s %10s %7s\n", "layer",
                "op", "ms", "%");
        for (int32_t l = 0; l < kiln_engine_num_layers(e); l++)
            fprintf(out, "%-48.48s %-20.20s %10.4f %6.1f%%\n", kiln_engine_get_layer_name(e, l),
                    kiln_engine_get_layer_op(e, l), layer_ms[l],
                    sum > 0 ? 100 * layer_ms[l] / sum : 0);
        fprintf(out, "%-48s %-20s %10.4f\n", "total", "", sum);
    }
    if (b.json) {
        FILE *f = strcmp(b.json, "-") ? fopen(b.json, "w") : stdout;
        if (!f) {
            fprintf(stderr, "kiln bench: cannot write %s\n", b.json);
            goto done;
        }
        kiln_bench_json(f, model, o.threads, n, total, lat, e, layer_ms);
        if (f != stdout) fclose(f);
    }
    rc = 0;
done:
    for (int32_t i = 0; buffers && i < kiln_engine_num_io_tensors(e); i++) {
        if (gpu_buffers && buffers[i]) kiln_cuda_free(buffers[i]);
        else free(buffers[i]);
    }
    free(buffers);
    free(lat);
    free(layer_ms);
    kiln_context_destroy(ctx);
    kiln_engine_destroy(e);
    kiln_logger_destroy(logger);
    return rc;
}
