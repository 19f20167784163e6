//! Access control lists and the authorizer's pure rules, with the semantics
//! of Kafka's `StandardAuthorizer` (org.apache.kafka.metadata.authorizer):
//!
//! - an ACL is (resource type, resource name, pattern type, principal, host,
//!   operation, permission); a LITERAL name `*` matches every resource of
//!   its type, a PREFIXED name matches every resource whose name starts with it;
//! - principal `User:*` matches every principal, host `*` every host;
//! - a matching DENY wins over any ALLOW;
//! - ALLOW READ/WRITE/DELETE/ALTER imply DESCRIBE, ALLOW ALTER_CONFIGS implies
//!   DESCRIBE_CONFIGS, ALL covers every operation (implication is for ALLOW only:
//!   DENY READ does not deny DESCRIBE);
//! - `super.users` are allowed everything;
//! - with no ACL at all on a resource, `allow.everyone.if.no.acl.found` decides.
//!
//! [`AclIndex`] keeps the ACLs by resource so an authorization looks up only
//! the resource's literal name, the `*` wildcard and the prefix lengths that
//! actually occur, never scanning every ACL. It is plain data (no locks): the
//! metadata image owns one and replaces it as a whole.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::principal::KafkaPrincipal;

/// The one name a CLUSTER resource has.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// A LITERAL resource name, a principal name or a host matching everything.
pub const WILDCARD: &str = "*";
/// The principal matching every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";
/// `authorizer.class.name` value that turns the authorizer on.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:expr, $text:expr;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($variant,)*
        }

        impl $name {
            /// Kafka's wire code.
            pub fn code(self) -> i8 {
                match self {
                    $($name::$variant => $code,)*
                }
            }

            /// From Kafka's wire code; unknown codes are `Unknown`.
            pub fn from_code(code: i8) -> $name {
                match code {
                    $($code => $name::$variant,)*
                    _ => $name::Unknown,
                }
            }

            /// Kafka's name (`TRANSACTIONAL_ID`, `DESCRIBE_CONFIGS`, ...).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl FromStr for $name {
            type Err = String;

            /// Kafka's name or its CamelCase form, any case, '_' optional
            /// (`TRANSACTIONAL_ID`, `TransactionalId`, `transactional-id`).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted: String = s.chars().filter(|c| *c != '_' && *c != '-').collect::<String>().to_ascii_uppercase();
                $(
                    if $text.replace('_', "") == wanted {
                        return Ok($name::$variant);
                    }
                )*
                Err(format!("unknown {} '{}'", stringify!($name), s))
            }
        }
    };
}

kafka_enum!(
    /// What an ACL protects (Kafka's `ResourceType`).
    ResourceType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
);

kafka_enum!(
    /// How an ACL's resource name matches (Kafka's `PatternType`). ANY and
    /// MATCH appear only in filters.
    PatternType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Match = 2, "MATCH";
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
);

kafka_enum!(
    /// Kafka's `AclOperation`. ANY appears only in filters.
    AclOperation {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
    }
);

kafka_enum!(
    /// Kafka's `AclPermissionType`. ANY appears only in filters.
    AclPermission {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
);

impl AclOperation {
    /// Whether an ALLOW ACL for `self` allows `wanted`.
    fn allows(self, wanted: AclOperation) -> bool {
        use AclOperation::*;
        self == All
            || self == wanted
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }

    /// Whether a DENY ACL for `self` denies `wanted` (no implication).
    fn denies(self, wanted: AclOperation) -> bool {
        self == AclOperation::All || self == wanted
    }

    /// The operations that make sense on a resource type, as Kafka lists them
    /// in `authorized_operations` fields.
    pub fn for_resource(resource_type: ResourceType) -> &'static [AclOperation] {
        use AclOperation::*;
        match resource_type {
            ResourceType::Topic => &[Read, Write, Create, Delete, Alter, Describe, DescribeConfigs, AlterConfigs],
            ResourceType::Group => &[Read, Delete, Describe],
            ResourceType::Cluster => {
                &[Create, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, Alter, Describe]
            }
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            _ => &[],
        }
    }
}

/// One ACL (Kafka's `AclBinding`: a resource pattern plus an access control entry).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// An IP address, or `*` for every host.
    pub host: String,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

/// Why an ACL or a filter is refused (Kafka answers INVALID_REQUEST).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidAcl(pub String);

impl AclBinding {
    /// The checks Kafka makes before storing an ACL (AclApis and
    /// AclControlManager.validateNewAcl).
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        let bad = |why: String| Err(InvalidAcl(why));
        match self.resource_type {
            ResourceType::Unknown | ResourceType::Any => {
                return bad(format!("Invalid resourceType {}", self.resource_type))
            }
            _ => {}
        }
        if !matches!(self.pattern_type, PatternType::Literal | PatternType::Prefixed) {
            return bad(format!("Invalid patternType {}", self.pattern_type));
        }
        if matches!(self.operation, AclOperation::Unknown | AclOperation::Any) {
            return bad(format!("Invalid operation {}", self.operation));
        }
        if !matches!(self.permission, AclPermission::Allow | AclPermission::Deny) {
            return bad(format!("Invalid permissionType {}", self.permission));
        }
        if self.resource_name.is_empty() {
            return bad("Resource name should not be empty".to_string());
        }
        if self.resource_type == ResourceType::Cluster && self.resource_name != CLUSTER_NAME {
            return bad(format!("The only valid name for the CLUSTER resource is {CLUSTER_NAME}"));
        }
        if self.principal.parse::<KafkaPrincipal>().is_err() {
            return bad(format!("Invalid principal '{}' (expected Type:name)", self.principal));
        }
        if self.host.is_empty() {
            return bad("Host should not be empty".to_string());
        }
        Ok(())
    }

    fn matches_principal(&self, principal: &str) -> bool {
        self.principal == principal || self.principal == WILDCARD_PRINCIPAL
    }

    fn matches_host(&self, host: &str) -> bool {
        self.host == WILDCARD || self.host == host
    }
}

impl fmt::Display for AclBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "(resource={}:{}:{}, principal={}, host={}, operation={}, permission={})",
            self.resource_type,
            self.pattern_type,
            self.resource_name,
            self.principal,
            self.host,
            self.operation,
            self.permission
        )
    }
}

/// A filter over ACLs (Kafka's `AclBindingFilter`), for DescribeAcls and
/// DeleteAcls. `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    /// ANY: every pattern type with exactly this name; MATCH: every ACL that
    /// would apply to the named resource (literal, `*` and prefixes).
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl AclFilter {
    /// Matches every ACL.
    pub fn any() -> AclFilter {
        AclFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: AclPermission::Any,
        }
    }

    /// Kafka refuses filters with UNKNOWN fields (AclControlManager.validateFilter).
    pub fn validate(&self) -> Result<(), InvalidAcl> {
        if self.resource_type == ResourceType::Unknown || self.pattern_type == PatternType::Unknown {
            return Err(InvalidAcl("Unknown patternFilter.".to_string()));
        }
        if self.operation == AclOperation::Unknown || self.permission == AclPermission::Unknown {
            return Err(InvalidAcl("Unknown entryFilter.".to_string()));
        }
        Ok(())
    }

    pub fn matches(&self, acl: &AclBinding) -> bool {
        self.matches_resource(acl)
            && self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == AclOperation::Any || self.operation == acl.operation)
            && (self.permission == AclPermission::Any || self.permission == acl.permission)
    }

    fn matches_resource(&self, acl: &AclBinding) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match) && self.pattern_type != acl.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == acl.pattern_type {
            return *name == acl.resource_name;
        }
        // MATCH: the ACLs that apply to the resource `name`.
        match acl.pattern_type {
            PatternType::Literal => *name == acl.resource_name || acl.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(acl.resource_name.as_str()),
            _ => false,
        }
    }
}

/// An ACL as stored: its binding and the id of the metadata record that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAcl {
    pub id: String,
    pub binding: AclBinding,
}

/// The ACLs of one resource type, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Section {
    literal: HashMap<String, Vec<StoredAcl>>,
    prefixed: BTreeMap<String, Vec<StoredAcl>>,
    /// Byte lengths of the prefixed names present (with their count), so a
    /// lookup tries only those lengths.
    prefix_lengths: BTreeMap<usize, usize>,
}

/// Every ACL, indexed for authorization. Ids are unique.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclIndex {
    sections: BTreeMap<ResourceType, Section>,
    by_id: HashMap<String, AclBinding>,
}

impl AclIndex {
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn get(&self, id: &str) -> Option<&AclBinding> {
        self.by_id.get(id)
    }

    /// The id of an ACL equal to `binding`, if one is stored.
    pub fn find(&self, binding: &AclBinding) -> Option<&str> {
        self.candidates(binding).find(|a| a.binding == *binding).map(|a| a.id.as_str())
    }

    fn candidates<'a>(&'a self, binding: &AclBinding) -> impl Iterator<Item = &'a StoredAcl> + 'a {
        let section = self.sections.get(&binding.resource_type);
        let list = section.and_then(|s| match binding.pattern_type {
            PatternType::Literal => s.literal.get(&binding.resource_name),
            PatternType::Prefixed => s.prefixed.get(&binding.resource_name),
            _ => None,
        });
        list.into_iter().flatten()
    }

    /// Adds an ACL under `id` (replacing any ACL with that id).
    pub fn insert(&mut self, id: String, binding: AclBinding) {
        self.remove(&id);
        let section = self.sections.entry(binding.resource_type).or_default();
        let stored = StoredAcl { id: id.clone(), binding: binding.clone() };
        match binding.pattern_type {
            PatternType::Prefixed => {
                *section.prefix_lengths.entry(binding.resource_name.len()).or_default() += 1;
                section.prefixed.entry(binding.resource_name.clone()).or_default().push(stored);
            }
            _ => section.literal.entry(binding.resource_name.clone()).or_default().push(stored),
        }
        self.by_id.insert(id, binding);
    }

    /// Removes the ACL with this id; returns it if it was there.
    pub fn remove(&mut self, id: &str) -> Option<AclBinding> {
        let binding = self.by_id.remove(id)?;
        let section = self.sections.get_mut(&binding.resource_type)?;
        let name = &binding.resource_name;
        if binding.pattern_type == PatternType::Prefixed {
            if let Some(list) = section.prefixed.get_mut(name) {
                list.retain(|a| a.id != id);
                if list.is_empty() {
                    section.prefixed.remove(name);
                }
            }
            if let Some(count) = section.prefix_lengths.get_mut(&name.len()) {
                *count -= 1;
                if *count == 0 {
                    section.prefix_lengths.remove(&name.len());
                }
            }
        } else if let Some(list) = section.literal.get_mut(name) {
            list.retain(|a| a.id != id);
            if list.is_empty() {
                section.literal.remove(name);
            }
        }
        if section.literal.is_empty() && section.prefixed.is_empty() {
            self.sections.remove(&binding.resource_type);
        }
        Some(binding)
    }

    /// Every stored ACL (in no particular order).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &AclBinding)> {
        self.by_id.iter().map(|(id, b)| (id.as_str(), b))
    }

    /// The ACLs matching `filter`, sorted (a stable answer for DescribeAcls).
    pub fn matching(&self, filter: &AclFilter) -> Vec<(&str, &AclBinding)> {
        let mut out: Vec<_> = self.iter().filter(|(_, b)| filter.matches(b)).collect();
        out.sort_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)));
        out
    }

    /// Every ACL whose pattern applies to the resource `(resource_type, name)`.
    fn applying<'a>(&'a self, resource_type: ResourceType, name: &'a str) -> impl Iterator<Item = &'a AclBinding> + 'a {
        let section = self.sections.get(&resource_type);
        let literal = section.into_iter().flat_map(move |s| {
            let exact = s.literal.get(name).into_iter().flatten();
            let wildcard = if name == WILDCARD { None } else { s.literal.get(WILDCARD) };
            exact.chain(wildcard.into_iter().flatten())
        });
        let prefixed = section.into_iter().flat_map(move |s| {
            s.prefix_lengths
                .range(..=name.len())
                .filter_map(move |(len, _)| name.get(..*len))
                .flat_map(move |prefix| s.prefixed.get(prefix).into_iter().flatten())
        });
        literal.chain(prefixed).map(|a| &a.binding)
    }

    /// Whether `resource_type` has any ACL at all.
    fn has_type(&self, resource_type: ResourceType) -> bool {
        self.sections.contains_key(&resource_type)
    }

    /// Every ACL of one resource type.
    fn of_type(&self, resource_type: ResourceType) -> impl Iterator<Item = &AclBinding> {
        self.sections
            .get(&resource_type)
            .into_iter()
            .flat_map(|s| s.literal.values().flatten().chain(s.prefixed.values().flatten()).map(|a| &a.binding))
    }
}

/// What an authorization decided, and why (for the audit log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    SuperUser,
    Allowed,
    Denied,
    /// No ACL names the resource: `allow.everyone.if.no.acl.found` decided.
    NoAcl(bool),
    /// An ACL exists for the resource but none allows this request.
    NoMatch,
}

impl Decision {
    pub fn allowed(self) -> bool {
        matches!(self, Decision::SuperUser | Decision::Allowed | Decision::NoAcl(true))
    }
}

/// The authorizer's settings (`super.users`, `allow.everyone.if.no.acl.found`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authorizer {
    super_users: HashSet<String>,
    allow_everyone_if_no_acl: bool,
}

impl Authorizer {
    /// `super_users`: Kafka's semicolon-separated `super.users` value.
    pub fn new(super_users: &str, allow_everyone_if_no_acl: bool) -> Authorizer {
        let super_users = super_users.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        Authorizer { super_users, allow_everyone_if_no_acl }
    }

    /// `principal` in its `Type:name` form.
    pub fn is_super_user(&self, principal: &str) -> bool {
        !self.super_users.is_empty() && self.super_users.contains(principal)
    }

    /// May `principal` (`Type:name`, formatted once per connection or
    /// request by the caller), connected from `host`, do `operation` on the
    /// resource `(resource_type, name)`? Kafka's StandardAuthorizerData.authorize.
    pub fn authorize(
        &self,
        acls: &AclIndex,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Decision {
        if self.is_super_user(principal) {
            return Decision::SuperUser;
        }
        let mut any_acl = false;
        let mut allowed = false;
        for acl in acls.applying(resource_type, name) {
            any_acl = true;
            if !acl.matches_principal(principal) || !acl.matches_host(host) {
                continue;
            }
            match acl.permission {
                AclPermission::Deny if acl.operation.denies(operation) => return Decision::Denied,
                AclPermission::Allow if acl.operation.allows(operation) => allowed = true,
                _ => {}
            }
        }
        if allowed {
            Decision::Allowed
        } else if !any_acl {
            Decision::NoAcl(self.allow_everyone_if_no_acl)
        } else {
            Decision::NoMatch
        }
    }

    /// May `principal` do `operation` on at least one resource of this type?
    /// (Kafka's `authorizeByResourceType`, used by InitProducerId for
    /// idempotent producers with WRITE on some topic.) True when an ALLOW
    /// ACL for the principal is not cancelled by a DENY covering its
    /// pattern: a DENY on the `*` literal, or on the same or a shorter prefix.
    pub fn authorize_any(
        &self,
        acls: &AclIndex,
        principal: &str,
        host: &str,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if self.is_super_user(principal) {
            return true;
        }
        let applies = |acl: &&AclBinding| acl.matches_principal(principal) && acl.matches_host(host);
        let denies: Vec<&AclBinding> = acls
            .of_type(resource_type)
            .filter(applies)
            .filter(|a| a.permission == AclPermission::Deny && a.operation.denies(operation))
            .collect();
        if denies.iter().any(|d| d.pattern_type == PatternType::Literal && d.resource_name == WILDCARD) {
            return false;
        }
        let covered = |allow: &AclBinding| {
            denies.iter().any(|d| match (d.pattern_type, allow.pattern_type) {
                (PatternType::Literal, PatternType::Literal) => d.resource_name == allow.resource_name,
                (PatternType::Prefixed, _) => allow.resource_name.starts_with(d.resource_name.as_str()),
                _ => false,
            })
        };
        let allowed = acls
            .of_type(resource_type)
            .filter(applies)
            .any(|a| a.permission == AclPermission::Allow && a.operation.allows(operation) && !covered(a));
        allowed || (self.allow_everyone_if_no_acl && !acls.has_type(resource_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(
        rt: ResourceType,
        name: &str,
        pt: PatternType,
        who: &str,
        op: AclOperation,
        perm: AclPermission,
    ) -> AclBinding {
        AclBinding {
            resource_type: rt,
            resource_name: name.to_string(),
            pattern_type: pt,
            principal: who.to_string(),
            host: "*".to_string(),
            operation: op,
            permission: perm,
        }
    }

    fn allow_topic(name: &str, pt: PatternType, who: &str, op: AclOperation) -> AclBinding {
        acl(ResourceType::Topic, name, pt, who, op, AclPermission::Allow)
    }

    fn index(acls: &[AclBinding]) -> AclIndex {
        let mut index = AclIndex::default();
        for (i, a) in acls.iter().enumerate() {
            index.insert(format!("id{i}"), a.clone());
        }
        index
    }

    fn user(name: &str) -> String {
        KafkaPrincipal::user(name).to_string()
    }

    fn can(auth: &Authorizer, acls: &AclIndex, who: &str, op: AclOperation, rt: ResourceType, name: &str) -> bool {
        auth.authorize(acls, &user(who), "10.0.0.1", op, rt, name).allowed()
    }

    use AclOperation::*;
    use PatternType::*;
    use ResourceType::*;

    #[test]
    fn codes_and_names_round_trip() {
        for code in 0..15 {
            assert_eq!(AclOperation::from_code(code).code(), code);
        }
        assert_eq!(AclOperation::from_code(99), AclOperation::Unknown);
        assert_eq!("describe_configs".parse::<AclOperation>().unwrap(), DescribeConfigs);
        assert_eq!("DescribeConfigs".parse::<AclOperation>().unwrap(), DescribeConfigs);
        assert_eq!("transactional-id".parse::<ResourceType>().unwrap(), TransactionalId);
        assert_eq!("prefixed".parse::<PatternType>().unwrap(), Prefixed);
        assert!("reed".parse::<AclOperation>().is_err());
        assert_eq!(ResourceType::Topic.code(), 2);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(AclPermission::Allow.code(), 3);
    }

    #[test]
    fn literal_acl_allows_only_its_principal_operation_and_resource() {
        let auth = Authorizer::new("", false);
        let acls = index(&[allow_topic("orders", Literal, "User:alice", Read)]);
        assert!(can(&auth, &acls, "alice", Read, Topic, "orders"));
        assert!(!can(&auth, &acls, "alice", Write, Topic, "orders"));
        assert!(!can(&auth, &acls, "bob", Read, Topic, "orders"));
        assert!(!can(&auth, &acls, "alice", Read, Topic, "orders2"));
        assert!(!can(&auth, &acls, "alice", Read, Group, "orders"));
    }

    #[test]
    fn implied_operations_only_for_allow() {
        let auth = Authorizer::new("", false);
        for op in [Read, Write, Delete, Alter] {
            let acls = index(&[allow_topic("t", Literal, "User:alice", op)]);
            assert!(can(&auth, &acls, "alice", Describe, Topic, "t"), "{op} implies DESCRIBE");
        }
        let acls = index(&[allow_topic("t", Literal, "User:alice", Create)]);
        assert!(!can(&auth, &acls, "alice", Describe, Topic, "t"));
        let acls = index(&[allow_topic("t", Literal, "User:alice", AlterConfigs)]);
        assert!(can(&auth, &acls, "alice", DescribeConfigs, Topic, "t"));
        assert!(!can(&auth, &acls, "alice", Describe, Topic, "t"));
        let acls = index(&[allow_topic("t", Literal, "User:alice", All)]);
        for op in [Read, Write, Create, Delete, Alter, Describe, DescribeConfigs, AlterConfigs] {
            assert!(can(&auth, &acls, "alice", op, Topic, "t"));
        }
        // DENY READ does not deny DESCRIBE (implied by the ALLOW WRITE).
        let acls = index(&[
            allow_topic("t", Literal, "User:alice", Write),
            acl(Topic, "t", Literal, "User:alice", Read, AclPermission::Deny),
        ]);
        assert!(can(&auth, &acls, "alice", Describe, Topic, "t"));
        assert!(!can(&auth, &acls, "alice", Read, Topic, "t"));
    }

    #[test]
    fn deny_wins_over_allow_from_any_pattern() {
        let auth = Authorizer::new("", false);
        let acls = index(&[
            allow_topic("*", Literal, "User:*", All),
            acl(Topic, "secret-", Prefixed, "User:alice", Read, AclPermission::Deny),
        ]);
        assert!(can(&auth, &acls, "alice", Read, Topic, "public"));
        assert!(!can(&auth, &acls, "alice", Read, Topic, "secret-1"));
        assert!(can(&auth, &acls, "alice", Write, Topic, "secret-1"));
        assert!(can(&auth, &acls, "bob", Read, Topic, "secret-1"));
        let acls = index(&[
            allow_topic("t", Literal, "User:alice", Read),
            acl(Topic, "t", Literal, "User:*", All, AclPermission::Deny),
        ]);
        assert!(!can(&auth, &acls, "alice", Read, Topic, "t"));
        assert_eq!(auth.authorize(&acls, &user("alice"), "h", Read, Topic, "t"), Decision::Denied);
    }

    #[test]
    fn prefixed_and_wildcard_names() {
        let auth = Authorizer::new("", false);
        let acls = index(&[
            allow_topic("app-", Prefixed, "User:alice", Read),
            allow_topic("app-x-", Prefixed, "User:bob", Read),
            allow_topic("app", Literal, "User:carol", Read),
            allow_topic("*", Literal, "User:dave", Read),
        ]);
        assert!(can(&auth, &acls, "alice", Read, Topic, "app-1"));
        assert!(can(&auth, &acls, "alice", Read, Topic, "app-"));
        assert!(!can(&auth, &acls, "alice", Read, Topic, "app"));
        assert!(!can(&auth, &acls, "alice", Read, Topic, "ap"));
        assert!(can(&auth, &acls, "bob", Read, Topic, "app-x-y"));
        assert!(!can(&auth, &acls, "bob", Read, Topic, "app-1"));
        assert!(can(&auth, &acls, "carol", Read, Topic, "app"));
        assert!(!can(&auth, &acls, "carol", Read, Topic, "app-1"));
        assert!(can(&auth, &acls, "dave", Read, Topic, "anything"));
        // A prefixed "*" is just a prefix, not a wildcard.
        let acls = index(&[allow_topic("*", Prefixed, "User:erin", Read)]);
        assert!(!can(&auth, &acls, "erin", Read, Topic, "t"));
        assert!(can(&auth, &acls, "erin", Read, Topic, "*t"));
        // Multi-byte names: prefix lengths falling inside a character are skipped.
        let acls = index(&[allow_topic("é", Prefixed, "User:f", Read), allow_topic("a", Prefixed, "User:f", Write)]);
        assert!(can(&auth, &acls, "f", Read, Topic, "éa"));
        assert!(!can(&auth, &acls, "f", Write, Topic, "éa"));
    }

    #[test]
    fn principal_and_host_matching() {
        let auth = Authorizer::new("", false);
        let mut host_acl = allow_topic("t", Literal, "User:alice", Read);
        host_acl.host = "10.0.0.1".to_string();
        let acls = index(&[host_acl, allow_topic("t", Literal, "User:*", Describe)]);
        assert!(auth.authorize(&acls, &user("alice"), "10.0.0.1", Read, Topic, "t").allowed());
        assert!(!auth.authorize(&acls, &user("alice"), "10.0.0.2", Read, Topic, "t").allowed());
        assert!(auth.authorize(&acls, &user("zed"), "10.0.0.2", Describe, Topic, "t").allowed());
        let other_type = KafkaPrincipal { principal_type: "Group".into(), name: "alice".into() }.to_string();
        assert!(!auth.authorize(&acls, &other_type, "10.0.0.1", Read, Topic, "t").allowed());
    }

    #[test]
    fn super_users_and_no_acl_default() {
        let acls = index(&[allow_topic("t", Literal, "User:alice", Read)]);
        let auth = Authorizer::new("User:admin; User:ANONYMOUS", false);
        assert_eq!(auth.authorize(&acls, &user("admin"), "h", Alter, Cluster, CLUSTER_NAME), Decision::SuperUser);
        assert!(auth.authorize(&acls, &KafkaPrincipal::anonymous().to_string(), "h", Read, Topic, "t").allowed());
        assert!(!can(&auth, &acls, "bob", Read, Topic, "other"));
        assert_eq!(auth.authorize(&acls, &user("bob"), "h", Read, Topic, "other"), Decision::NoAcl(false));
        let open = Authorizer::new("", true);
        // No ACL on the resource: allowed; an ACL for someone else: not.
        assert!(can(&open, &acls, "bob", Read, Topic, "other"));
        assert!(!can(&open, &acls, "bob", Read, Topic, "t"));
        assert_eq!(open.authorize(&acls, &user("bob"), "h", Read, Topic, "t"), Decision::NoMatch);
    }

    #[test]
    fn authorize_any_for_idempotent_producers() {
        let auth = Authorizer::new("", false);
        let acls = index(&[allow_topic("t", Literal, "User:alice", Write)]);
        assert!(auth.authorize_any(&acls, &user("alice"), "h", Write, Topic));
        assert!(!auth.authorize_any(&acls, &user("bob"), "h", Write, Topic));
        let acls = index(&[
            allow_topic("t-", Prefixed, "User:alice", Write),
            acl(Topic, "t", Prefixed, "User:alice", Write, AclPermission::Deny),
        ]);
        assert!(!auth.authorize_any(&acls, &user("alice"), "h", Write, Topic));
        let acls = index(&[
            allow_topic("t", Literal, "User:alice", All),
            acl(Topic, "*", Literal, "User:*", Write, AclPermission::Deny),
        ]);
        assert!(!auth.authorize_any(&acls, &user("alice"), "h", Write, Topic));
        assert!(Authorizer::new("", true).authorize_any(&AclIndex::default(), &user("x"), "h", Write, Topic));
    }

    #[test]
    fn index_insert_remove_find() {
        let a = allow_topic("p-", Prefixed, "User:alice", Read);
        let b = allow_topic("t", Literal, "User:alice", Read);
        let mut acls = index(&[a.clone(), b.clone()]);
        assert_eq!(acls.len(), 2);
        assert_eq!(acls.find(&a), Some("id0"));
        assert_eq!(acls.remove("id0"), Some(a.clone()));
        assert_eq!(acls.find(&a), None);
        assert!(!can(&Authorizer::default(), &acls, "alice", Read, Topic, "p-1"));
        assert_eq!(acls.remove("id0"), None);
        acls.remove("id1");
        assert!(acls.is_empty());
        assert_eq!(acls, AclIndex::default());
    }

    #[test]
    fn filters_match_as_kafka_does() {
        let lit = allow_topic("app-1", Literal, "User:alice", Read);
        let pre = allow_topic("app-", Prefixed, "User:alice", Read);
        let wild = allow_topic("*", Literal, "User:bob", Write);
        let grp = acl(Group, "app-1", Literal, "User:alice", Read, AclPermission::Allow);
        let acls = index(&[lit.clone(), pre.clone(), wild.clone(), grp.clone()]);
        let names = |f: &AclFilter| acls.matching(f).into_iter().map(|(_, b)| b.clone()).collect::<Vec<_>>();
        assert_eq!(names(&AclFilter::any()).len(), 4);
        let mut f = AclFilter::any();
        f.resource_type = Topic;
        f.resource_name = Some("app-1".into());
        f.pattern_type = Match;
        let mut got = names(&f);
        got.sort();
        let mut want = vec![lit.clone(), pre.clone(), wild.clone()];
        want.sort();
        assert_eq!(got, want);
        f.pattern_type = PatternType::Any;
        assert_eq!(names(&f), vec![lit.clone()]);
        f.pattern_type = Prefixed;
        assert!(names(&f).is_empty());
        let mut f = AclFilter::any();
        f.principal = Some("User:bob".into());
        assert_eq!(names(&f), vec![wild]);
        let mut f = AclFilter::any();
        f.operation = Read;
        f.resource_type = Group;
        assert_eq!(names(&f), vec![grp]);
        let mut bad = AclFilter::any();
        bad.pattern_type = PatternType::Unknown;
        assert!(bad.validate().is_err());
        assert!(AclFilter::any().validate().is_ok());
    }

    #[test]
    fn validation_of_new_acls() {
        let good = allow_topic("t", Literal, "User:alice", Read);
        assert!(good.validate().is_ok());
        let with = |f: &dyn Fn(&mut AclBinding)| {
            let mut b = good.clone();
            f(&mut b);
            b.validate()
        };
        assert!(with(&|b| b.resource_name.clear()).is_err());
        assert!(with(&|b| b.pattern_type = Match).is_err());
        assert!(with(&|b| b.pattern_type = PatternType::Any).is_err());
        assert!(with(&|b| b.resource_type = ResourceType::Any).is_err());
        assert!(with(&|b| b.operation = AclOperation::Any).is_err());
        assert!(with(&|b| b.permission = AclPermission::Unknown).is_err());
        assert!(with(&|b| b.principal = "alice".into()).is_err());
        assert!(with(&|b| {
            b.resource_type = Cluster;
            b.resource_name = "other".into()
        })
        .is_err());
        assert!(with(&|b| {
            b.resource_type = Cluster;
            b.resource_name = CLUSTER_NAME.into()
        })
        .is_ok());
    }

    /// Cost of one decision with many ACLs (prints, asserts nothing about time):
    /// `cargo test -p brook-security --lib authorize_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn authorize_cost() {
        let mut acls = AclIndex::default();
        for i in 0..5_000 {
            acls.insert(
                format!("l{i}"),
                allow_topic(&format!("topic-{i}"), Literal, &format!("User:u{}", i % 50), Read),
            );
            let prefix = format!("team{}-{}", i % 100, "x".repeat(i % 20));
            acls.insert(format!("p{i}"), allow_topic(&prefix, Prefixed, &format!("User:u{}", i % 50), Write));
        }
        let auth = Authorizer::new("User:admin", false);
        let who = user("u7");
        let rounds = 200_000;
        let started = std::time::Instant::now();
        let mut allowed = 0;
        for i in 0..rounds {
            let name = if i % 2 == 0 { "topic-1007" } else { "team7-xxxxxxx-orders" };
            allowed += auth.authorize(&acls, &who, "10.0.0.1", Read, Topic, name).allowed() as usize;
        }
        let per = started.elapsed().as_nanos() / rounds as u128;
        println!("{} ACLs: {per} ns per authorization ({allowed} allowed)", acls.len());
    }
}
