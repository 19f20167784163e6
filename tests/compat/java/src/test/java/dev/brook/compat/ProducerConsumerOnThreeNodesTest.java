package dev.brook.compat;

/** Producer and consumer round trips against three broker+controller nodes, every topic at replication factor 3. */
class ProducerConsumerOnThreeNodesTest extends ProducerConsumerTests {
    @Override
    int nodes() {
        return 3;
    }
}
