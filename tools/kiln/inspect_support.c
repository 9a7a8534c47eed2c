/* kiln inspect --support MODEL.onnx: the capability report — every node kiln cannot build,
 * with its name and why, before any build. */
#include <stdio.h>

#include "cli.h"
#include "onnx/importer.h"

int kiln_cli_inspect_support(const char *path, int json) {
    kiln_onnx_model *m = NULL;
    if (kiln_onnx_model_load_file(path, &m) != KILN_OK) {
        fprintf(stderr, "kiln: error: %s\n", kiln_last_error());
        return 1;
    }
    kiln_import_errors errors = {0};
    kiln_onnx_check_support(m, &errors);
    if (json) {
        printf("{\"file\": \"%s\", \"supported\": %s, \"problems\": [", path, errors.count ? "false" : "true");
        for (int32_t i = 0; i < errors.count; i++) {
            printf("%s\n  {\"node\": \"", i ? "," : "");
            for (const char *c = errors.items[i].node; *c; c++) printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
            printf("\", \"op\": \"");
            for (const char *c = errors.items[i].op; *c; c++) printf(*c == '"' || *c == '\\' ? "\\%c" : "%c", *c);
            printf("\", \"message\": \"");
            for (const char *c = errors.items[i].message; *c; c++)
                printf(*c == '"' || *c == '\\' ? "\\%c" : (unsigned char)*c < 0x20 ? " " : "%c", *c);
            printf("\"}");
        }
        printf("]}\n");
    } else if (!errors.count) {
        printf("%s: every node can be imported by kiln (%d nodes)\n", path, m->graph->node_count);
    } else {
        printf("%s: %d node(s) kiln cannot import:\n", path, errors.count);
        for (int32_t i = 0; i < errors.count; i++) printf("  %s\n", errors.items[i].message);
    }
    int rc = errors.count ? 1 : 0;
    kiln_import_errors_clear(&errors);
    kiln_onnx_model_destroy(m);
    return rc;
}
