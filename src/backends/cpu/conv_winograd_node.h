/*
 * Conv nodes on kiln's own Winograd kernels (conv_winograd_node.c): how many runs each
 * kernel took, for the tests that check a layer was taken.
 */
#ifndef KILN_CPU_CONV_WINOGRAD_NODE_H
#define KILN_CPU_CONV_WINOGRAD_NODE_H

#include <stdint.h>

/* Conv node runs this process has done on F(4x4, 3x3) with stored weights
 * (conv_winograd_f43.c) and on the tile-lane kernel (conv_winograd_lanes.c). */
uint64_t kiln_wino43_node_runs(void);
uint64_t kiln_winol_node_runs(void);

#endif
