package dev.brook.compat;

/** Producer and consumer round trips against one node, started as a user starts Brook. */
class ProducerConsumerOnOneNodeTest extends ProducerConsumerTests {
    @Override
    int nodes() {
        return 1;
    }
}
