#ifndef KILN_RUNTIME_BUILD_H
#define KILN_RUNTIME_BUILD_H

#include "ir/ir.h"
#include "plan/plan_format.h"

/* Builds an engine from a network graph (which is copied: the engine owns everything). */
kiln_status kiln_build_engine_internal(kiln_logger *logger, const kiln_graph *network,
                                       const kiln_builder_config *cfg, kiln_engine **out);

#endif
