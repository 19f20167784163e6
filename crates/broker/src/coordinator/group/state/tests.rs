//! Unit tests of the group state machine, including long random event
//! sequences checked against the protocol's invariants.

use super::*;
use brook_protocol::error_code::ErrorCode;

fn config() -> GroupConfig {
    GroupConfig { initial_rebalance_delay_ms: 0, ..GroupConfig::default() }
}

fn join_req(member_id: &str, instance: Option<&str>, protocols: &[&str]) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        instance_id: instance.map(str::to_string),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        protocol_type: "consumer".into(),
        protocols: protocols
            .iter()
            .map(|p| Protocol { name: p.to_string(), metadata: Bytes::from(p.to_string()) })
            .collect(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 5_000,
        require_known_member_id: true,
    }
}

/// Joins a new dynamic member through MEMBER_ID_REQUIRED; returns its id.
fn new_member(group: &mut Group, now: i64) -> (String, Reply<JoinResult>, Vec<Action>) {
    let (reply, _) = group.join(join_req("", None, &["range"]), now, &config());
    let Reply::Now(r) = reply else { panic!("first join answers at once") };
    assert_eq!(r.error_code, ec::MEMBER_ID_REQUIRED);
    let (reply, actions) = group.join(join_req(&r.member_id, None, &["range"]), now, &config());
    (r.member_id, reply, actions)
}

#[test]
fn single_member_becomes_leader_and_stable() {
    let mut g = Group::new("g", 0);
    let (id, reply, _) = new_member(&mut g, 0);
    let Reply::Now(r) = reply else { panic!("sole member completes at once") };
    assert_eq!((r.error_code, r.generation, r.leader.as_str()), (ec::NONE, 1, id.as_str()));
    assert_eq!(r.members.len(), 1);
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let (reply, actions) = g.sync(&id, None, 1, None, None, vec![(id.clone(), Bytes::from_static(b"a"))], 1);
    assert_eq!(reply, Reply::Now(Ok(Bytes::from_static(b"a"))));
    assert!(actions.contains(&Action::PersistGroup));
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(g.heartbeat(&id, None, 1, 2), ec::NONE);
    assert_eq!(g.heartbeat(&id, None, 0, 2), ec::ILLEGAL_GENERATION);
    assert_eq!(g.heartbeat("nobody", None, 1, 2), ec::UNKNOWN_MEMBER_ID);
}

#[test]
fn second_member_triggers_rebalance_and_both_rejoin() {
    let mut g = Group::new("g", 0);
    let (a, _, _) = new_member(&mut g, 0);
    g.sync(&a, None, 1, None, None, vec![], 0);
    let (b, reply, _) = new_member(&mut g, 10);
    assert!(matches!(reply, Reply::Parked { .. }));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert_eq!(g.heartbeat(&a, None, 1, 11), ec::REBALANCE_IN_PROGRESS);
    let (reply, actions) = g.join(join_req(&a, None, &["range"]), 12, &config());
    let Reply::Now(ra) = reply else { panic!("last rejoin completes the round") };
    assert_eq!(ra.generation, 2);
    assert!(actions.iter().any(|x| matches!(x, Action::CompleteJoin { member_id, .. } if *member_id == b)));
    // Follower syncs first and waits; the leader's sync releases it.
    let (leader, follower) = if ra.leader == a { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) };
    let (reply, _) = g.sync(&follower, None, 2, None, None, vec![], 13);
    assert!(matches!(reply, Reply::Parked { .. }));
    let (_, actions) = g.sync(&leader, None, 2, None, None, vec![(follower.clone(), Bytes::from_static(b"f"))], 14);
    assert!(actions.contains(&Action::CompleteSync { member_id: follower, result: Ok(Bytes::from_static(b"f")) }));
}

#[test]
fn join_errors() {
    let mut g = Group::new("g", 0);
    let (reply, _) = g.join(join_req("", None, &[]), 0, &config());
    assert!(matches!(reply, Reply::Now(r) if r.error_code == ec::INCONSISTENT_GROUP_PROTOCOL));
    let (reply, _) = g.join(join_req("ghost", None, &["range"]), 0, &config());
    assert!(matches!(reply, Reply::Now(r) if r.error_code == ec::UNKNOWN_MEMBER_ID));
    let mut short = join_req("", None, &["range"]);
    short.session_timeout_ms = 10;
    let (reply, _) = g.join(short, 0, &config());
    assert!(matches!(reply, Reply::Now(r) if r.error_code == ec::INVALID_SESSION_TIMEOUT));
    let (a, _, _) = new_member(&mut g, 0);
    let (reply, _) = g.join(join_req("", None, &["roundrobin"]), 0, &config());
    let Reply::Now(r) = reply else { panic!() };
    // MEMBER_ID_REQUIRED comes before the protocol check only if protocols match: here they do not.
    assert_eq!(r.error_code, ec::INCONSISTENT_GROUP_PROTOCOL);
    assert_eq!(g.validate_commit(&a, None, 0), Err(ErrorCode::ILLEGAL_GENERATION));
    assert_eq!(g.validate_commit("", None, -1), Err(ErrorCode::UNKNOWN_MEMBER_ID));
}

#[test]
fn session_timeout_removes_member_and_rebalances() {
    let mut g = Group::new("g", 0);
    let (a, _, _) = new_member(&mut g, 0);
    g.sync(&a, None, 1, None, None, vec![], 0);
    let (b, _, _) = new_member(&mut g, 0);
    let (_, _) = g.join(join_req(&a, None, &["range"]), 0, &config());
    g.sync(&a, None, 2, None, None, vec![], 0);
    assert_eq!(g.members.len(), 2);
    // Only a heartbeats; b goes silent past its session timeout.
    for t in (1000..=11_000).step_by(1000) {
        g.heartbeat(&a, None, g.generation, t);
        g.tick(t);
    }
    assert!(!g.members.contains_key(&b));
    assert_eq!(g.state, GroupState::PreparingRebalance);
    let (reply, _) = g.join(join_req(&a, None, &["range"]), 11_500, &config());
    assert!(matches!(reply, Reply::Now(r) if r.generation == 3 && r.members.len() == 1));
}

#[test]
fn static_member_rejoin_keeps_assignment_without_rebalance() {
    let mut g = Group::new("g", 0);
    let (reply, _) = g.join(join_req("", Some("i1"), &["range"]), 0, &config());
    let Reply::Now(r1) = reply else { panic!() };
    let (reply, _) = g.join(join_req("", Some("i2"), &["range"]), 0, &config());
    assert!(matches!(reply, Reply::Parked { .. }));
    let (reply, actions) = g.join(join_req(&r1.member_id, Some("i1"), &["range"]), 1, &config());
    let Reply::Now(r) = reply else { panic!() };
    let leader = r.leader.clone();
    let other = actions
        .iter()
        .find_map(|a| match a {
            Action::CompleteJoin { member_id, .. } => Some(member_id.clone()),
            _ => None,
        })
        .unwrap();
    let assignments =
        vec![(r1.member_id.clone(), Bytes::from_static(b"p0")), (other.clone(), Bytes::from_static(b"p1"))];
    g.sync(&leader, None, r.generation, None, None, assignments, 2);
    assert_eq!(g.state, GroupState::Stable);
    let generation = g.generation;
    // The follower restarts with the same instance id and an empty member id.
    let follower_instance = if leader == r1.member_id { "i2" } else { "i1" };
    let old_id = g.static_members[follower_instance].clone();
    let (reply, _) = g.join(join_req("", Some(follower_instance), &["range"]), 3, &config());
    let Reply::Now(r) = reply else { panic!("no rebalance for a returning static member") };
    assert_eq!(r.error_code, ec::NONE);
    assert_eq!(g.state, GroupState::Stable);
    assert_eq!(g.generation, generation);
    let (reply, _) = g.sync(&r.member_id, Some(follower_instance), generation, None, None, vec![], 4);
    let expected = if old_id == r1.member_id { Bytes::from_static(b"p0") } else { Bytes::from_static(b"p1") };
    assert_eq!(reply, Reply::Now(Ok(expected)));
    // The old identity is fenced.
    assert_eq!(g.heartbeat(&old_id, Some(follower_instance), generation, 5), ec::FENCED_INSTANCE_ID);
    assert_eq!(g.validate_commit(&old_id, Some(follower_instance), generation), Err(ErrorCode::FENCED_INSTANCE_ID));
}

/// A tiny deterministic PRNG (xorshift64*) for the random sequences.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Default)]
struct Client {
    member_id: String,
    instance: Option<String>,
    generation: i32,
    leader: bool,
    members: Vec<String>,
}

const PARTITIONS: u32 = 6;

/// The leader's assignment: partitions round-robin over the members, encoded as bytes.
fn assign(members: &[String]) -> Vec<(String, Bytes)> {
    let mut out: Vec<(String, Vec<u8>)> = members.iter().map(|m| (m.clone(), Vec::new())).collect();
    for p in 0..PARTITIONS {
        let i = p as usize % out.len();
        out[i].1.push(p as u8);
    }
    out.into_iter().map(|(m, v)| (m, Bytes::from(v))).collect()
}

#[test]
fn random_event_sequences_keep_invariants() {
    let mut generations_with_assignments = 0;
    for seed in 1..=60u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E3779B97F4A7C15));
        let mut g = Group::new("g", 0);
        let mut clients: Vec<Client> = (0..5)
            .map(|i| Client { instance: (i % 2 == 0).then(|| format!("inst-{i}")), ..Client::default() })
            .collect();
        // generation → partition → owner, from every successful sync.
        let mut owners: HashMap<i32, HashMap<u8, String>> = HashMap::new();
        let mut now = 0i64;
        let mut last_generation = 0;
        for _step in 0..3000 {
            now += rng.below(800) as i64;
            let c = rng.below(clients.len() as u64) as usize;
            let mut completed = Vec::new();
            match rng.below(10) {
                0..=2 => {
                    let client = &clients[c];
                    let id = if rng.below(8) == 0 { String::new() } else { client.member_id.clone() };
                    let (reply, actions) =
                        g.join(join_req(&id, client.instance.as_deref(), &["range"]), now, &config());
                    completed.extend(actions);
                    match reply {
                        Reply::Now(r) if r.error_code == ec::NONE => {
                            completed.push(Action::CompleteJoin { member_id: r.member_id.clone(), result: r });
                        }
                        Reply::Now(r) if r.error_code == ec::MEMBER_ID_REQUIRED => clients[c].member_id = r.member_id,
                        Reply::Now(_) => {}
                        Reply::Parked { member_id } => clients[c].member_id = member_id,
                    }
                }
                3..=4 => {
                    let client = clients[c].clone();
                    let assignments = if client.leader { assign(&client.members) } else { Vec::new() };
                    let (reply, actions) = g.sync(
                        &client.member_id,
                        client.instance.as_deref(),
                        client.generation,
                        None,
                        None,
                        assignments,
                        now,
                    );
                    completed.extend(actions);
                    if let Reply::Now(result) = reply {
                        completed.push(Action::CompleteSync { member_id: client.member_id.clone(), result });
                    }
                }
                5..=6 => {
                    let client = &clients[c];
                    g.heartbeat(&client.member_id, client.instance.as_deref(), client.generation, now);
                }
                7 => {
                    let client = &clients[c];
                    let mut actions = Vec::new();
                    g.leave(&client.member_id, client.instance.as_deref(), now, &mut actions);
                    completed.extend(actions);
                }
                8 => {
                    // Commit admission: accepted only from a current member of the current generation.
                    let client = &clients[c];
                    let generation = if rng.below(2) == 0 { client.generation } else { client.generation - 1 };
                    let simple = client.member_id.is_empty() && generation < 0;
                    if g.validate_commit(&client.member_id, client.instance.as_deref(), generation).is_ok() && simple {
                        assert_eq!(g.state, GroupState::Empty, "simple commit accepted by a live group");
                    } else if g.validate_commit(&client.member_id, client.instance.as_deref(), generation).is_ok() {
                        assert!(g.members.contains_key(&client.member_id), "commit from a non-member accepted");
                        assert_eq!(generation, g.generation, "commit from a stale generation accepted");
                        if let Some(instance) = &client.instance {
                            if let Some(current) = g.static_members.get(instance) {
                                assert_eq!(current, &client.member_id, "commit from a fenced instance accepted");
                            }
                        }
                    }
                }
                _ => completed.extend(g.tick(now)),
            }
            for action in completed {
                match action {
                    Action::CompleteJoin { member_id, result } => {
                        if let Some(client) = clients.iter_mut().find(|cl| cl.member_id == member_id) {
                            if result.error_code == ec::NONE {
                                client.generation = result.generation;
                                client.leader = result.leader == member_id;
                                client.members = result.members.iter().map(|m| m.0.clone()).collect();
                            }
                        }
                    }
                    Action::CompleteSync { member_id, result: Ok(assignment) } => {
                        let generation = g.generation;
                        let owners = owners.entry(generation).or_default();
                        for p in assignment.iter() {
                            let previous = owners.insert(*p, member_id.clone());
                            assert!(
                                previous.is_none_or(|o| o == member_id),
                                "seed {seed}: partition {p} owned by two members in generation {generation}"
                            );
                        }
                    }
                    _ => {}
                }
            }
            // Structural invariants.
            assert!(g.generation >= last_generation, "generation went backwards");
            last_generation = g.generation;
            match g.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    let leader = g.leader.as_ref().expect("a leader while stable/completing");
                    assert!(g.members.contains_key(leader), "leader is a member");
                    assert!(!g.members.is_empty());
                }
                GroupState::Empty => assert!(g.members.is_empty(), "Empty group has no members"),
                _ => {}
            }
            for (instance, member) in &g.static_members {
                assert_eq!(g.members.get(member).and_then(|m| m.instance_id.as_deref()), Some(instance.as_str()));
            }
        }
        generations_with_assignments += owners.len();
    }
    // The sequences must really reach assignments, or the ownership check proves nothing.
    assert!(generations_with_assignments > 200, "only {generations_with_assignments} generations got assignments");
}

#[test]
fn static_member_replaced_mid_rebalance_triggers_rebalance() {
    let mut g = Group::new("g", 0);
    let (reply, _) = g.join(join_req("", Some("i1"), &["range"]), 0, &config());
    let Reply::Now(first) = reply else { panic!() };
    // A second member forces a new round; i1 rejoins, so the group reaches CompletingRebalance.
    let (reply, _) = g.join(join_req("", Some("i2"), &["range"]), 1, &config());
    assert!(matches!(reply, Reply::Parked { .. }));
    let (reply, _) = g.join(join_req(&first.member_id, Some("i1"), &["range"]), 2, &config());
    assert!(matches!(reply, Reply::Now(_)));
    assert_eq!(g.state, GroupState::CompletingRebalance);
    let generation = g.generation;
    // i2 restarts before any sync: its old assignment slot is stale, so a rebalance starts.
    let (reply, _) = g.join(join_req("", Some("i2"), &["range"]), 3, &config());
    assert!(matches!(reply, Reply::Parked { .. }), "a restarted static member mid-rebalance waits for a new round");
    assert_eq!(g.state, GroupState::PreparingRebalance);
    assert!(g.generation == generation);
}

#[test]
fn transactional_commit_admission() {
    let mut g = Group::new("g", 0);
    // Simple group: the producer commits without membership.
    assert_eq!(g.validate_txn_commit("", None, -1), Ok(()));
    let (a, _, _) = new_member(&mut g, 0);
    assert_eq!(g.state, GroupState::CompletingRebalance);
    // Unlike OffsetCommit: accepted mid-assignment, and v0..=2 requests (no member) pass.
    assert_eq!(g.validate_txn_commit(&a, None, 1), Ok(()));
    assert_eq!(g.validate_commit(&a, None, 1), Err(ErrorCode::REBALANCE_IN_PROGRESS));
    assert_eq!(g.validate_txn_commit("", None, -1), Ok(()));
    assert_eq!(g.validate_commit("", None, -1), Err(ErrorCode::UNKNOWN_MEMBER_ID));
    // v3+: generation and member are checked.
    assert_eq!(g.validate_txn_commit(&a, None, 0), Err(ErrorCode::ILLEGAL_GENERATION));
    assert_eq!(g.validate_txn_commit("ghost", None, 1), Err(ErrorCode::UNKNOWN_MEMBER_ID));
    assert_eq!(g.validate_txn_commit("", None, 1), Err(ErrorCode::UNKNOWN_MEMBER_ID));
}

#[test]
fn transactional_commit_admission_fences_static_members() {
    let mut g = Group::new("g", 0);
    let (reply, _) = g.join(join_req("", Some("i1"), &["range"]), 0, &config());
    let Reply::Now(r) = reply else { panic!("sole static member completes at once") };
    assert_eq!(g.validate_txn_commit(&r.member_id, Some("i1"), r.generation), Ok(()));
    assert_eq!(g.validate_txn_commit("old-id", Some("i1"), r.generation), Err(ErrorCode::FENCED_INSTANCE_ID));
}
