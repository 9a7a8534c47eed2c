/* Node attributes: setting one a node already has replaces it (lookups return the first of
 * a name, so an older copy left in place would silently win), also when the new value is
 * read from the old attribute itself. */
#include "ir/ir.h"
#include "test_util.h"

int main(void) {
    kiln_graph *g = NULL;
    EXPECT_EQ_INT(kiln_graph_create("attrs", &g), KILN_OK);
    int32_t t = -1, node = -1;
    int64_t dims[1] = {4};
    EXPECT_EQ_INT(kiln_graph_add_tensor(g, "x", KILN_DTYPE_FLOAT32, 1, dims, &t), KILN_OK);
    EXPECT_EQ_INT(kiln_graph_add_node(g, "relu", KILN_OP_Relu, 14, &t, 1, &t, 1, &node), KILN_OK);

    EXPECT_EQ_INT(kiln_node_set_int(g, node, "_kiln_a", 1), KILN_OK);
    EXPECT_EQ_INT(kiln_node_set_float(g, node, "_kiln_b", 0.5f), KILN_OK);
    EXPECT_EQ_INT(kiln_node_set_int(g, node, "_kiln_a", 2), KILN_OK);
    EXPECT_EQ_INT(g->nodes[node].attr_count, 2);
    EXPECT_EQ_INT(kiln_attr_int(&g->nodes[node], "_kiln_a", 0), 2);

    int64_t v[3] = {1, 2, 3};
    EXPECT_EQ_INT(kiln_node_set_ints(g, node, "_kiln_c", v, 3), KILN_OK);
    /* the new value taken from the attribute it replaces */
    const kiln_attr *c = kiln_node_attr(&g->nodes[node], "_kiln_c");
    EXPECT_EQ_INT(kiln_node_set_ints(g, node, "_kiln_c", c->ints + 1, 2), KILN_OK);
    c = kiln_node_attr(&g->nodes[node], "_kiln_c");
    EXPECT(c && c->count == 2 && c->ints[0] == 2 && c->ints[1] == 3);
    EXPECT_EQ_INT(g->nodes[node].attr_count, 3);

    EXPECT_EQ_INT(kiln_node_set_string(g, node, "_kiln_a", "now a string", 12), KILN_OK);
    const kiln_attr *a = kiln_node_attr(&g->nodes[node], "_kiln_a");
    EXPECT(a && a->type == KILN_ATTR_STRING && !strcmp(a->s, "now a string"));
    EXPECT_EQ_INT(g->nodes[node].attr_count, 3);
    kiln_graph_destroy(g);
    TEST_MAIN_END();
}
