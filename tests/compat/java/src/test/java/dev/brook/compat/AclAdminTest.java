package dev.brook.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.errors.InvalidRequestException;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Kafka's AdminClient createAcls / describeAcls / deleteAcls against a
 *  broker running the StandardAuthorizer (the PLAINTEXT principal,
 *  User:ANONYMOUS, is a super user). */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AclAdminTest {
    private static Cluster broker;
    private static Admin admin;

    @BeforeAll
    static void start() throws Exception {
        broker = Cluster.start(1, Map.of(
            "authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users", "User:ANONYMOUS"));
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        admin = Admin.create(p);
    }

    @AfterAll
    static void stop() throws Exception {
        admin.close();
        broker.close();
    }

    private static AclBinding acl(ResourceType type, String name, PatternType pattern, String principal,
                                  AclOperation op, AclPermissionType permission) {
        return new AclBinding(new ResourcePattern(type, name, pattern),
            new AccessControlEntry(principal, "*", op, permission));
    }

    @Test
    void createDescribeDeleteAcls() throws Exception {
        AclBinding readPrefixed = acl(ResourceType.TOPIC, "java-", PatternType.PREFIXED, "User:alice",
            AclOperation.READ, AclPermissionType.ALLOW);
        AclBinding groupRead = acl(ResourceType.GROUP, "java-group", PatternType.LITERAL, "User:alice",
            AclOperation.READ, AclPermissionType.ALLOW);
        AclBinding denyWrite = acl(ResourceType.TOPIC, "java-secret", PatternType.LITERAL, "User:*",
            AclOperation.WRITE, AclPermissionType.DENY);
        AclBinding clusterAlter = acl(ResourceType.CLUSTER, "kafka-cluster", PatternType.LITERAL, "User:ops",
            AclOperation.ALTER, AclPermissionType.ALLOW);
        admin.createAcls(List.of(readPrefixed, groupRead, denyWrite, clusterAlter)).all().get();

        Collection<AclBinding> all = admin.describeAcls(AclBindingFilter.ANY).values().get();
        assertEquals(Set.of(readPrefixed, groupRead, denyWrite, clusterAlter), new HashSet<>(all));

        // MATCH: every ACL that applies to topic java-secret (the prefix and the literal).
        AclBindingFilter matching = new AclBindingFilter(
            new ResourcePatternFilter(ResourceType.TOPIC, "java-secret", PatternType.MATCH),
            AccessControlEntryFilter.ANY);
        assertEquals(Set.of(readPrefixed, denyWrite),
            new HashSet<>(admin.describeAcls(matching).values().get()));

        // An empty resource name is INVALID_REQUEST.
        AclBinding bad = acl(ResourceType.TOPIC, "", PatternType.LITERAL, "User:alice",
            AclOperation.READ, AclPermissionType.ALLOW);
        ExecutionException e = assertThrows(ExecutionException.class,
            () -> admin.createAcls(List.of(bad)).all().get());
        assertInstanceOf(InvalidRequestException.class, e.getCause());

        // Delete alice's ACLs, whatever their resource.
        AclBindingFilter alices = new AclBindingFilter(ResourcePatternFilter.ANY,
            new AccessControlEntryFilter("User:alice", null, AclOperation.ANY, AclPermissionType.ANY));
        Collection<AclBinding> deleted = admin.deleteAcls(List.of(alices)).all().get();
        assertEquals(Set.of(readPrefixed, groupRead), new HashSet<>(deleted));
        Collection<AclBinding> left = admin.describeAcls(AclBindingFilter.ANY).values().get();
        assertEquals(Set.of(denyWrite, clusterAlter), new HashSet<>(left));
        assertTrue(admin.deleteAcls(List.of(AclBindingFilter.ANY)).all().get().size() == 2);
        assertTrue(admin.describeAcls(AclBindingFilter.ANY).values().get().isEmpty());
    }
}
