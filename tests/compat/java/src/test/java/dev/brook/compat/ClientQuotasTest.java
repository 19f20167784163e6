package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.junit.jupiter.api.Test;

/** AlterClientQuotas / DescribeClientQuotas through Kafka's AdminClient on
 *  three nodes: entities with names and defaults, filters (exact, default,
 *  any; strict), validateOnly, removal, Kafka's INVALID_REQUEST errors, and
 *  quotas still there after a node restarts. */
class ClientQuotasTest extends ClusterTestBase {
    private static final long SECONDS = REQUEST_TIMEOUT.toSeconds();

    @Override
    int nodes() {
        return 3;
    }

    private static ClientQuotaEntity entity(String... typeAndName) {
        Map<String, String> parts = new HashMap<>();
        for (int i = 0; i < typeAndName.length; i += 2) {
            parts.put(typeAndName[i], typeAndName[i + 1]);
        }
        return new ClientQuotaEntity(parts);
    }

    private void alter(ClientQuotaEntity e, boolean validateOnly, ClientQuotaAlteration.Op... ops) throws Exception {
        admin.alterClientQuotas(List.of(new ClientQuotaAlteration(e, List.of(ops))),
            new AlterClientQuotasOptions().validateOnly(validateOnly)).all().get(SECONDS, TimeUnit.SECONDS);
    }

    private Map<ClientQuotaEntity, Map<String, Double>> describe(ClientQuotaFilter filter) throws Exception {
        return admin.describeClientQuotas(filter).entities().get(SECONDS, TimeUnit.SECONDS);
    }

    @Test
    void alterDescribeFiltersErrorsAndRestart() throws Exception {
        ClientQuotaEntity c1 = entity(ClientQuotaEntity.CLIENT_ID, "c1");
        ClientQuotaEntity aliceAnyClient = entity(ClientQuotaEntity.USER, "alice", ClientQuotaEntity.CLIENT_ID, null);
        ClientQuotaEntity defaultUser = entity(ClientQuotaEntity.USER, null);
        alter(c1, false, new ClientQuotaAlteration.Op("producer_byte_rate", 1024.0),
            new ClientQuotaAlteration.Op("consumer_byte_rate", 2048.0));
        alter(aliceAnyClient, false, new ClientQuotaAlteration.Op("request_percentage", 12.5));
        alter(defaultUser, false, new ClientQuotaAlteration.Op("producer_byte_rate", 4096.0));
        // validateOnly: checked, not written.
        alter(entity(ClientQuotaEntity.CLIENT_ID, "c9"), true, new ClientQuotaAlteration.Op("producer_byte_rate", 1.0));

        Map<ClientQuotaEntity, Map<String, Double>> all = Map.of(
            c1, Map.of("producer_byte_rate", 1024.0, "consumer_byte_rate", 2048.0),
            aliceAnyClient, Map.of("request_percentage", 12.5),
            defaultUser, Map.of("producer_byte_rate", 4096.0));
        assertEquals(all, describe(ClientQuotaFilter.all()));
        assertEquals(Map.of(c1, all.get(c1)),
            describe(ClientQuotaFilter.containsOnly(List.of(ClientQuotaFilterComponent.ofEntity("client-id", "c1")))));
        assertEquals(Map.of(defaultUser, all.get(defaultUser)),
            describe(ClientQuotaFilter.containsOnly(List.of(ClientQuotaFilterComponent.ofDefaultEntity("user")))));
        // Any user (named or default), not strict: alice's entity too.
        assertEquals(Map.of(aliceAnyClient, all.get(aliceAnyClient), defaultUser, all.get(defaultUser)),
            describe(ClientQuotaFilter.contains(List.of(ClientQuotaFilterComponent.ofEntityType("user")))));
        assertEquals(Map.of(aliceAnyClient, all.get(aliceAnyClient)),
            describe(ClientQuotaFilter.contains(List.of(ClientQuotaFilterComponent.ofEntity("user", "alice"),
                ClientQuotaFilterComponent.ofDefaultEntity("client-id")))));

        // Kafka's INVALID_REQUEST: unknown key, fractional byte rate, ip combined with user.
        for (Runnable bad : List.<Runnable>of(
                () -> rethrow(() -> alter(c1, false, new ClientQuotaAlteration.Op("bogus_rate", 1.0))),
                () -> rethrow(() -> alter(c1, false, new ClientQuotaAlteration.Op("producer_byte_rate", 1.5))),
                () -> rethrow(() -> alter(entity("ip", "10.0.0.1", "user", "u"), false,
                    new ClientQuotaAlteration.Op("connection_creation_rate", 5.0))))) {
            RuntimeException e = assertThrows(RuntimeException.class, bad::run);
            assertInstanceOf(InvalidRequestException.class, e.getCause().getCause(), e.toString());
        }
        assertEquals(all, describe(ClientQuotaFilter.all()), "refused alterations changed nothing");

        // Removal: a null value.
        alter(c1, false, new ClientQuotaAlteration.Op("consumer_byte_rate", null));
        Map<ClientQuotaEntity, Map<String, Double>> after = new HashMap<>(all);
        after.put(c1, Map.of("producer_byte_rate", 1024.0));
        assertEquals(after, describe(ClientQuotaFilter.all()));

        // Every node restarts in turn; the quotas come back from the metadata log.
        for (int id : cluster.nodeIds()) {
            cluster.stop(id);
            cluster.start(id);
        }
        awaitCondition(Duration.ofSeconds(30), "quotas after restarts", () -> {
            try {
                return after.equals(describe(ClientQuotaFilter.all()));
            } catch (Exception notYet) {
                return false;
            }
        });
        assertTrue(describe(ClientQuotaFilter.containsOnly(
            List.of(ClientQuotaFilterComponent.ofEntity("client-id", "nobody")))).isEmpty());
        assertEquals(Collections.emptyMap(), describe(ClientQuotaFilter.containsOnly(
            List.of(ClientQuotaFilterComponent.ofEntity("client-id", "c9")))));
    }

    private interface Action {
        void run() throws Exception;
    }

    private static void rethrow(Action a) {
        try {
            a.run();
        } catch (ExecutionException e) {
            throw new RuntimeException(e);
        } catch (Exception e) {
            throw new RuntimeException(new RuntimeException(e));
        }
    }
}
