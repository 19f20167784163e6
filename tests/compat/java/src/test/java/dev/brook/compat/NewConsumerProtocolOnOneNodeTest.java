package dev.brook.compat;

/** The KIP-848 consumer protocol against one node, started as a user starts Brook. */
class NewConsumerProtocolOnOneNodeTest extends NewConsumerProtocolTests {
    @Override
    int nodes() {
        return 1;
    }
}
