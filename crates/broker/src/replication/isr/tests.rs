//! Unit tests of the ISR rules: every rule on its own, then leader changes
//! and stale epochs mid-flight, then random event sequences checked against
//! the invariants (the watermark never moves back and never passes an ISR
//! member's log end).

use super::*;

const LAG_MS: i64 = 30_000;

fn image(leader: i32, leader_epoch: i32, partition_epoch: i32, replicas: &[i32], isr: &[i32]) -> PartitionImage {
    PartitionImage {
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        leader,
        leader_epoch,
        partition_epoch,
        adding_replicas: Vec::new(),
        removing_replicas: Vec::new(),
    }
}

/// Node 1 leads [1,2,3], all in sync, min ISR 2, log end 100, HW 100 known.
fn leader_of_three() -> IsrState {
    IsrState::new(1, &image(1, 5, 10, &[1, 2, 3], &[1, 2, 3]), 2, 100, 100, 0)
}

#[test]
fn watermark_waits_for_every_isr_member() {
    let mut s = IsrState::new(1, &image(1, 5, 10, &[1, 2, 3], &[1, 2, 3]), 2, 0, 0, 0);
    assert_eq!(s.on_leader_append(10), None, "followers not heard from hold it");
    assert_eq!(s.on_follower_fetch(2, 10, 10, 1).unwrap().high_watermark, None);
    assert_eq!(s.on_follower_fetch(3, 4, 10, 1).unwrap().high_watermark, Some(4));
    assert_eq!(s.on_follower_fetch(3, 10, 10, 2).unwrap().high_watermark, Some(10));
    assert_eq!(s.high_watermark(), 10);
}

#[test]
fn single_replica_isr_advances_on_append() {
    let mut s = IsrState::new(1, &image(1, 0, 0, &[1], &[1]), 1, 0, 0, 0);
    assert_eq!(s.on_leader_append(7), Some(7));
    assert_eq!(s.ack_status(7), Some(Ok(())));
}

#[test]
fn watermark_never_moves_back() {
    let mut s = leader_of_three();
    s.on_follower_fetch(2, 100, 100, 1).unwrap();
    s.on_follower_fetch(3, 100, 100, 1).unwrap();
    // A follower that truncated reports a smaller end: the HW stays.
    let d = s.on_follower_fetch(3, 90, 100, 2).unwrap();
    assert_eq!(d.high_watermark, None);
    assert_eq!(s.high_watermark(), 100);
}

#[test]
fn known_watermark_is_capped_by_the_log_end() {
    let s = IsrState::new(1, &image(1, 5, 10, &[1, 2], &[1, 2]), 1, 500, 80, 0);
    assert_eq!(s.high_watermark(), 80);
}

#[test]
fn fetch_from_a_non_replica_or_past_the_end_is_refused() {
    let mut s = leader_of_three();
    assert_eq!(s.on_follower_fetch(4, 0, 100, 1), Err(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    assert_eq!(s.on_follower_fetch(1, 0, 100, 1), Err(ErrorCode::NOT_LEADER_OR_FOLLOWER));
    assert_eq!(s.on_follower_fetch(2, 101, 100, 1), Err(ErrorCode::OFFSET_OUT_OF_RANGE));
}

#[test]
fn lagging_member_is_shrunk_after_the_lag_time() {
    let mut s = leader_of_three();
    s.on_follower_fetch(2, 100, 100, 1_000).unwrap();
    s.on_follower_fetch(3, 100, 100, 1_000).unwrap();
    // Follower 3 stops fetching; 2 keeps up.
    s.on_follower_fetch(2, 100, 100, 20_000).unwrap();
    assert_eq!(s.shrink(20_000, LAG_MS), None, "within the lag time");
    s.on_follower_fetch(2, 100, 100, 31_500).unwrap();
    assert_eq!(s.shrink(31_500, LAG_MS), Some(vec![1, 2]));
    assert_eq!(s.pending(), Some(&[1, 2][..]));
    assert_eq!(s.shrink(40_000, LAG_MS), None, "one change in flight at a time");
}

#[test]
fn never_heard_from_member_is_shrunk_a_lag_time_after_takeover() {
    let mut s = IsrState::new(1, &image(1, 5, 10, &[1, 2, 3], &[1, 2, 3]), 2, 0, 0, 5_000);
    s.on_follower_fetch(2, 0, 0, 6_000).unwrap();
    assert_eq!(s.shrink(5_000 + LAG_MS, LAG_MS), None);
    s.on_follower_fetch(2, 0, 0, 5_000 + LAG_MS + 1).unwrap();
    assert_eq!(s.shrink(5_000 + LAG_MS + 1, LAG_MS), Some(vec![1, 2]));
}

#[test]
fn follower_behind_under_steady_load_counts_as_caught_up_to_its_previous_fetch() {
    // The leader's end moves by 10 between fetches; the follower always
    // fetches from where the leader was at its previous fetch.
    let mut s = IsrState::new(1, &image(1, 5, 10, &[1, 2], &[1, 2]), 1, 0, 0, 0);
    let mut leader_end = 0;
    for round in 1..=100 {
        let now = round * 1_000;
        let fetch_offset = leader_end;
        leader_end += 10;
        s.on_follower_fetch(2, fetch_offset, leader_end, now).unwrap();
        assert_eq!(s.shrink(now, LAG_MS), None, "round {round}: a follower keeping pace stays in the ISR");
    }
    assert_eq!(s.follower(2).unwrap().last_caught_up_ms, 99_000);
}

#[test]
fn follower_falling_further_behind_is_shrunk() {
    let mut s = IsrState::new(1, &image(1, 5, 10, &[1, 2], &[1, 2]), 1, 0, 0, 0);
    // Fetches keep coming, but each from far behind the previous leader end.
    for round in 1..=40i64 {
        let now = round * 1_000;
        s.on_follower_fetch(2, round, 1_000 * round, now).unwrap();
    }
    assert_eq!(s.shrink(40_000, LAG_MS), Some(vec![1]));
}

#[test]
fn replica_rejoins_once_it_reaches_the_watermark_and_epoch_start() {
    let mut s = IsrState::new(1, &image(1, 5, 10, &[1, 2, 3], &[1, 2]), 1, 100, 100, 0);
    s.on_follower_fetch(2, 100, 100, 1).unwrap();
    let d = s.on_follower_fetch(3, 50, 100, 1).unwrap();
    assert_eq!(d.propose, None, "below the watermark");
    let d = s.on_follower_fetch(3, 100, 100, 2).unwrap();
    assert_eq!(d.propose, Some(vec![1, 2, 3]));
    // While the expansion is pending the new member holds the watermark.
    s.on_follower_fetch(2, 120, 120, 3).unwrap();
    assert_eq!(s.on_leader_append(130), None);
    assert_eq!(s.high_watermark(), 100);
    assert_eq!(s.on_follower_fetch(3, 130, 130, 4).unwrap().high_watermark, Some(120));
}

#[test]
fn rejoin_needs_this_epochs_start_not_just_the_watermark() {
    // A new leader whose HW (50) lags its log end (100, the epoch start).
    let mut s = IsrState::new(1, &image(1, 6, 11, &[1, 2, 3], &[1, 2]), 1, 50, 100, 0);
    let d = s.on_follower_fetch(3, 60, 100, 1).unwrap();
    assert_eq!(d.propose, None);
    assert_eq!(s.on_follower_fetch(3, 100, 100, 2).unwrap().propose, Some(vec![1, 2, 3]));
}

#[test]
fn failed_change_may_be_proposed_again() {
    let mut s = IsrState::new(1, &image(1, 5, 10, &[1, 2], &[1]), 1, 10, 10, 0);
    assert!(s.on_follower_fetch(2, 10, 10, 1).unwrap().propose.is_some());
    assert!(s.on_follower_fetch(2, 10, 10, 2).unwrap().propose.is_none());
    s.isr_change_failed();
    assert_eq!(s.on_follower_fetch(2, 10, 10, 3).unwrap().propose, Some(vec![1, 2]));
}

#[test]
fn min_isr_before_and_after_append() {
    let mut s = IsrState::new(1, &image(1, 5, 10, &[1, 2, 3], &[1]), 2, 0, 0, 0);
    assert_eq!(s.check_produce(-1), Err(ErrorCode::NOT_ENOUGH_REPLICAS));
    assert_eq!(s.check_produce(1), Ok(()));
    assert_eq!(s.check_produce(0), Ok(()));
    // ISR was 2 at append time, then shrank to 1 before the watermark passed.
    let mut s2 = IsrState::new(1, &image(1, 5, 10, &[1, 2, 3], &[1, 2]), 2, 0, 0, 0);
    assert_eq!(s2.check_produce(-1), Ok(()));
    s2.on_leader_append(10);
    assert_eq!(s2.ack_status(10), None);
    assert_eq!(
        s2.apply_image(&image(1, 5, 11, &[1, 2, 3], &[1]), 2, 10, 5),
        ImageOutcome::Updated { high_watermark: Some(10) }
    );
    assert_eq!(s2.ack_status(10), Some(Err(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND)));
    // A topic whose min ISR is lowered by a config change.
    s.set_min_isr(1);
    assert_eq!(s.check_produce(-1), Ok(()));
}

#[test]
fn shrunk_isr_from_metadata_lets_the_watermark_advance() {
    let mut s = leader_of_three();
    s.on_follower_fetch(2, 150, 150, 1).unwrap();
    s.on_leader_append(150);
    assert_eq!(s.high_watermark(), 100, "member 3 holds it");
    let out = s.apply_image(&image(1, 5, 11, &[1, 2, 3], &[1, 2]), 2, 150, 2);
    assert_eq!(out, ImageOutcome::Updated { high_watermark: Some(150) });
    assert_eq!(s.isr(), &[1, 2]);
}

#[test]
fn stale_partition_epoch_is_ignored() {
    let mut s = leader_of_three();
    assert_eq!(s.shrink(LAG_MS + 1, LAG_MS), Some(vec![1]));
    // An image older than the one this leader started from changes nothing
    // and does not clear the pending change.
    assert_eq!(s.apply_image(&image(1, 5, 9, &[1, 2], &[1]), 2, 100, 1), ImageOutcome::Unchanged);
    assert_eq!(s.apply_image(&image(1, 5, 10, &[1, 2, 3], &[1, 2, 3]), 2, 100, 1), ImageOutcome::Unchanged);
    assert_eq!(s.isr(), &[1, 2, 3]);
    assert_eq!(s.pending(), Some(&[1][..]));
    // The newer epoch settles it.
    assert_eq!(
        s.apply_image(&image(1, 5, 12, &[1, 2, 3], &[1]), 2, 100, 1),
        ImageOutcome::Updated { high_watermark: None }
    );
    assert_eq!(s.pending(), None);
}

#[test]
fn leader_change_mid_flight_ends_the_leadership() {
    let mut s = leader_of_three();
    s.on_leader_append(120);
    s.on_follower_fetch(2, 120, 120, LAG_MS + 2).unwrap();
    assert_eq!(s.ack_status(120), None, "an acks=all produce is waiting");
    assert_eq!(s.shrink(LAG_MS + 2, LAG_MS), Some(vec![1, 2]), "a shrink is in flight");
    // The controller moved leadership to 2 (new leader epoch).
    assert_eq!(s.apply_image(&image(2, 6, 11, &[1, 2, 3], &[1, 2]), 2, 120, 3), ImageOutcome::NotLeader);
    // Same leader but a newer leader epoch (it lost and regained it): over too.
    let mut s = leader_of_three();
    assert_eq!(s.apply_image(&image(1, 7, 12, &[1, 2, 3], &[1, 2, 3]), 2, 100, 1), ImageOutcome::NotLeader);
}

#[test]
fn reassignment_adds_and_removes_followers() {
    let mut s = IsrState::new(1, &image(1, 5, 10, &[1, 2], &[1, 2]), 1, 10, 10, 0);
    s.on_follower_fetch(2, 10, 10, 1).unwrap();
    s.apply_image(&image(1, 5, 11, &[1, 2, 4], &[1, 2]), 1, 10, 1_000);
    assert_eq!(s.follower(4).unwrap().last_caught_up_ms, 1_000);
    assert!(s.on_follower_fetch(4, 10, 10, 1_001).unwrap().propose.is_some());
    s.apply_image(&image(1, 5, 12, &[1, 4], &[1, 4]), 1, 10, 1_002);
    assert!(s.follower(2).is_none());
    assert_eq!(s.on_follower_fetch(2, 10, 10, 1_003), Err(ErrorCode::NOT_LEADER_OR_FOLLOWER));
}

/// A small deterministic generator (no dependency for one test).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % bound
    }
}

#[test]
fn random_events_keep_the_invariants() {
    for seed in 0..200u64 {
        let mut rng = Lcg(seed);
        let mut s = IsrState::new(1, &image(1, 5, 10, &[1, 2, 3], &[1, 2, 3]), 2, 0, 0, 0);
        let mut leader_end = 0i64;
        let mut ends = BTreeMap::from([(2, 0i64), (3, 0i64)]);
        let mut partition_epoch = 10;
        let mut now = 0;
        let mut last_hw = 0;
        for _ in 0..300 {
            now += rng.next(5_000) as i64;
            match rng.next(5) {
                0 => {
                    leader_end += rng.next(20) as i64;
                    s.on_leader_append(leader_end);
                }
                1 | 2 => {
                    let f = 2 + rng.next(2) as i32;
                    let end = ends.get_mut(&f).unwrap();
                    *end = (*end + rng.next(30) as i64).min(leader_end);
                    let decision = s.on_follower_fetch(f, *end, leader_end, now).unwrap();
                    if let Some(isr) = decision.propose {
                        if rng.next(3) > 0 {
                            partition_epoch += 1;
                            s.apply_image(&image(1, 5, partition_epoch, &[1, 2, 3], &isr), 2, leader_end, now);
                        } else {
                            s.isr_change_failed();
                        }
                    }
                }
                3 => {
                    if let Some(isr) = s.shrink(now, LAG_MS) {
                        partition_epoch += 1;
                        s.apply_image(&image(1, 5, partition_epoch, &[1, 2, 3], &isr), 2, leader_end, now);
                    }
                }
                _ => {
                    // A stale image is always ignored.
                    let stale = image(1, 5, partition_epoch - 1, &[1, 2, 3], &[1]);
                    assert_eq!(s.apply_image(&stale, 2, leader_end, now), ImageOutcome::Unchanged);
                }
            }
            let hw = s.high_watermark();
            assert!(hw >= last_hw, "seed {seed}: watermark moved back");
            assert!(hw <= leader_end, "seed {seed}: watermark past the leader's end");
            for m in s.isr().iter().filter(|m| **m != 1) {
                assert!(hw <= ends[m], "seed {seed}: watermark {hw} past ISR member {m} at {}", ends[m]);
            }
            assert!(s.isr().contains(&1), "seed {seed}: the leader left its own ISR");
            last_hw = hw;
        }
    }
}

#[test]
fn new_leader_watermark_lags_its_epoch_start_until_followers_fetch_it() {
    // Node 1 takes over with 100 records but knew only HW 60 as a follower.
    let mut s = IsrState::new(1, &image(1, 6, 11, &[1, 2, 3], &[1, 2, 3]), 2, 60, 100, 0);
    assert_eq!(s.high_watermark(), 60);
    assert!(s.watermark_lags_epoch_start());
    s.on_follower_fetch(2, 100, 100, 1).unwrap();
    assert!(s.watermark_lags_epoch_start(), "node 3 not heard from yet");
    assert_eq!(s.on_follower_fetch(3, 100, 100, 1).unwrap().high_watermark, Some(100));
    assert!(!s.watermark_lags_epoch_start());
    // Appends in the new epoch never make it lag again.
    s.on_leader_append(150);
    assert!(!s.watermark_lags_epoch_start());
}

#[test]
fn leader_that_knew_the_whole_watermark_never_lags() {
    assert!(!leader_of_three().watermark_lags_epoch_start());
}
