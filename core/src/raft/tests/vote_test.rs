//! Vote requests and responses (KIP-595 "Vote"; Raft paper §5.2, §5.4.1).

use super::*;

#[test]
fn a_voter_grants_one_vote_per_epoch_and_persists_it_before_answering() {
    let mut node = open(2, &[1, 2, 3]);
    drain(&mut node);
    node.handle_message(NOW_MS, 1, vote_request(7, 1, 1, (0, 0))).expect("vote");
    assert_eq!(
        drain(&mut node),
        vec![
            RaftOutput::LeaderChange { epoch: LeaderEpoch(1), leader: None },
            send(1, vote_response(7, 1, None, true)),
        ]
    );
    assert_eq!(node.role(), Role::Voted);
    assert_eq!(
        persisted(&node),
        ElectionState { epoch: LeaderEpoch(1), leader_id: None, voted_id: Some(1) }
    );

    // Another candidate of the same epoch is refused; the same one again is granted.
    node.handle_message(NOW_MS, 3, vote_request(8, 1, 3, (0, 0))).expect("vote");
    assert_eq!(drain(&mut node), vec![send(3, vote_response(8, 1, None, false))]);
    node.handle_message(NOW_MS, 1, vote_request(9, 1, 1, (0, 0))).expect("vote");
    assert_eq!(drain(&mut node), vec![send(1, vote_response(9, 1, None, true))]);
    assert_eq!(persisted(&node).voted_id, Some(1));
}

#[test]
fn a_candidate_with_a_less_up_to_date_log_is_refused() {
    // Node 1 leads epoch 1 and commits a record with node 2; node 3 never saw it.
    let mut leader = open(1, &[1, 2, 3]);
    let mut follower = open(2, &[1, 2, 3]);
    let now = elect(&mut leader, &[2]);
    follower
        .handle_message(
            now,
            1,
            RaftMessage::BeginQuorumEpochRequest(BeginQuorumEpochRequest {
                correlation_id: 1,
                leader_epoch: LeaderEpoch(1),
                leader_id: 1,
            }),
        )
        .expect("begin");
    deliver_all(&mut [&mut leader, &mut follower], now);
    assert_eq!(follower.log_end_offset(), Offset(1));

    // Node 3 stands in epoch 2 with an empty log: node 2 has (1, 1) and refuses.
    follower.handle_message(now, 3, vote_request(5, 2, 3, (0, 0))).expect("vote");
    let outputs = drain(&mut follower);
    assert_eq!(
        outputs,
        vec![
            RaftOutput::LeaderChange { epoch: LeaderEpoch(2), leader: None },
            send(3, vote_response(5, 2, None, false)),
        ]
    );
    assert_eq!(follower.role(), Role::Unattached);
    assert_eq!(persisted(&follower).voted_id, None, "a refused vote is not recorded");

    // A candidate as up to date is granted in the same epoch.
    follower.handle_message(now, 1, vote_request(6, 2, 1, (1, 1))).expect("vote");
    assert_eq!(drain(&mut follower), vec![send(1, vote_response(6, 2, None, true))]);
}

#[test]
fn a_vote_request_of_an_older_epoch_is_fenced_and_a_malformed_one_is_invalid() {
    let mut node = open(2, &[1, 2, 3]);
    node.handle_message(NOW_MS, 1, vote_request(1, 3, 1, (0, 0))).expect("vote");
    drain(&mut node);
    node.handle_message(NOW_MS, 3, vote_request(2, 2, 3, (0, 0))).expect("vote");
    let fenced = RaftMessage::VoteResponse(VoteResponse {
        correlation_id: 2,
        error: RaftErrorCode::FencedLeaderEpoch,
        leader_epoch: LeaderEpoch(3),
        leader_id: None,
        vote_granted: false,
    });
    assert_eq!(drain(&mut node), vec![send(3, fenced)]);
    // The last epoch must be below the candidate's epoch.
    node.handle_message(NOW_MS, 3, vote_request(3, 4, 3, (4, 0))).expect("vote");
    let [RaftOutput::Send { message: RaftMessage::VoteResponse(response), .. }] =
        &drain(&mut node)[..]
    else {
        panic!("one response");
    };
    assert_eq!(response.error, RaftErrorCode::InvalidRequest);
    assert_eq!(node.epoch(), LeaderEpoch(3), "an invalid request changes nothing");
}

#[test]
fn an_observer_and_a_stranger_get_inconsistent_voter_set() {
    let mut observer = open(9, &[1, 2, 3]);
    drain(&mut observer);
    observer.handle_message(NOW_MS, 1, vote_request(1, 1, 1, (0, 0))).expect("vote");
    let outputs = drain(&mut observer);
    let [RaftOutput::Send { message: RaftMessage::VoteResponse(response), .. }] = &outputs[..]
    else {
        panic!("one response: {outputs:?}");
    };
    assert_eq!(response.error, RaftErrorCode::InconsistentVoterSet);
    assert!(!response.vote_granted);
    assert_eq!(observer.epoch(), LeaderEpoch(0));
}

#[test]
fn a_candidate_rejected_by_a_majority_backs_off_then_stands_in_the_next_epoch() {
    let mut node = open(1, &[1, 2, 3]);
    let now = fire(&mut node);
    let requests = sent(&drain(&mut node));
    assert_eq!(node.role(), Role::Candidate);
    for (to, message) in requests {
        let RaftMessage::VoteRequest(request) = message else { panic!("vote request") };
        node.handle_message(now, to, vote_response(request.correlation_id, 1, None, false))
            .expect("vote");
    }
    assert_eq!(drain(&mut node), vec![], "backing off sends nothing");
    assert_eq!(node.role(), Role::Candidate);
    let backoff_end = node.next_deadline_ms().expect("backoff");
    assert!(backoff_end <= now + node.config().election_backoff_max_ms);
    node.handle_timeout(backoff_end).expect("timeout");
    assert_eq!(node.epoch(), LeaderEpoch(2));
    assert_eq!(persisted(&node).voted_id, Some(1));
    let outputs = drain(&mut node);
    assert_eq!(outputs[0], RaftOutput::LeaderChange { epoch: LeaderEpoch(2), leader: None });
    assert_eq!(sent(&outputs).len(), 2, "votes asked again: {outputs:?}");
}

#[test]
fn a_response_not_awaited_is_dropped() {
    let mut node = open(1, &[1, 2, 3]);
    let now = fire(&mut node);
    drain(&mut node);
    // A grant under a correlation id never sent, and one from a node never asked.
    node.handle_message(now, 2, vote_response(-5, 1, None, true)).expect("vote");
    node.handle_message(now, 7, vote_response(0, 1, None, true)).expect("vote");
    assert_eq!(node.role(), Role::Candidate);
    assert_eq!(drain(&mut node), vec![]);
}

#[test]
fn a_refused_candidate_of_a_newer_epoch_does_not_restart_the_voters_election_timer() {
    // Found by sim/tests/raft_model.rs (pinned seeds): a voter whose log is behind stood
    // again and again; had each Vote request restarted the others' election timers, no
    // up-to-date voter would ever have stood. Kafka's transitionToUnattached keeps the
    // running timer of a voter that had no leader.
    let mut leader = open(1, &[1, 2, 3]);
    let mut voter = open(2, &[1, 2, 3]);
    let now = elect(&mut leader, &[2]);
    let request =
        BeginQuorumEpochRequest { correlation_id: 1, leader_epoch: LeaderEpoch(1), leader_id: 1 };
    voter.handle_message(now, 1, RaftMessage::BeginQuorumEpochRequest(request)).expect("begin");
    deliver_all(&mut [&mut leader, &mut voter], now);
    assert_eq!(voter.log_end_offset(), Offset(1));
    // Node 2 loses its leader and stands in epoch 2.
    let now = now + 60_000;
    voter.handle_timeout(now).expect("fetch timeout");
    assert_eq!(voter.role(), Role::Candidate);
    drain(&mut voter);
    let deadline = voter.next_deadline_ms().expect("election timer");
    // Node 3, with an empty log, stands in epoch 3: refused, and the timer keeps running.
    voter.handle_message(now + 10, 3, vote_request(9, 3, 3, (0, 0))).expect("vote");
    assert_eq!(
        drain(&mut voter),
        vec![
            RaftOutput::LeaderChange { epoch: LeaderEpoch(3), leader: None },
            send(3, vote_response(9, 3, None, false)),
        ]
    );
    assert_eq!(voter.role(), Role::Unattached);
    assert_eq!(voter.next_deadline_ms(), Some(deadline));
}
