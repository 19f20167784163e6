use super::*;

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

fn set(items: &[(&str, i32)]) -> BTreeSet<TopicPartition> {
    items.iter().map(|(t, p)| tp(t, *p)).collect()
}

/// Prepares with `f`, then completes what it prepared (a successful write).
fn written(txn: &mut TxnMetadata, t: Transition) -> Transition {
    txn.complete(t.clone());
    t
}

fn init(txn: &mut TxnMetadata, expected: Option<(i64, i16)>) -> Transition {
    match txn.init_producer_id(60_000, expected, None, 10).unwrap() {
        InitOutcome::Write(t) => written(txn, t),
        other => panic!("unexpected {other:?}"),
    }
}

/// A fresh id after its first InitProducerId: producer 7, epoch 0.
fn ready() -> TxnMetadata {
    let mut txn = TxnMetadata::new("tx", 7, 60_000, 0);
    let t = init(&mut txn, None);
    assert_eq!((t.producer_id, t.producer_epoch, t.state), (7, 0, TxnState::Empty));
    txn
}

fn ongoing(version: TxnVersion) -> TxnMetadata {
    let mut txn = ready();
    let t = txn.add_partitions(7, 0, &set(&[("a", 0)]), version, 100).unwrap().unwrap();
    written(&mut txn, t);
    txn
}

fn end_write(txn: &mut TxnMetadata, epoch: i16, commit: bool, version: TxnVersion) -> Transition {
    match txn.end(txn.producer_id(), epoch, commit, version, None, 200).unwrap() {
        EndOutcome::Write(t) => written(txn, t),
        other => panic!("unexpected {other:?}"),
    }
}

fn complete(txn: &mut TxnMetadata) -> Transition {
    let t = txn.prepare_complete(300).unwrap();
    written(txn, t)
}

#[test]
fn state_ids_and_names_round_trip() {
    for (id, state) in ALL_STATES.iter().enumerate() {
        assert_eq!(state.id(), id as i8);
        assert_eq!(TxnState::from_id(id as i8), Some(*state));
        assert_eq!(TxnState::from_name(state.name()), Some(*state));
    }
    assert_eq!(TxnState::from_id(8), None);
    assert_eq!(TxnState::from_id(-1), None);
    assert_eq!(TxnState::PrepareEpochFence.id(), 7);
    assert_eq!(TxnState::from_name("Bogus"), None);
}

#[test]
fn init_bumps_the_epoch_and_forgets_the_last_one_for_a_new_producer() {
    let mut txn = ready();
    let t = init(&mut txn, None);
    assert_eq!((t.producer_id, t.producer_epoch, t.last_producer_epoch), (7, 1, NO_PRODUCER_EPOCH));
}

#[test]
fn init_with_the_current_epoch_bumps_and_a_retry_returns_the_same_epoch() {
    let mut txn = ready();
    let t = init(&mut txn, Some((7, 0)));
    assert_eq!((t.producer_epoch, t.last_producer_epoch), (1, 0));
    // The answer was lost; the producer retries with its old epoch.
    let t = init(&mut txn, Some((7, 0)));
    assert_eq!((t.producer_epoch, t.last_producer_epoch), (1, 0));
}

#[test]
fn init_with_a_stale_epoch_or_another_id_is_fenced() {
    let mut txn = ready();
    init(&mut txn, None); // epoch 1, last -1
    init(&mut txn, None); // epoch 2
    assert_eq!(txn.init_producer_id(60_000, Some((7, 0)), None, 10), Err(ErrorCode::PRODUCER_FENCED));
    assert_eq!(txn.init_producer_id(60_000, Some((99, 2)), None, 10), Err(ErrorCode::PRODUCER_FENCED));
    assert_eq!(txn.pending, None);
}

#[test]
fn init_with_an_exhausted_epoch_rotates_the_producer_id() {
    let mut txn = ready();
    txn.current.producer_epoch = i16::MAX - 1;
    assert_eq!(txn.init_producer_id(60_000, None, None, 10), Ok(InitOutcome::NeedProducerId));
    assert_eq!(txn.pending, None);
    let InitOutcome::Write(t) = txn.init_producer_id(60_000, Some((7, i16::MAX - 1)), Some(8), 10).unwrap() else {
        panic!()
    };
    assert_eq!((t.producer_id, t.previous_producer_id, t.producer_epoch), (8, 7, 0));
    assert_eq!(t.last_producer_epoch, i16::MAX - 1);
    txn.complete(t);
    // A retry with the old id and its exhausted epoch is not fenced: it gets the new id.
    let InitOutcome::Write(t) = txn.init_producer_id(60_000, Some((7, i16::MAX - 1)), None, 10).unwrap() else {
        panic!()
    };
    assert_eq!((t.producer_id, t.producer_epoch), (8, 0));
}

#[test]
fn init_during_an_ongoing_transaction_fences_and_aborts_it_first() {
    let mut txn = ongoing(TxnVersion::V0);
    let InitOutcome::FenceOngoing(t) = txn.init_producer_id(60_000, None, None, 150).unwrap() else { panic!() };
    assert_eq!((t.state, t.producer_epoch, t.last_producer_epoch), (TxnState::PrepareAbort, 1, NO_PRODUCER_EPOCH));
    assert_eq!(t.partitions, set(&[("a", 0)]));
    // While the abort is written, everything else waits.
    assert_eq!(txn.init_producer_id(60_000, None, None, 150), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    txn.complete(t);
    assert_eq!(txn.init_producer_id(60_000, None, None, 150), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    // The old producer is fenced from the transaction.
    assert_eq!(txn.end(7, 0, true, TxnVersion::V0, None, 160), Err(ErrorCode::PRODUCER_FENCED));
    let done = complete(&mut txn);
    assert_eq!((done.state, done.producer_epoch), (TxnState::CompleteAbort, 1));
    assert!(done.partitions.is_empty());
    // The retried InitProducerId now gets the next epoch.
    let t = init(&mut txn, None);
    assert_eq!(t.producer_epoch, 2);
}

#[test]
fn a_failed_fence_write_does_not_bump_twice() {
    let mut txn = ongoing(TxnVersion::V0);
    let t = txn.prepare_fence_abort(150).unwrap();
    assert_eq!(t.producer_epoch, 1);
    txn.abort_pending();
    assert_eq!(txn.producer_epoch(), 0);
    let t = txn.prepare_fence_abort(160).unwrap();
    assert_eq!(t.producer_epoch, 0, "the epoch bumped by the failed fence was never handed out");
    txn.complete(t);
}

#[test]
fn add_partitions_checks_id_epoch_and_state() {
    let mut txn = ready();
    let parts = set(&[("a", 0), ("b", 1)]);
    assert_eq!(txn.add_partitions(8, 0, &parts, TxnVersion::V0, 1), Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING));
    assert_eq!(txn.add_partitions(7, 1, &parts, TxnVersion::V0, 1), Err(ErrorCode::PRODUCER_FENCED));
    let t = txn.add_partitions(7, 0, &parts, TxnVersion::V0, 100).unwrap().unwrap();
    assert_eq!((t.state, t.start_ms, t.update_ms), (TxnState::Ongoing, 100, 100));
    assert_eq!(txn.add_partitions(7, 0, &parts, TxnVersion::V0, 1), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    txn.complete(t);
    assert_eq!(txn.add_partitions(7, 0, &set(&[("a", 0)]), TxnVersion::V0, 110), Ok(None));
    let t = txn.add_partitions(7, 0, &set(&[("c", 0)]), TxnVersion::V0, 120).unwrap().unwrap();
    assert_eq!(t.start_ms, 100, "the transaction started with its first partition");
    assert_eq!(t.partitions, set(&[("a", 0), ("b", 1), ("c", 0)]));
    txn.complete(t);
    end_write(&mut txn, 0, true, TxnVersion::V0);
    assert_eq!(txn.add_partitions(7, 0, &parts, TxnVersion::V0, 1), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    complete(&mut txn);
    let t = txn.add_partitions(7, 0, &parts, TxnVersion::V0, 400).unwrap().unwrap();
    assert_eq!((t.start_ms, t.partitions.len()), (400, 2), "a new transaction");
}

#[test]
fn a_failed_write_leaves_the_state_as_it_was() {
    let mut txn = ready();
    let before = txn.clone();
    txn.add_partitions(7, 0, &set(&[("a", 0)]), TxnVersion::V0, 100).unwrap().unwrap();
    txn.abort_pending();
    assert_eq!(txn, before);
}

#[test]
fn verify_only_answers_per_partition() {
    let mut txn = ongoing(TxnVersion::V0);
    let asked = [tp("a", 0), tp("a", 1)];
    assert_eq!(txn.verify_partitions(7, 0, &asked), Ok(vec![ErrorCode::NONE, ErrorCode::TRANSACTION_ABORTABLE]));
    assert_eq!(txn.verify_partitions(7, 1, &asked), Err(ErrorCode::PRODUCER_FENCED));
    assert_eq!(txn.verify_partitions(6, 0, &asked), Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING));
    end_write(&mut txn, 0, false, TxnVersion::V0);
    assert_eq!(txn.verify_partitions(7, 0, &asked), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
}

#[test]
fn end_commit_v0_keeps_the_epoch_and_a_retry_succeeds() {
    let mut txn = ongoing(TxnVersion::V0);
    let t = end_write(&mut txn, 0, true, TxnVersion::V0);
    assert_eq!((t.state, t.producer_epoch), (TxnState::PrepareCommit, 0));
    assert_eq!(t.partitions, set(&[("a", 0)]));
    assert_eq!(txn.end(7, 0, true, TxnVersion::V0, None, 1), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    assert_eq!(txn.end(7, 0, false, TxnVersion::V0, None, 1), Err(ErrorCode::INVALID_TXN_STATE));
    let done = complete(&mut txn);
    assert_eq!((done.state, done.producer_id, done.producer_epoch), (TxnState::CompleteCommit, 7, 0));
    assert_eq!(
        txn.end(7, 0, true, TxnVersion::V0, None, 1),
        Ok(EndOutcome::AlreadyDone { producer_id: 7, producer_epoch: 0 })
    );
    assert_eq!(txn.end(7, 0, false, TxnVersion::V0, None, 1), Err(ErrorCode::INVALID_TXN_STATE));
}

#[test]
fn end_errors() {
    let mut txn = ready();
    assert_eq!(txn.end(7, 0, true, TxnVersion::V0, None, 1), Err(ErrorCode::INVALID_TXN_STATE), "nothing to end");
    assert_eq!(txn.end(7, 0, false, TxnVersion::V0, None, 1), Err(ErrorCode::INVALID_TXN_STATE));
    let mut txn = ongoing(TxnVersion::V0);
    assert_eq!(txn.end(8, 0, true, TxnVersion::V0, None, 1), Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING));
    assert_eq!(txn.end(7, 1, true, TxnVersion::V0, None, 1), Err(ErrorCode::PRODUCER_FENCED));
    assert_eq!(txn.end(7, -1, true, TxnVersion::V0, None, 1), Err(ErrorCode::PRODUCER_FENCED));
}

#[test]
fn end_v2_bumps_the_epoch_for_markers_and_the_client() {
    let mut txn = ongoing(TxnVersion::V2);
    let t = end_write(&mut txn, 0, true, TxnVersion::V2);
    assert_eq!((t.state, t.producer_epoch, t.last_producer_epoch), (TxnState::PrepareCommit, 1, 0));
    // A retry while the markers are written.
    assert_eq!(txn.end(7, 0, true, TxnVersion::V2, None, 1), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    // The new epoch cannot end anything yet: its transaction has not begun.
    assert_eq!(txn.end(7, 1, true, TxnVersion::V2, None, 1), Err(ErrorCode::PRODUCER_FENCED));
    let done = complete(&mut txn);
    assert_eq!((done.state, done.producer_id, done.producer_epoch), (TxnState::CompleteCommit, 7, 1));
    // A retry of the finished commit gets the bumped epoch.
    assert_eq!(
        txn.end(7, 0, true, TxnVersion::V2, None, 1),
        Ok(EndOutcome::AlreadyDone { producer_id: 7, producer_epoch: 1 })
    );
    // The next transaction uses epoch 1.
    let t = txn.add_partitions(7, 1, &set(&[("b", 0)]), TxnVersion::V2, 500).unwrap().unwrap();
    txn.complete(t);
    let t = end_write(&mut txn, 1, false, TxnVersion::V2);
    assert_eq!((t.state, t.producer_epoch), (TxnState::PrepareAbort, 2));
}

#[test]
fn end_v2_abort_without_a_transaction_bumps_the_epoch() {
    let mut txn = ready();
    assert_eq!(txn.end(7, 0, true, TxnVersion::V2, None, 1), Err(ErrorCode::INVALID_TXN_STATE));
    let t = end_write(&mut txn, 0, false, TxnVersion::V2);
    assert_eq!((t.state, t.producer_epoch), (TxnState::PrepareAbort, 1));
    assert!(t.partitions.is_empty());
    complete(&mut txn);
}

#[test]
fn end_v2_with_an_exhausted_epoch_moves_to_a_new_producer_id() {
    let mut txn = ongoing(TxnVersion::V2);
    txn.current.producer_epoch = i16::MAX - 1;
    assert_eq!(txn.end(7, i16::MAX - 1, true, TxnVersion::V2, None, 1), Ok(EndOutcome::NeedProducerId));
    assert_eq!(txn.pending, None);
    let EndOutcome::Write(t) = txn.end(7, i16::MAX - 1, true, TxnVersion::V2, Some(9), 1).unwrap() else { panic!() };
    assert_eq!((t.producer_id, t.producer_epoch, t.next_producer_id), (7, i16::MAX, 9), "markers use the old id");
    txn.complete(t);
    let done = complete(&mut txn);
    assert_eq!((done.producer_id, done.producer_epoch, done.previous_producer_id), (9, 0, 7));
    assert_eq!(
        txn.end(7, i16::MAX - 1, true, TxnVersion::V2, None, 1),
        Ok(EndOutcome::AlreadyDone { producer_id: 9, producer_epoch: 0 })
    );
}

#[test]
fn a_fenced_v2_producer_does_not_inherit_the_fence_epoch() {
    let mut txn = ongoing(TxnVersion::V2);
    let t = txn.prepare_fence_abort(150).unwrap();
    txn.complete(t);
    complete(&mut txn);
    assert_eq!(txn.producer_epoch(), 1);
    assert_eq!(txn.end(7, 0, false, TxnVersion::V2, None, 1), Err(ErrorCode::PRODUCER_FENCED));
}

#[test]
fn timeouts_and_expiry() {
    let mut txn = ongoing(TxnVersion::V0);
    assert!(!txn.timed_out(100 + 60_000));
    assert!(txn.timed_out(100 + 60_001));
    assert!(!txn.expired(i64::MAX / 2, 1), "an open transaction never expires");
    txn.prepare_fence_abort(1).unwrap();
    assert!(!txn.timed_out(i64::MAX / 2), "already being aborted");
    let mut txn = ready();
    assert!(txn.expired(10 + 1000, 1000));
    assert!(!txn.expired(10 + 999, 1000));
    txn.prepare_dead().unwrap();
    assert_eq!(txn.prepare_dead(), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
    assert_eq!(txn.init_producer_id(1, None, None, 1), Err(ErrorCode::CONCURRENT_TRANSACTIONS));
}

#[test]
fn prepare_complete_needs_a_prepared_transaction() {
    let mut txn = ongoing(TxnVersion::V0);
    assert_eq!(txn.prepare_complete(1), Err(ErrorCode::INVALID_TXN_STATE));
    let mut txn = ready();
    assert_eq!(txn.prepare_complete(1), Err(ErrorCode::INVALID_TXN_STATE));
}

/// A seeded random walk over every request, with failed writes, checking
/// invariants after each step (a failing seed replays the walk).
#[test]
fn random_walks_keep_the_invariants() {
    let (mut commits, mut aborts, mut rotations) = (0, 0, 0);
    for seed in 1..=40u64 {
        let seen = walk(seed, 2_000);
        commits += seen.0;
        aborts += seen.1;
        rotations += seen.2;
    }
    // The walks reach what they are meant to check.
    assert!(commits > 100 && aborts > 100 && rotations > 10, "{commits} {aborts} {rotations}");
}

/// Returns how many commits and aborts completed and producer ids rotated.
fn walk(seed: u64, steps: usize) -> (usize, usize, usize) {
    let mut seen = (0, 0, 0);
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut txn = TxnMetadata::new("walk", 100, 60_000, 0);
    // Some walks start near epoch exhaustion, to rotate producer ids.
    if seed.is_multiple_of(2) {
        txn.current.producer_epoch = i16::MAX - 4;
    }
    let mut fresh_ids = 1_000i64;
    let mut client = (100i64, txn.producer_epoch());
    let mut now = 0i64;
    for step in 0..steps {
        now += next(100) as i64;
        let before = (txn.producer_id(), txn.producer_epoch());
        let before_state = txn.state();
        let version = if next(2) == 0 { TxnVersion::V0 } else { TxnVersion::V2 };
        let fresh = Some(fresh_ids + 1);
        let prepared: Option<Transition> = match next(7) {
            0 => {
                let expected = match next(3) {
                    0 => None,
                    1 => Some(client),
                    _ => Some((client.0, client.1.saturating_sub(1))),
                };
                match txn.init_producer_id(60_000, expected, fresh, now) {
                    Ok(InitOutcome::Write(t)) => Some(t),
                    Ok(InitOutcome::FenceOngoing(t)) => Some(t),
                    Ok(InitOutcome::NeedProducerId) => panic!("seed {seed} step {step}: a fresh id was given"),
                    Err(_) => None,
                }
            }
            1 => {
                let parts = set(&[("t", next(3) as i32)]);
                txn.add_partitions(client.0, client.1, &parts, version, now).ok().flatten()
            }
            2 => match txn.end(client.0, client.1, next(2) == 0, version, fresh, now) {
                Ok(EndOutcome::Write(t)) => Some(t),
                Ok(EndOutcome::AlreadyDone { producer_id, producer_epoch }) => {
                    client = (producer_id, producer_epoch);
                    None
                }
                Ok(EndOutcome::NeedProducerId) => panic!("seed {seed} step {step}: a fresh id was given"),
                Err(_) => None,
            },
            3 => txn.prepare_complete(now).ok(),
            4 => txn.prepare_fence_abort(now).ok(),
            5 => {
                let _ = txn.verify_partitions(client.0, client.1, &[tp("t", 0)]);
                None
            }
            _ => None,
        };
        if let Some(t) = prepared {
            assert_eq!(txn.pending, Some(t.state), "seed {seed} step {step}");
            if t.producer_id == fresh_ids + 1 {
                fresh_ids += 1;
            }
            if next(10) == 0 {
                txn.abort_pending();
            } else {
                // The client learns the id and epoch InitProducerId, EndTxn
                // (TV2) and the completion hand out.
                let learns = matches!(t.state, TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort)
                    || (t.state.is_prepare() && t.client_version.bumps_epoch_on_end() && t.last_producer_epoch != -1);
                txn.complete(t.clone());
                if learns && next(4) != 0 {
                    client = (t.producer_id, t.producer_epoch);
                }
            }
        }
        let cur = &txn.current;
        assert_eq!(txn.pending, None, "seed {seed} step {step}");
        if cur.producer_id == before.0 {
            assert!(cur.producer_epoch >= before.1, "seed {seed} step {step}: epoch went back");
        } else {
            seen.2 += 1;
            assert!(cur.producer_id > before.0, "seed {seed} step {step}: producer id went back");
            assert_eq!(cur.previous_producer_id, before.0, "seed {seed} step {step}");
        }
        match cur.state {
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                assert!(cur.partitions.is_empty(), "seed {seed} step {step}: {cur:?}")
            }
            TxnState::Ongoing => assert!(!cur.partitions.is_empty(), "seed {seed} step {step}"),
            TxnState::PrepareCommit => assert!(!cur.partitions.is_empty(), "seed {seed} step {step}"),
            TxnState::PrepareAbort => {}
            TxnState::Dead | TxnState::PrepareEpochFence => panic!("seed {seed} step {step}: {:?}", cur.state),
        }
        assert!(cur.next_producer_id == NO_PRODUCER_ID || cur.state.is_prepare(), "seed {seed} step {step}");
        if cur.state != before_state {
            match cur.state {
                TxnState::CompleteCommit => seen.0 += 1,
                TxnState::CompleteAbort => seen.1 += 1,
                _ => {}
            }
        }
    }
    seen
}
