//! Partition reassignment (KIP-455), as the controller runs it: a
//! reassignment first widens the replica set to target ∪ current (the new
//! replicas start following and catching up), and completes once every
//! added replica is in the ISR: the replica set becomes the target, replicas
//! leaving drop out of the ISR, and leadership moves if the leader is one of
//! them. A removed replica's broker then deletes its copy. Pure functions:
//! records out.

use brook_protocol::error_code;

use crate::controller::{ControllerError, Decision};
use crate::image::{partition_record, MetadataImage, PartitionImage};
use crate::records::MetadataRecord;

/// NO_REASSIGNMENT_IN_PROGRESS
pub const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

fn live(image: &MetadataImage, b: i32) -> bool {
    image.brokers.get(&b).is_some_and(|x| !x.fenced)
}

/// The state after the reassignment finishes: replicas = target, ISR
/// narrowed to it, leader moved into it if needed.
fn finish(image: &MetadataImage, p: &PartitionImage) -> PartitionImage {
    let mut next = p.clone();
    next.replicas.retain(|r| !p.removing_replicas.contains(r));
    next.isr.retain(|r| next.replicas.contains(r));
    if !next.replicas.contains(&next.leader) {
        next.leader = next.replicas.iter().copied().find(|r| next.isr.contains(r) && live(image, *r)).unwrap_or(-1);
        next.leader_epoch += 1;
    }
    if next.isr.is_empty() {
        // Cannot happen when every added replica is in sync; keep the partition electable.
        next.isr = next.replicas.iter().copied().take(1).collect();
    }
    next.adding_replicas.clear();
    next.removing_replicas.clear();
    next.partition_epoch += 1;
    next
}

/// AlterPartitionReassignments for one partition: `target` replicas, or
/// `None` to cancel an ongoing reassignment (back to the original replicas).
pub fn reassign(image: &MetadataImage, topic: &str, partition: i32, target: Option<&[i32]>) -> Decision {
    let t = image.topic(topic).ok_or_else(|| {
        ControllerError::new(error_code::UNKNOWN_TOPIC_OR_PARTITION, format!("Topic '{topic}' does not exist."))
    })?;
    let p = t.partitions.get(&partition).ok_or_else(|| {
        ControllerError::new(error_code::UNKNOWN_TOPIC_OR_PARTITION, format!("{topic}-{partition} does not exist."))
    })?;
    let ongoing = !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty();
    let original: Vec<i32> = p.replicas.iter().copied().filter(|r| !p.adding_replicas.contains(r)).collect();
    let Some(target) = target else {
        if !ongoing {
            return Err(ControllerError::new(
                NO_REASSIGNMENT_IN_PROGRESS,
                format!("No reassignment of {topic}-{partition} is in progress."),
            ));
        }
        // Cancel: the original replicas stay, the added ones leave.
        let mut reverted = p.clone();
        reverted.removing_replicas = p.adding_replicas.clone();
        reverted.adding_replicas.clear();
        return Ok((vec![partition_record(t.id, partition, &finish(image, &reverted))], ()));
    };
    let mut distinct = target.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if target.is_empty() || distinct.len() != target.len() {
        return Err(ControllerError::new(
            error_code::INVALID_REPLICA_ASSIGNMENT,
            "The target replica list must be non-empty and without duplicates.",
        ));
    }
    if let Some(b) = target.iter().find(|b| !image.brokers.contains_key(b)) {
        return Err(ControllerError::new(
            error_code::INVALID_REPLICA_ASSIGNMENT,
            format!("Broker {b} is not registered."),
        ));
    }
    let adding: Vec<i32> = target.iter().copied().filter(|r| !original.contains(r)).collect();
    let removing: Vec<i32> = original.iter().copied().filter(|r| !target.contains(r)).collect();
    if adding.is_empty() && removing.is_empty() && !ongoing && p.replicas == target {
        return Ok((vec![], ()));
    }
    let mut next = p.clone();
    next.replicas = target.iter().copied().chain(removing.iter().copied()).collect();
    next.isr.retain(|r| next.replicas.contains(r));
    next.adding_replicas = adding;
    next.removing_replicas = removing;
    next.partition_epoch += 1;
    if next.adding_replicas.iter().all(|r| next.isr.contains(r)) {
        next = finish(image, &next);
    }
    Ok((vec![partition_record(t.id, partition, &next)], ()))
}

/// Completes every reassignment whose added replicas have all joined the ISR.
pub fn complete_reassignments(image: &MetadataImage) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for t in image.topics.values() {
        for (index, p) in &t.partitions {
            let ongoing = !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty();
            if ongoing && p.adding_replicas.iter().all(|r| p.isr.contains(r)) {
                records.push(partition_record(t.id, *index, &finish(image, p)));
            }
        }
    }
    records
}

/// An ongoing reassignment: (topic, partition, replicas, adding, removing).
pub type Ongoing = (String, i32, Vec<i32>, Vec<i32>, Vec<i32>);

/// Every ongoing reassignment.
pub fn ongoing(image: &MetadataImage) -> Vec<Ongoing> {
    let mut out = Vec::new();
    for t in image.topics.values() {
        for (index, p) in &t.partitions {
            if !p.adding_replicas.is_empty() || !p.removing_replicas.is_empty() {
                out.push((
                    t.name.clone(),
                    *index,
                    p.replicas.clone(),
                    p.adding_replicas.clone(),
                    p.removing_replicas.clone(),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with(p: PartitionImage) -> (MetadataImage, uuid::Uuid) {
        let mut image = MetadataImage::default();
        for id in 1..=4 {
            image.apply(&MetadataRecord::RegisterBroker {
                broker_id: id,
                incarnation: "i".into(),
                host: "h".into(),
                port: 1,
                fenced: false,
                endpoints: Vec::new(),
            });
        }
        let id = uuid::Uuid::new_v4();
        image.apply(&MetadataRecord::Topic { name: "t".into(), topic_id: id.to_string() });
        image.apply(&partition_record(id, 0, &p));
        (image, id)
    }

    fn part(image: &MetadataImage) -> PartitionImage {
        image.topic("t").unwrap().partitions[&0].clone()
    }

    #[test]
    fn move_a_replica_and_its_leadership() {
        let (mut image, _) = image_with(PartitionImage {
            replicas: vec![1, 2],
            isr: vec![1, 2],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        });
        let (r, ()) = reassign(&image, "t", 0, Some(&[3, 2])).unwrap();
        for x in &r {
            image.apply(x);
        }
        let p = part(&image);
        assert_eq!(
            (p.replicas.clone(), p.adding_replicas.clone(), p.removing_replicas.clone()),
            (vec![3, 2, 1], vec![3], vec![1])
        );
        assert!(complete_reassignments(&image).is_empty(), "3 has not caught up");
        // 3 joins the ISR (the leader's AlterPartition): the reassignment completes.
        let mut caught_up = p.clone();
        caught_up.isr = vec![1, 2, 3];
        image.apply(&partition_record(image.topic("t").unwrap().id, 0, &caught_up));
        for x in complete_reassignments(&image) {
            image.apply(&x);
        }
        let p = part(&image);
        assert_eq!((p.replicas, p.isr, p.leader, p.leader_epoch), (vec![3, 2], vec![2, 3], 3, 1));
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    }

    #[test]
    fn cancel_and_errors() {
        let (mut image, _) = image_with(PartitionImage {
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: vec![],
            removing_replicas: vec![],
        });
        assert_eq!(reassign(&image, "t", 0, None).unwrap_err().code, NO_REASSIGNMENT_IN_PROGRESS);
        assert_eq!(reassign(&image, "t", 0, Some(&[9])).unwrap_err().code, error_code::INVALID_REPLICA_ASSIGNMENT);
        assert_eq!(reassign(&image, "t", 0, Some(&[2, 2])).unwrap_err().code, error_code::INVALID_REPLICA_ASSIGNMENT);
        assert_eq!(reassign(&image, "x", 0, Some(&[2])).unwrap_err().code, error_code::UNKNOWN_TOPIC_OR_PARTITION);
        let (r, ()) = reassign(&image, "t", 0, Some(&[2])).unwrap();
        for x in &r {
            image.apply(x);
        }
        let (r, ()) = reassign(&image, "t", 0, None).unwrap();
        for x in &r {
            image.apply(x);
        }
        let p = part(&image);
        assert_eq!((p.replicas, p.leader), (vec![1], 1));
        assert!(p.adding_replicas.is_empty() && p.removing_replicas.is_empty());
    }
}
