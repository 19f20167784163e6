//! The controller's ACL decisions (Kafka's AclControlManager), as pure
//! functions of the image: CreateAcls validates each binding and writes one
//! AccessControlEntry record per new ACL; DeleteAcls validates each filter
//! and writes one RemoveAccessControlEntry per matching ACL. Each binding or
//! filter succeeds or fails on its own, as in Kafka.

use std::collections::BTreeSet;

use brook_protocol::error_code;
use brook_security::acl::{AclBinding, AclFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::image::MetadataImage;
use crate::records::MetadataRecord;

/// Upper bound on ACLs in the cluster, so one client cannot grow every
/// broker's image without limit.
pub const MAX_ACLS: usize = 100_000;

/// The outcome of one ACL creation: 0 or a Kafka error code, and a message.
pub type CreateOutcome = (i16, String);

/// The outcome of one DeleteAcls filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterOutcome {
    pub error_code: i16,
    pub message: String,
    /// The ACLs the filter removed.
    pub deleted: Vec<AclBinding>,
}

/// CreateAcls. An ACL equal to a stored one is a success that writes nothing.
pub fn create_acls(image: &MetadataImage, acls: &[AclBinding]) -> (Vec<MetadataRecord>, Vec<CreateOutcome>) {
    let mut records = Vec::new();
    let mut outcomes = Vec::with_capacity(acls.len());
    let mut added: BTreeSet<&AclBinding> = BTreeSet::new();
    for acl in acls {
        if let Err(e) = acl.validate() {
            outcomes.push((error_code::INVALID_REQUEST, e.0));
            continue;
        }
        if image.acls.find(acl).is_some() || added.contains(acl) {
            outcomes.push((error_code::NONE, String::new()));
            continue;
        }
        if image.acls.len() + added.len() >= MAX_ACLS {
            outcomes.push((error_code::INVALID_REQUEST, format!("The cluster already holds {MAX_ACLS} ACLs")));
            continue;
        }
        added.insert(acl);
        records.push(MetadataRecord::AccessControlEntry { id: Uuid::new_v4().to_string(), acl: acl.clone() });
        outcomes.push((error_code::NONE, String::new()));
    }
    (records, outcomes)
}

/// DeleteAcls. An ACL matching several filters is removed once and listed
/// under each of them.
pub fn delete_acls(image: &MetadataImage, filters: &[AclFilter]) -> (Vec<MetadataRecord>, Vec<FilterOutcome>) {
    let mut removed: BTreeSet<String> = BTreeSet::new();
    let mut outcomes = Vec::with_capacity(filters.len());
    for filter in filters {
        if let Err(e) = filter.validate() {
            outcomes.push(FilterOutcome { error_code: error_code::INVALID_REQUEST, message: e.0, deleted: vec![] });
            continue;
        }
        let matching = image.acls.matching(filter);
        let deleted = matching.iter().map(|(_, b)| (*b).clone()).collect();
        removed.extend(matching.into_iter().map(|(id, _)| id.to_string()));
        outcomes.push(FilterOutcome { error_code: error_code::NONE, message: String::new(), deleted });
    }
    let records = removed.into_iter().map(|id| MetadataRecord::RemoveAccessControlEntry { id }).collect();
    (records, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use brook_security::acl::{AclOperation, AclPermission, PatternType, ResourceType};

    fn acl(name: &str, pt: PatternType) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pt,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    fn applied(image: &MetadataImage, records: &[MetadataRecord]) -> MetadataImage {
        let mut next = image.clone();
        for r in records {
            next.apply(r);
        }
        next
    }

    #[test]
    fn create_validates_each_acl_and_skips_duplicates() {
        let image = MetadataImage::default();
        let good = acl("t", PatternType::Literal);
        let (records, outcomes) = create_acls(
            &image,
            &[good.clone(), acl("", PatternType::Literal), acl("t", PatternType::Match), good.clone()],
        );
        assert_eq!(records.len(), 1);
        let codes: Vec<i16> = outcomes.iter().map(|o| o.0).collect();
        assert_eq!(codes, vec![0, error_code::INVALID_REQUEST, error_code::INVALID_REQUEST, 0]);
        let image = applied(&image, &records);
        assert!(image.acls.find(&good).is_some());
        let (records, outcomes) = create_acls(&image, &[good]);
        assert!(records.is_empty());
        assert_eq!(outcomes[0].0, 0);
    }

    #[test]
    fn delete_removes_matching_acls_once() {
        let image = MetadataImage::default();
        let (records, _) = create_acls(&image, &[acl("a", PatternType::Literal), acl("a-", PatternType::Prefixed)]);
        let image = applied(&image, &records);
        let mut by_name = AclFilter::any();
        by_name.resource_name = Some("a-1".into());
        by_name.pattern_type = PatternType::Match;
        let mut bad = AclFilter::any();
        bad.operation = AclOperation::Unknown;
        let (records, outcomes) = delete_acls(&image, &[by_name, AclFilter::any(), bad]);
        assert_eq!(records.len(), 2);
        assert_eq!(outcomes[0].deleted, vec![acl("a-", PatternType::Prefixed)]);
        assert_eq!(outcomes[1].deleted.len(), 2);
        assert_eq!(outcomes[2].error_code, error_code::INVALID_REQUEST);
        assert!(applied(&image, &records).acls.is_empty());
    }
}
