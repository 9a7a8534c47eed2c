/* Declared in kiln.h; filled in by the engine work (issue 3). Until then each call
 * fails with KILN_ERR_NOT_IMPLEMENTED naming itself, never silently. */
#include "core/error.h"

kiln_status kiln_network_add_identity(kiln_network *network, kiln_tensor *input, kiln_layer **out) {
    (void)network;
    (void)input;
    (void)out;
    return kiln_not_implemented("kiln_network_add_identity");
}

kiln_status kiln_network_add_cast(kiln_network *network, kiln_tensor *input, kiln_dtype to,
                                  kiln_layer **out) {
    (void)network;
    (void)input;
    (void)to;
    (void)out;
    return kiln_not_implemented("kiln_network_add_cast");
}
