//! KIP-890 verification guards of one partition leader: pure data, no IO,
//! not thread-safe (the partition's state lock guards it).
//!
//! Before a producer's first transactional batch on the partition, the
//! leader asks the producer's coordinator whether the partition is in the
//! transaction. A guard, taken before asking, is voided by any marker for
//! the producer; the batch is appended only while its guard holds (or the
//! log already has the producer's transaction open), so a transaction that
//! ended while the question was in flight is never reopened by a late batch.
//!
//! Requests of one producer in flight together share its guard, as Kafka's
//! `ProducerStateManager.maybeCreateVerificationStateEntry` (computeIfAbsent):
//! the Java producer pipelines up to five produce requests, and a second
//! request must not void the first one's verification, or the first batch
//! fails with INVALID_TXN_STATE and the second with OUT_OF_ORDER_SEQUENCE.

use std::collections::HashMap;

/// The guard tokens in force, by producer id.
#[derive(Debug, Default)]
pub struct TxnGuards {
    by_producer: HashMap<i64, u64>,
    last_token: u64,
}

impl TxnGuards {
    /// The guard for a verification about to be asked: the producer's
    /// guard in force, else a new one.
    pub fn begin(&mut self, producer_id: i64) -> u64 {
        if let Some(&token) = self.by_producer.get(&producer_id) {
            return token;
        }
        self.last_token += 1;
        self.by_producer.insert(producer_id, self.last_token);
        self.last_token
    }

    /// Whether no marker for the producer came since `token` was taken.
    pub fn holds(&self, producer_id: i64, token: u64) -> bool {
        self.by_producer.get(&producer_id) == Some(&token)
    }

    /// A marker for the producer (or the verified batch itself, which
    /// opens the transaction in the log): its guard is done.
    pub fn clear(&mut self, producer_id: i64) {
        self.by_producer.remove(&producer_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_in_flight_together_share_the_producers_guard() {
        let mut guards = TxnGuards::default();
        let first = guards.begin(7);
        let second = guards.begin(7);
        assert_eq!(first, second);
        assert!(guards.holds(7, first));
    }

    #[test]
    fn a_marker_voids_the_guard_and_the_next_verification_gets_a_new_one() {
        let mut guards = TxnGuards::default();
        let before = guards.begin(7);
        guards.clear(7);
        assert!(!guards.holds(7, before));
        let after = guards.begin(7);
        assert_ne!(before, after);
        assert!(guards.holds(7, after) && !guards.holds(7, before));
    }

    #[test]
    fn producers_have_their_own_guards() {
        let mut guards = TxnGuards::default();
        let a = guards.begin(1);
        let b = guards.begin(2);
        assert_ne!(a, b);
        guards.clear(1);
        assert!(!guards.holds(1, a) && guards.holds(2, b));
    }
}
