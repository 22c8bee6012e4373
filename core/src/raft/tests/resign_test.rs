//! Graceful resignation: EndQuorumEpoch and its preferred successors.

use super::*;

#[test]
fn resign_names_the_most_caught_up_followers_first() {
    let mut leader = open(1, &[1, 2, 3]);
    let now = elect(&mut leader, &[2]);
    leader.propose(now, vec![Bytes::from_static(b"a")]).expect("propose");
    // Node 2 has fetched everything (its fetch waits for more), node 3 only the LeaderChange.
    leader
        .handle_message(now, 3, RaftMessage::FetchRequest(fetch_request(1, 3, 1, 1, 1)))
        .expect("fetch");
    leader
        .handle_message(now, 2, RaftMessage::FetchRequest(fetch_request(2, 2, 1, 2, 1)))
        .expect("fetch");
    drain(&mut leader);
    leader.resign(now).expect("resign");
    assert_eq!(leader.role(), Role::Resigned);
    let outputs = drain(&mut leader);
    let messages = sent(&outputs);
    let ends: Vec<(i32, Vec<i32>)> = messages
        .iter()
        .filter_map(|(to, m)| match m {
            RaftMessage::EndQuorumEpochRequest(r) => {
                assert_eq!((r.leader_epoch, r.leader_id), (LeaderEpoch(1), 1));
                Some((*to, r.preferred_successors.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(ends, vec![(2, vec![2, 3]), (3, vec![2, 3])]);
    // The held fetch of node 2 is answered: this node no longer leads.
    assert!(messages.iter().any(|(to, m)| *to == 2
        && matches!(m, RaftMessage::FetchResponse(r) if r.error == RaftErrorCode::NotLeaderOrFollower)));
    let error = leader.propose(now, vec![Bytes::from_static(b"b")]).expect_err("resigned");
    assert!(matches!(error, ProposeError::NotLeader { leader_hint: None }));
}

#[test]
fn the_first_successor_stands_at_once_and_the_second_waits() {
    let end = |successors: Vec<i32>| {
        RaftMessage::EndQuorumEpochRequest(EndQuorumEpochRequest {
            correlation_id: 3,
            leader_epoch: LeaderEpoch(1),
            leader_id: 1,
            preferred_successors: successors,
        })
    };
    let follow = |node: &mut TestNode| {
        let request = BeginQuorumEpochRequest {
            correlation_id: 1,
            leader_epoch: LeaderEpoch(1),
            leader_id: 1,
        };
        node.handle_message(NOW_MS, 1, RaftMessage::BeginQuorumEpochRequest(request))
            .expect("begin");
        drain(node);
    };
    let mut first = open(3, &[1, 2, 3]);
    follow(&mut first);
    first.handle_message(NOW_MS, 1, end(vec![3, 2])).expect("end");
    assert_eq!(
        drain(&mut first),
        vec![send(
            1,
            RaftMessage::EndQuorumEpochResponse(EndQuorumEpochResponse {
                correlation_id: 3,
                error: RaftErrorCode::None,
                leader_epoch: LeaderEpoch(1),
                leader_id: Some(1),
            })
        )]
    );
    assert_eq!(first.next_deadline_ms(), Some(NOW_MS));
    first.handle_timeout(NOW_MS).expect("timeout");
    assert_eq!(first.role(), Role::Candidate);

    let mut second = open(2, &[1, 2, 3]);
    follow(&mut second);
    second.handle_message(NOW_MS, 1, end(vec![3, 2])).expect("end");
    drain(&mut second);
    let max = second.config().election_backoff_max_ms;
    // Rank 1 of 2 successors: election.backoff.max.ms >> 1.
    assert_eq!(second.next_deadline_ms(), Some(NOW_MS + max / 2));
}
