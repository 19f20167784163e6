//! The leader's replication rules for one partition, as a pure state
//! machine: follower progress, the high watermark, ISR shrink and expand,
//! and the `min.insync.replicas` checks. [`IsrState`] takes events (a
//! leader append, a follower fetch, a clock tick, a metadata image, an
//! AlterPartition failure) with the time passed in, changes its own state,
//! and returns decisions: a new high watermark, an ISR to propose to the
//! controller, an error code. No locks, clocks or channels: the
//! [`super::Partition`] shell holds it under its lock and carries out what
//! it decides.
//!
//! The rules are Kafka's (`Partition.scala`, KIP-497):
//! - The high watermark is the smallest log end offset among the *maximal*
//!   ISR: the ISR in metadata plus any member a pending expansion adds, so
//!   a change in flight can never let the watermark pass a replica that may
//!   be in the ISR. A member not heard from since this leader took over
//!   holds it. It never moves back.
//! - A follower is caught up at a fetch when it asks for the leader's log
//!   end, or for at least the log end the leader had at its previous fetch
//!   (then it was caught up as of that fetch): under a steady stream of
//!   produces a follower never equals the leader's end exactly.
//! - An ISR member not caught up for `replica.lag.time.max.ms` is dropped;
//!   a replica outside the ISR rejoins once it has everything below the
//!   high watermark and this leader's epoch start. At most one change is in
//!   flight; metadata (a newer partition epoch) settles it.
//! - A new leader's watermark may trail what its predecessor committed
//!   until the followers fetch the start of its epoch; clients then get
//!   OFFSET_NOT_AVAILABLE for the latest offset, which would go back.
//! - acks=all needs `min.insync.replicas` in the ISR before the append
//!   (NOT_ENOUGH_REPLICAS) and when it completes
//!   (NOT_ENOUGH_REPLICAS_AFTER_APPEND).

use std::collections::BTreeMap;

use brook_metadata::PartitionImage;
use brook_protocol::error_code::ErrorCode;

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerProgress {
    /// The offset it last fetched from (its log end); -1 until it fetches.
    pub log_end_offset: i64,
    /// Last time it had everything the leader had.
    pub last_caught_up_ms: i64,
    /// When it last fetched, and the leader's log end then.
    pub last_fetch_ms: i64,
    pub leader_end_at_last_fetch: i64,
}

impl FollowerProgress {
    fn unknown(now_ms: i64) -> Self {
        // A full lag window from the moment this leader takes over.
        FollowerProgress {
            log_end_offset: -1,
            last_caught_up_ms: now_ms,
            last_fetch_ms: -1,
            leader_end_at_last_fetch: -1,
        }
    }
}

/// What a follower's fetch decided.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FetchDecision {
    /// The high watermark moved here.
    pub high_watermark: Option<i64>,
    /// An ISR to propose to the controller (the follower rejoins).
    pub propose: Option<Vec<i32>>,
}

/// How a metadata image changed this leader's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOutcome {
    /// Same or older partition epoch: nothing to do.
    Unchanged,
    /// New replicas or ISR (and maybe a new high watermark).
    Updated { high_watermark: Option<i64> },
    /// Another leader or a newer leader epoch: this leadership is over.
    NotLeader,
}

/// A leader's replication state for one partition.
#[derive(Debug, Clone)]
pub struct IsrState {
    local: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    /// An ISR sent to the controller and not yet in metadata.
    pending: Option<Vec<i32>>,
    followers: BTreeMap<i32, FollowerProgress>,
    high_watermark: i64,
    /// The leader's log end when it took over: the first offset of its epoch.
    epoch_start_offset: i64,
    min_isr: i32,
}

impl IsrState {
    /// Leadership of `image` starting now. `high_watermark` is what this
    /// replica knows to be committed (checkpointed or taken from the
    /// previous leader); `log_end` its log end (the epoch's start).
    pub fn new(
        local: i32,
        image: &PartitionImage,
        min_isr: i32,
        high_watermark: i64,
        log_end: i64,
        now_ms: i64,
    ) -> Self {
        let followers =
            image.replicas.iter().filter(|r| **r != local).map(|r| (*r, FollowerProgress::unknown(now_ms))).collect();
        let mut state = IsrState {
            local,
            leader_epoch: image.leader_epoch,
            partition_epoch: image.partition_epoch,
            replicas: image.replicas.clone(),
            isr: image.isr.clone(),
            pending: None,
            followers,
            high_watermark: high_watermark.min(log_end),
            epoch_start_offset: log_end,
            min_isr,
        };
        state.advance_high_watermark(log_end);
        state
    }

    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    pub fn isr(&self) -> &[i32] {
        &self.isr
    }

    pub fn replicas(&self) -> &[i32] {
        &self.replicas
    }

    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// Kafka's lagging watermark after a leader change: the new leader's
    /// watermark may trail records its predecessor had committed (a
    /// follower learns the watermark one fetch late), until its followers
    /// fetch the epoch's start. Meanwhile a client's "latest offset" would
    /// go back in time, so ListOffsets answers OFFSET_NOT_AVAILABLE
    /// (retriable) instead (Kafka's `Partition.fetchOffsetForTimestamp`).
    pub fn watermark_lags_epoch_start(&self) -> bool {
        self.high_watermark < self.epoch_start_offset
    }

    pub fn pending(&self) -> Option<&[i32]> {
        self.pending.as_deref()
    }

    pub fn follower(&self, id: i32) -> Option<&FollowerProgress> {
        self.followers.get(&id)
    }

    pub fn min_isr(&self) -> i32 {
        self.min_isr
    }

    pub fn set_min_isr(&mut self, min_isr: i32) {
        self.min_isr = min_isr;
    }

    /// The ISR plus members a pending expansion adds: the replicas the
    /// high watermark must wait for.
    fn maximal_isr(&self) -> impl Iterator<Item = i32> + '_ {
        let added = self.pending.iter().flatten().filter(|m| !self.isr.contains(m));
        self.isr.iter().chain(added).copied()
    }

    /// Raises the watermark to the smallest log end in the maximal ISR.
    fn advance_high_watermark(&mut self, leader_log_end: i64) -> Option<i64> {
        let mut hw = leader_log_end;
        for member in self.maximal_isr().filter(|m| *m != self.local) {
            match self.followers.get(&member) {
                Some(f) if f.log_end_offset >= 0 => hw = hw.min(f.log_end_offset),
                _ => return None, // not heard from since this leader took over
            }
        }
        (hw > self.high_watermark).then(|| {
            self.high_watermark = hw;
            hw
        })
    }

    /// May an acks=`acks` produce append now?
    pub fn check_produce(&self, acks: i16) -> Result<(), ErrorCode> {
        if acks == -1 && (self.isr.len() as i32) < self.min_isr {
            return Err(ErrorCode::NOT_ENOUGH_REPLICAS);
        }
        Ok(())
    }

    /// The leader appended: its log ends at `log_end`.
    pub fn on_leader_append(&mut self, log_end: i64) -> Option<i64> {
        self.advance_high_watermark(log_end)
    }

    /// A follower fetched from `fetch_offset` while the leader's log ends at
    /// `leader_log_end`.
    pub fn on_follower_fetch(
        &mut self,
        follower: i32,
        fetch_offset: i64,
        leader_log_end: i64,
        now_ms: i64,
    ) -> Result<FetchDecision, ErrorCode> {
        if follower == self.local || !self.replicas.contains(&follower) {
            return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        }
        if fetch_offset > leader_log_end {
            return Err(ErrorCode::OFFSET_OUT_OF_RANGE);
        }
        let progress = self.followers.entry(follower).or_insert(FollowerProgress::unknown(now_ms));
        if fetch_offset >= leader_log_end {
            progress.last_caught_up_ms = now_ms;
        } else if progress.last_fetch_ms >= 0 && fetch_offset >= progress.leader_end_at_last_fetch {
            progress.last_caught_up_ms = progress.last_caught_up_ms.max(progress.last_fetch_ms);
        }
        progress.log_end_offset = fetch_offset;
        progress.last_fetch_ms = now_ms;
        progress.leader_end_at_last_fetch = leader_log_end;
        let high_watermark = self.advance_high_watermark(leader_log_end);
        let propose = if self.pending.is_none()
            && !self.isr.contains(&follower)
            && fetch_offset >= self.high_watermark
            && fetch_offset >= self.epoch_start_offset
        {
            let mut isr = self.isr.clone();
            isr.push(follower);
            self.pending = Some(isr.clone());
            Some(isr)
        } else {
            None
        };
        Ok(FetchDecision { high_watermark, propose })
    }

    /// A clock tick: ISR members not caught up within `lag_max_ms` leave.
    pub fn shrink(&mut self, now_ms: i64, lag_max_ms: i64) -> Option<Vec<i32>> {
        if self.pending.is_some() {
            return None;
        }
        let lagging = |m: &i32| {
            *m != self.local && self.followers.get(m).is_none_or(|f| now_ms - f.last_caught_up_ms > lag_max_ms)
        };
        if !self.isr.iter().any(lagging) {
            return None;
        }
        let isr: Vec<i32> = self.isr.iter().copied().filter(|m| !lagging(m)).collect();
        self.pending = Some(isr.clone());
        Some(isr)
    }

    /// The controller refused or never answered the pending change.
    pub fn isr_change_failed(&mut self) {
        self.pending = None;
    }

    /// A metadata image for this partition. `leader_log_end` for the
    /// watermark, which a smaller ISR may let advance; `now_ms` starts the
    /// lag window of an added replica.
    pub fn apply_image(
        &mut self,
        image: &PartitionImage,
        min_isr: i32,
        leader_log_end: i64,
        now_ms: i64,
    ) -> ImageOutcome {
        if image.leader != self.local || image.leader_epoch != self.leader_epoch {
            return ImageOutcome::NotLeader;
        }
        self.min_isr = min_isr;
        if image.partition_epoch <= self.partition_epoch {
            return ImageOutcome::Unchanged;
        }
        self.partition_epoch = image.partition_epoch;
        self.replicas = image.replicas.clone();
        self.isr = image.isr.clone();
        self.pending = None;
        self.followers.retain(|id, _| image.replicas.contains(id));
        for r in image.replicas.iter().filter(|r| **r != self.local) {
            // An added replica gets a full lag window from now.
            self.followers.entry(*r).or_insert(FollowerProgress::unknown(now_ms));
        }
        ImageOutcome::Updated { high_watermark: self.advance_high_watermark(leader_log_end) }
    }

    /// Whether an acks=all append ending below `required_offset` is done:
    /// `None` while the watermark is below it.
    pub fn ack_status(&self, required_offset: i64) -> Option<Result<(), ErrorCode>> {
        if self.high_watermark < required_offset {
            return None;
        }
        if (self.isr.len() as i32) < self.min_isr {
            return Some(Err(ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND));
        }
        Some(Ok(()))
    }
}

#[cfg(test)]
mod tests;
