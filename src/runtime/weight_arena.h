/* Packing a CPU engine's weights into one huge-page buffer (weight_arena.c says why). */
#ifndef KILN_RUNTIME_WEIGHT_ARENA_H
#define KILN_RUNTIME_WEIGHT_ARENA_H

#include "runtime/engine.h"

/* Moves the weights of e's graph (CPU engines) into e->weight_arena. Engines whose weights
 * are smaller than a huge page, or for which the arena cannot be had, keep their weights as
 * they are: never an error. */
kiln_status kiln_engine_pack_weights(kiln_engine *e);

#endif
