//! The classic consumer-group protocol as a pure state machine: one
//! [`Group`] takes events (join, sync, heartbeat, leave, commit checks,
//! clock ticks) with the time passed in, changes its own state, and returns
//! [`Action`]s for the driver to carry out (answer a parked JoinGroup or
//! SyncGroup, persist the group). No IO, no clocks, no channels: unit tests
//! drive it directly.
//!
//! States and transitions follow Kafka's `GroupMetadata`:
//! Empty → PreparingRebalance → CompletingRebalance → Stable, back to
//! PreparingRebalance on membership changes, Dead when deleted.

use brook_protocol::error_code::ErrorCode;
use std::collections::{BTreeMap, HashMap};

use brook_protocol::error_code as ec;
use bytes::Bytes;

use super::txn_offsets::TxnOffsets;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The name Kafka uses in DescribeGroups / ListGroups.
    pub fn name(&self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// Broker-level group settings (Kafka's `group.*` properties).
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: i64,
    pub max_size: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3000,
            max_size: i32::MAX as usize,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
    pub last_heartbeat_ms: i64,
    /// Has a JoinGroup parked in the current rebalance.
    pub awaiting_join: bool,
    /// Has a SyncGroup parked, waiting for the leader's assignment.
    pub awaiting_sync: bool,
}

impl Member {
    /// This member's metadata for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols.iter().find(|p| p.name == protocol).map(|p| p.metadata.clone()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// What a JoinGroup gets back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    pub error_code: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// (member id, instance id, metadata): only for the leader.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    pub fn error(error_code: i16, member_id: &str) -> Self {
        JoinResult {
            error_code,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// Work for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    CompleteJoin {
        member_id: String,
        result: JoinResult,
    },
    CompleteSync {
        member_id: String,
        result: Result<Bytes, ErrorCode>,
    },
    /// Group membership or assignment changed: write the group metadata record.
    PersistGroup,
}

/// Immediate answer, or "parked until an action completes it".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<T> {
    Now(T),
    Parked { member_id: String },
}

#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    /// JoinGroup v4+: a new dynamic member must first get an id (KIP-394).
    pub require_known_member_id: bool,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub group_id: String,
    pub state: GroupState,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they join (deadline ms).
    pub pending_members: BTreeMap<String, i64>,
    /// group.instance.id → member id, for static members.
    pub static_members: HashMap<String, String>,
    pub offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Offsets of open transactions, not yet in `offsets` (TxnOffsetCommit).
    pub txn_offsets: TxnOffsets,
    /// When the current rebalance must end, whoever has rejoined.
    pub rebalance_deadline_ms: i64,
    /// For a group formed from Empty: do not complete before this (initial delay).
    pub rebalance_not_before_ms: i64,
    pub state_since_ms: i64,
    next_member_number: u64,
    initial_delay: i64,
}

impl Group {
    pub fn new(group_id: &str, now_ms: i64) -> Group {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            static_members: HashMap::new(),
            offsets: BTreeMap::new(),
            txn_offsets: TxnOffsets::default(),
            rebalance_deadline_ms: 0,
            rebalance_not_before_ms: 0,
            state_since_ms: now_ms,
            next_member_number: 0,
            initial_delay: 0,
        }
    }

    fn transition(&mut self, state: GroupState, now_ms: i64) {
        self.state = state;
        self.state_since_ms = now_ms;
    }

    fn new_member_id(&mut self, client_id: &str, now_ms: i64) -> String {
        self.next_member_number += 1;
        // Unique per group: Kafka uses client id + UUID; a counter plus time is enough here.
        format!("{client_id}-{now_ms:x}-{}", self.next_member_number)
    }

    /// Protocols every member supports, in the order of the first member's preference.
    fn candidate_protocols(&self) -> Vec<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else { return Vec::new() };
        let mut candidates: Vec<String> = first.protocols.iter().map(|p| p.name.clone()).collect();
        for m in members {
            candidates.retain(|c| m.protocols.iter().any(|p| &p.name == c));
        }
        candidates
    }

    fn supports(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if protocols.is_empty() || protocol_type.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && self.candidate_protocols().iter().any(|c| protocols.iter().any(|p| &p.name == c))
    }

    /// Each member votes for its most preferred candidate; the most votes win.
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(p) = m.protocols.iter().find(|p| candidates.contains(&p.name)) {
                *votes.entry(p.name.as_str()).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        candidates.iter().find(|c| votes.get(c.as_str()) == Some(&best)).cloned()
    }

    fn join_result(&self, member_id: &str) -> JoinResult {
        let protocol = self.protocol.clone().unwrap_or_default();
        let leader = self.leader.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members.values().map(|m| (m.member_id.clone(), m.instance_id.clone(), m.metadata(&protocol))).collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error_code: ec::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader,
            member_id: member_id.to_string(),
            members,
        }
    }

    /// Starts (or continues) a rebalance. Parked SyncGroups are told to rejoin.
    fn prepare_rebalance(&mut self, now_ms: i64, actions: &mut Vec<Action>) {
        for m in self.members.values_mut() {
            if m.awaiting_sync {
                m.awaiting_sync = false;
                actions.push(Action::CompleteSync {
                    member_id: m.member_id.clone(),
                    result: Err(ErrorCode::REBALANCE_IN_PROGRESS),
                });
            }
        }
        let timeout = self.members.values().map(|m| m.rebalance_timeout_ms as i64).max().unwrap_or(0);
        if self.state == GroupState::Empty {
            self.rebalance_not_before_ms = now_ms + self.initial_delay.min(timeout);
        } else {
            self.rebalance_not_before_ms = now_ms;
        }
        if self.state != GroupState::PreparingRebalance {
            self.rebalance_deadline_ms = now_ms + timeout;
            self.transition(GroupState::PreparingRebalance, now_ms);
        }
    }

    /// Ends the rebalance once everyone has rejoined (or the deadline passed).
    fn maybe_complete_join(&mut self, now_ms: i64, actions: &mut Vec<Action>) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join) && self.pending_members.is_empty();
        let ready = (all_joined && now_ms >= self.rebalance_not_before_ms) || now_ms >= self.rebalance_deadline_ms;
        if !ready {
            return;
        }
        // Members that did not rejoin in time leave the group.
        let gone: Vec<String> =
            self.members.values().filter(|m| !m.awaiting_join).map(|m| m.member_id.clone()).collect();
        for id in gone {
            self.remove_member(&id);
        }
        self.generation += 1;
        if self.members.is_empty() {
            self.protocol = None;
            self.leader = None;
            self.transition(GroupState::Empty, now_ms);
            actions.push(Action::PersistGroup);
            return;
        }
        self.protocol = self.select_protocol();
        if self.leader.as_ref().is_none_or(|l| !self.members.contains_key(l)) {
            self.leader = self.members.keys().next().cloned();
        }
        self.transition(GroupState::CompletingRebalance, now_ms);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result(&id);
            let m = self.members.get_mut(&id).expect("member");
            m.awaiting_join = false;
            m.last_heartbeat_ms = now_ms;
            actions.push(Action::CompleteJoin { member_id: id, result });
        }
    }

    fn remove_member(&mut self, member_id: &str) {
        if let Some(m) = self.members.remove(member_id) {
            if let Some(instance) = &m.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = None;
        }
        if self.members.is_empty() {
            self.protocol_type = None;
        }
    }

    /// JoinGroup.
    pub fn join(&mut self, req: JoinRequest, now_ms: i64, config: &GroupConfig) -> (Reply<JoinResult>, Vec<Action>) {
        self.initial_delay = config.initial_rebalance_delay_ms;
        let mut actions = Vec::new();
        let fail = |code: i16| (Reply::Now(JoinResult::error(code, &req.member_id)), Vec::new());
        if self.state == GroupState::Dead {
            return fail(ec::COORDINATOR_NOT_AVAILABLE);
        }
        if req.session_timeout_ms < config.min_session_timeout_ms
            || req.session_timeout_ms > config.max_session_timeout_ms
        {
            return fail(ec::INVALID_SESSION_TIMEOUT);
        }
        if !self.supports(&req.protocol_type, &req.protocols) {
            return fail(ec::INCONSISTENT_GROUP_PROTOCOL);
        }
        // Resolve who is joining.
        let mut member_id = req.member_id.clone();
        let mut replaced_static = None;
        let mut replaced = false;
        if let Some(instance) = &req.instance_id {
            match self.static_members.get(instance).cloned() {
                Some(existing) if member_id.is_empty() => {
                    // A restarted static member: it takes over the old identity's place.
                    member_id = self.new_member_id(&req.client_id, now_ms);
                    replaced_static = Some(existing);
                }
                Some(existing) if existing != member_id => return fail(ec::FENCED_INSTANCE_ID),
                Some(_) => {}
                None if member_id.is_empty() => member_id = self.new_member_id(&req.client_id, now_ms),
                None if !self.members.contains_key(&member_id) => return fail(ec::UNKNOWN_MEMBER_ID),
                None => {}
            }
        } else if member_id.is_empty() {
            member_id = self.new_member_id(&req.client_id, now_ms);
            if req.require_known_member_id {
                self.pending_members.insert(member_id.clone(), now_ms + req.session_timeout_ms as i64);
                let mut result = JoinResult::error(ec::MEMBER_ID_REQUIRED, &member_id);
                result.member_id = member_id;
                return (Reply::Now(result), actions);
            }
        } else if !self.members.contains_key(&member_id) && !self.pending_members.contains_key(&member_id) {
            return fail(ec::UNKNOWN_MEMBER_ID);
        }
        self.pending_members.remove(&member_id);

        if let Some(old_id) = replaced_static {
            let Some(mut old) = self.members.remove(&old_id) else { return fail(ec::UNKNOWN_MEMBER_ID) };
            let protocols_unchanged = old.protocols == req.protocols && old.protocol_type == req.protocol_type;
            let was_leader = self.leader.as_deref() == Some(old_id.as_str());
            old.member_id = member_id.clone();
            old.client_id = req.client_id.clone();
            old.client_host = req.client_host.clone();
            old.session_timeout_ms = req.session_timeout_ms;
            old.rebalance_timeout_ms = req.rebalance_timeout_ms;
            old.last_heartbeat_ms = now_ms;
            let was_awaiting_join = old.awaiting_join;
            if old.awaiting_sync {
                // The old identity's parked sync is fenced too.
                old.awaiting_sync = false;
                actions.push(Action::CompleteSync {
                    member_id: old_id.clone(),
                    result: Err(ErrorCode::FENCED_INSTANCE_ID),
                });
            }
            self.members.insert(member_id.clone(), old);
            self.static_members.insert(req.instance_id.clone().unwrap(), member_id.clone());
            if was_leader {
                self.leader = Some(member_id.clone());
            }
            if was_awaiting_join {
                // The old identity's parked join is superseded.
                actions.push(Action::CompleteJoin {
                    member_id: old_id.clone(),
                    result: JoinResult::error(ec::FENCED_INSTANCE_ID, &old_id),
                });
            }
            // KIP-345: a static member coming back unchanged to a stable group keeps
            // its assignment without a rebalance of the others. As Kafka does, the
            // answer names the previous leader id, so even a returning leader acts
            // as a follower and does not redo the assignment.
            if self.state == GroupState::Stable && protocols_unchanged {
                actions.push(Action::PersistGroup);
                let mut result = self.join_result(&member_id);
                result.members.clear();
                if was_leader {
                    result.leader = old_id.clone();
                }
                return (Reply::Now(result), actions);
            }
            // Otherwise (mid-rebalance, or new protocols) the assignment made for
            // the old id is stale: rebalance, as Kafka does.
            replaced = true;
        }

        let known = self.members.contains_key(&member_id);
        if !known && self.members.len() >= config.max_size {
            return fail(ec::GROUP_MAX_SIZE_REACHED);
        }
        let unchanged = self.members.get(&member_id).is_some_and(|m| m.protocols == req.protocols);
        match self.state {
            _ if replaced => {}
            GroupState::Stable | GroupState::CompletingRebalance
                if known && unchanged && self.leader.as_deref() != Some(member_id.as_str()) =>
            {
                // A follower re-sending an unchanged join: answer with the current generation.
                if let Some(m) = self.members.get_mut(&member_id) {
                    m.last_heartbeat_ms = now_ms;
                }
                return (Reply::Now(self.join_result(&member_id)), actions);
            }
            GroupState::CompletingRebalance if known && unchanged => {
                return (Reply::Now(self.join_result(&member_id)), actions);
            }
            _ => {}
        }
        let member = self.members.entry(member_id.clone()).or_insert_with(|| Member {
            member_id: member_id.clone(),
            instance_id: req.instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocol_type: req.protocol_type.clone(),
            protocols: Vec::new(),
            assignment: Bytes::new(),
            last_heartbeat_ms: now_ms,
            awaiting_join: false,
            awaiting_sync: false,
        });
        member.protocols = req.protocols.clone();
        member.session_timeout_ms = req.session_timeout_ms;
        member.rebalance_timeout_ms = req.rebalance_timeout_ms;
        member.last_heartbeat_ms = now_ms;
        member.awaiting_join = true;
        if let Some(instance) = &req.instance_id {
            self.static_members.insert(instance.clone(), member_id.clone());
        }
        self.protocol_type = Some(req.protocol_type.clone());
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now_ms, &mut actions);
        }
        self.maybe_complete_join(now_ms, &mut actions);
        // If the join completed right away, hand this member its answer directly.
        if let Some(pos) =
            actions.iter().position(|a| matches!(a, Action::CompleteJoin { member_id: m, .. } if *m == member_id))
        {
            if let Action::CompleteJoin { result, .. } = actions.remove(pos) {
                return (Reply::Now(result), actions);
            }
        }
        (Reply::Parked { member_id }, actions)
    }

    fn check_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
        if let Some(instance) = instance_id {
            if let Some(current) = self.static_members.get(instance) {
                if current != member_id {
                    return Err(ErrorCode::FENCED_INSTANCE_ID);
                }
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        Ok(())
    }

    /// SyncGroup. `assignments` come from the leader.
    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now_ms: i64,
    ) -> (Reply<Result<Bytes, ErrorCode>>, Vec<Action>) {
        let mut actions = Vec::new();
        if self.state == GroupState::Dead {
            return (Reply::Now(Err(ErrorCode::COORDINATOR_NOT_AVAILABLE)), actions);
        }
        if let Err(code) = self.check_member(member_id, instance_id) {
            return (Reply::Now(Err(code)), actions);
        }
        if generation != self.generation {
            return (Reply::Now(Err(ErrorCode::ILLEGAL_GENERATION)), actions);
        }
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol_name.is_some_and(|p| Some(p) != self.protocol.as_deref())
        {
            return (Reply::Now(Err(ErrorCode::INCONSISTENT_GROUP_PROTOCOL)), actions);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat_ms = now_ms;
        }
        match self.state {
            GroupState::PreparingRebalance => (Reply::Now(Err(ErrorCode::REBALANCE_IN_PROGRESS)), actions),
            GroupState::Stable => (Reply::Now(Ok(self.members[member_id].assignment.clone())), actions),
            GroupState::CompletingRebalance => {
                if self.leader.as_deref() != Some(member_id) {
                    self.members.get_mut(member_id).expect("checked").awaiting_sync = true;
                    return (Reply::Parked { member_id: member_id.to_string() }, actions);
                }
                let mut given: HashMap<String, Bytes> = assignments.into_iter().collect();
                for m in self.members.values_mut() {
                    m.assignment = given.remove(&m.member_id).unwrap_or_default();
                }
                self.transition(GroupState::Stable, now_ms);
                for m in self.members.values_mut() {
                    if m.awaiting_sync {
                        m.awaiting_sync = false;
                        actions.push(Action::CompleteSync {
                            member_id: m.member_id.clone(),
                            result: Ok(m.assignment.clone()),
                        });
                    }
                }
                actions.push(Action::PersistGroup);
                (Reply::Now(Ok(self.members[member_id].assignment.clone())), actions)
            }
            GroupState::Empty | GroupState::Dead => (Reply::Now(Err(ErrorCode::UNKNOWN_MEMBER_ID)), actions),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(&mut self, member_id: &str, instance_id: Option<&str>, generation: i32, now_ms: i64) -> i16 {
        if self.state == GroupState::Dead {
            return ec::COORDINATOR_NOT_AVAILABLE;
        }
        if let Err(code) = self.check_member(member_id, instance_id) {
            return code.code();
        }
        if generation != self.generation {
            return ec::ILLEGAL_GENERATION;
        }
        self.members.get_mut(member_id).expect("checked").last_heartbeat_ms = now_ms;
        match self.state {
            GroupState::PreparingRebalance => ec::REBALANCE_IN_PROGRESS,
            _ => ec::NONE,
        }
    }

    /// LeaveGroup for one member identity. Returns its error code.
    pub fn leave(&mut self, member_id: &str, instance_id: Option<&str>, now_ms: i64, actions: &mut Vec<Action>) -> i16 {
        let target = match instance_id {
            Some(instance) => match self.static_members.get(instance) {
                Some(current) if member_id.is_empty() || member_id == current => current.clone(),
                Some(_) => return ec::FENCED_INSTANCE_ID,
                None => return ec::UNKNOWN_MEMBER_ID,
            },
            None => member_id.to_string(),
        };
        if self.pending_members.remove(&target).is_some() {
            return ec::NONE;
        }
        let Some(m) = self.members.get(&target) else { return ec::UNKNOWN_MEMBER_ID };
        if m.awaiting_join {
            actions.push(Action::CompleteJoin {
                member_id: target.clone(),
                result: JoinResult::error(ec::UNKNOWN_MEMBER_ID, &target),
            });
        }
        if m.awaiting_sync {
            actions.push(Action::CompleteSync { member_id: target.clone(), result: Err(ErrorCode::UNKNOWN_MEMBER_ID) });
        }
        self.remove_member(&target);
        self.after_removal(now_ms, actions);
        ec::NONE
    }

    fn after_removal(&mut self, now_ms: i64, actions: &mut Vec<Action>) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(now_ms, actions),
            _ => {}
        }
        self.maybe_complete_join(now_ms, actions);
    }

    /// Time passes: expire silent members and pending ids, end rebalances.
    pub fn tick(&mut self, now_ms: i64) -> Vec<Action> {
        let mut actions = Vec::new();
        self.pending_members.retain(|_, deadline| *deadline > now_ms);
        let rebalancing = self.state == GroupState::PreparingRebalance;
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                !(rebalancing && m.awaiting_join) && m.last_heartbeat_ms + m.session_timeout_ms as i64 <= now_ms
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in &expired {
            let m = &self.members[id];
            if m.awaiting_sync {
                actions.push(Action::CompleteSync { member_id: id.clone(), result: Err(ErrorCode::UNKNOWN_MEMBER_ID) });
            }
            self.remove_member(id);
        }
        if !expired.is_empty() {
            self.after_removal(now_ms, &mut actions);
        } else {
            self.maybe_complete_join(now_ms, &mut actions);
        }
        actions
    }

    /// OffsetCommit admission (Kafka's rules): simple commits (generation -1,
    /// no member) only to an empty group; otherwise a current member of the
    /// current generation, not mid-assignment.
    pub fn validate_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        if generation < 0 && member_id.is_empty() && self.state == GroupState::Empty {
            return Ok(());
        }
        self.check_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(ErrorCode::ILLEGAL_GENERATION);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(ErrorCode::REBALANCE_IN_PROGRESS);
        }
        Ok(())
    }

    /// TxnOffsetCommit admission (Kafka's `ClassicGroup.validateOffsetCommit`
    /// for transactional commits): as [`Group::validate_commit`], except that
    /// a request without member and generation (versions 0..=2) is accepted
    /// whatever the group's state, and a group mid-assignment is no obstacle.
    pub fn validate_txn_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::COORDINATOR_NOT_AVAILABLE);
        }
        if generation < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            self.check_member(member_id, instance_id)?;
            if generation != self.generation {
                return Err(ErrorCode::ILLEGAL_GENERATION);
            }
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

#[cfg(test)]
mod tests;
