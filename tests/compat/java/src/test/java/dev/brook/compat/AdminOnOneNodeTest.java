package dev.brook.compat;

/** AdminClient against one node, started as a user starts Brook. */
class AdminOnOneNodeTest extends AdminTests {
    @Override
    int nodes() {
        return 1;
    }
}
