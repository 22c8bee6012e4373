//! Election timers, candidacy, winning, BeginQuorumEpoch (KIP-595 "Leader Election").

use super::*;

#[test]
fn a_new_voter_starts_unattached_and_stands_after_its_randomized_election_timeout() {
    let mut node = open(1, &[1, 2, 3]);
    assert_eq!(
        drain(&mut node),
        vec![RaftOutput::LeaderChange { epoch: LeaderEpoch(0), leader: None }]
    );
    assert_eq!(node.role(), Role::Unattached);
    let deadline = node.next_deadline_ms().expect("election timer");
    let timeout_ms = node.config().election_timeout_ms;
    assert!((NOW_MS + timeout_ms..NOW_MS + 2 * timeout_ms).contains(&deadline), "{deadline}");

    node.handle_timeout(deadline - 1).expect("early");
    assert_eq!(drain(&mut node), vec![], "a spurious timeout does nothing");

    node.handle_timeout(deadline).expect("timeout");
    let outputs = drain(&mut node);
    let first_id = match &outputs[1] {
        RaftOutput::Send { message, .. } => message.correlation_id(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        outputs,
        vec![
            RaftOutput::LeaderChange { epoch: LeaderEpoch(1), leader: None },
            send(2, vote_request(first_id, 1, 1, (0, 0))),
            send(3, vote_request(first_id + 1, 1, 1, (0, 0))),
        ]
    );
    assert_eq!(node.role(), Role::Candidate);
    assert_eq!(
        persisted(&node),
        ElectionState { epoch: LeaderEpoch(1), leader_id: None, voted_id: Some(1) },
        "the self-vote is durable before the requests leave"
    );
}

#[test]
fn a_candidate_with_a_majority_writes_leader_change_and_sends_begin_quorum_epoch() {
    let mut node = open(1, &[1, 2, 3]);
    let now = fire(&mut node);
    let requests = sent(&drain(&mut node));
    let RaftMessage::VoteRequest(to_2) = &requests[0].1 else { panic!("vote") };
    node.handle_message(now, 2, vote_response(to_2.correlation_id, 1, None, true)).expect("vote");
    let outputs = drain(&mut node);
    let first_id = match &outputs[1] {
        RaftOutput::Send { message, .. } => message.correlation_id(),
        other => panic!("{other:?}"),
    };
    let begin = |id| {
        RaftMessage::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
            correlation_id: id,
            leader_epoch: LeaderEpoch(1),
            leader_id: 1,
        })
    };
    assert_eq!(
        outputs,
        vec![
            RaftOutput::LeaderChange { epoch: LeaderEpoch(1), leader: Some(1) },
            send(2, begin(first_id)),
            send(3, begin(first_id + 1)),
        ]
    );
    assert_eq!(node.role(), Role::Leader);
    assert_eq!(node.high_watermark(), None, "nothing of this epoch is committed yet");
    assert_eq!(persisted(&node).leader_id, Some(1));
    // The epoch starts with one LeaderChange control record, flushed, and in the cache.
    let records = log_records(&node);
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].0, records[0].1, records[0].2), (0, 1, true));
    assert_eq!(node.durable_offset(), Offset(1));
    assert_eq!(
        node.epoch_cache().entries(),
        &[crate::log::EpochEntry { epoch: LeaderEpoch(1), start_offset: Offset(0) }]
    );
    // A late vote from node 3 changes nothing.
    let RaftMessage::VoteRequest(to_3) = &requests[1].1 else { panic!("vote") };
    node.handle_message(now, 3, vote_response(to_3.correlation_id, 1, None, true)).expect("vote");
    assert_eq!(drain(&mut node), vec![]);
}

#[test]
fn begin_quorum_epoch_makes_a_voter_follow_and_fetch() {
    let mut node = open(2, &[1, 2, 3]);
    drain(&mut node);
    let request =
        BeginQuorumEpochRequest { correlation_id: 4, leader_epoch: LeaderEpoch(3), leader_id: 1 };
    node.handle_message(NOW_MS, 1, RaftMessage::BeginQuorumEpochRequest(request)).expect("begin");
    let outputs = drain(&mut node);
    let fetch_id = match &outputs[1] {
        RaftOutput::Send { message, .. } => message.correlation_id(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        outputs,
        vec![
            RaftOutput::LeaderChange { epoch: LeaderEpoch(3), leader: Some(1) },
            send(1, RaftMessage::FetchRequest(fetch_request(fetch_id, 2, 3, 0, 0))),
            send(
                1,
                RaftMessage::BeginQuorumEpochResponse(BeginQuorumEpochResponse {
                    correlation_id: 4,
                    error: RaftErrorCode::None,
                    leader_epoch: LeaderEpoch(3),
                    leader_id: Some(1),
                })
            ),
        ]
    );
    assert_eq!(node.role(), Role::Follower);
    assert_eq!(
        persisted(&node),
        ElectionState { epoch: LeaderEpoch(3), leader_id: Some(1), voted_id: None }
    );
    // Its fetch timer now runs instead of the election timer.
    assert_eq!(node.next_deadline_ms(), Some(NOW_MS + node.config().fetch_timeout_ms));
}

#[test]
fn a_voter_that_votes_does_not_accept_another_leader_in_a_lower_epoch() {
    let mut node = open(2, &[1, 2, 3]);
    node.handle_message(NOW_MS, 3, vote_request(1, 5, 3, (0, 0))).expect("vote");
    drain(&mut node);
    let request =
        BeginQuorumEpochRequest { correlation_id: 2, leader_epoch: LeaderEpoch(4), leader_id: 1 };
    node.handle_message(NOW_MS, 1, RaftMessage::BeginQuorumEpochRequest(request)).expect("begin");
    assert_eq!(
        drain(&mut node),
        vec![send(
            1,
            RaftMessage::BeginQuorumEpochResponse(BeginQuorumEpochResponse {
                correlation_id: 2,
                error: RaftErrorCode::FencedLeaderEpoch,
                leader_epoch: LeaderEpoch(5),
                leader_id: None,
            })
        )]
    );
    assert_eq!(node.role(), Role::Voted);
}

#[test]
fn a_single_voter_elects_itself_and_commits_its_own_flushed_records() {
    let mut node = open(1, &[1]);
    drain(&mut node);
    let now = fire(&mut node);
    assert_eq!(node.role(), Role::Leader);
    assert_eq!(
        drain(&mut node),
        vec![
            RaftOutput::LeaderChange { epoch: LeaderEpoch(1), leader: None },
            RaftOutput::LeaderChange { epoch: LeaderEpoch(1), leader: Some(1) },
            RaftOutput::HighWatermark(Offset(1)),
        ]
    );
    let last = node
        .propose(now, vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")])
        .expect("propose");
    assert_eq!(last, Offset(2));
    assert_eq!(drain(&mut node), vec![], "committed only once flushed");
    assert_eq!(node.durable_offset(), Offset(1));
    let flush_at = node.next_deadline_ms().expect("linger");
    assert_eq!(flush_at, now + node.config().append_linger_ms);
    node.handle_timeout(flush_at).expect("flush");
    assert_eq!(drain(&mut node), vec![RaftOutput::HighWatermark(Offset(3))]);
    let read = node.committed(Offset(0), 1 << 20).expect("read");
    assert_eq!(
        read,
        CommittedRead {
            records: vec![
                (Offset(1), Bytes::from_static(b"a")),
                (Offset(2), Bytes::from_static(b"b"))
            ],
            next_offset: Offset(3),
        }
    );
}

#[test]
fn propose_on_a_non_leader_names_the_leader_it_knows() {
    let mut node = open(2, &[1, 2, 3]);
    let error = node.propose(NOW_MS, vec![Bytes::from_static(b"x")]).expect_err("not leader");
    assert!(matches!(error, ProposeError::NotLeader { leader_hint: None }), "{error}");
    let request =
        BeginQuorumEpochRequest { correlation_id: 1, leader_epoch: LeaderEpoch(1), leader_id: 3 };
    node.handle_message(NOW_MS, 3, RaftMessage::BeginQuorumEpochRequest(request)).expect("begin");
    let error = node.propose(NOW_MS, vec![Bytes::from_static(b"x")]).expect_err("not leader");
    assert!(matches!(error, ProposeError::NotLeader { leader_hint: Some(3) }), "{error}");
}

#[test]
fn a_leader_that_no_majority_fetches_from_resigns_after_the_check_quorum_timeout() {
    let mut node = open(1, &[1, 2, 3]);
    let now = elect(&mut node, &[2]);
    let check_quorum_ms = (node.config().fetch_timeout_ms as f64 * 1.5) as i64;
    // BeginQuorumEpoch is resent meanwhile; drive every timer up to the check-quorum deadline.
    let mut at = now;
    while node.role() == Role::Leader {
        at = node.next_deadline_ms().expect("timers");
        node.handle_timeout(at).expect("timeout");
        drain(&mut node);
    }
    assert_eq!(at, now + check_quorum_ms);
    assert_eq!(node.role(), Role::Resigned);
    assert_eq!(node.leader_id(), Some(1), "a resigned leader still names itself for its epoch");
}

#[test]
fn an_oversized_proposal_is_refused_without_taking_the_node_offline() {
    let mut node = open_with(RaftConfig {
        log: LogConfig { max_message_bytes: 200, ..config(1, &[1]).log },
        ..config(1, &[1])
    });
    let now = fire(&mut node);
    let error = node.propose(now, vec![Bytes::from(vec![7u8; 500])]).expect_err("too large");
    assert!(matches!(error, ProposeError::BatchTooLarge { max: 200, .. }), "{error}");
    assert_eq!(node.offline_reason(), None);
    node.propose(now, vec![Bytes::from_static(b"small")]).expect("a small one still goes");
}
