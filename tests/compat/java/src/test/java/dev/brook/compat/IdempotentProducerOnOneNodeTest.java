package dev.brook.compat;

/** The idempotent producer against one node, started as a user starts Brook. */
class IdempotentProducerOnOneNodeTest extends IdempotentProducerTests {
    @Override
    int nodes() {
        return 1;
    }
}
