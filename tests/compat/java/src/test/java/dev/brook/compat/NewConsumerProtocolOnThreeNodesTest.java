package dev.brook.compat;

/** The KIP-848 consumer protocol against three broker+controller nodes, every topic at replication factor 3. */
class NewConsumerProtocolOnThreeNodesTest extends NewConsumerProtocolTests {
    @Override
    int nodes() {
        return 3;
    }
}
