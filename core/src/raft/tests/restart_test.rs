//! What a node resumes as after a restart (Kafka's `QuorumState.initialize`).

use super::*;

#[test]
fn a_restarted_leader_is_resigned_and_asks_for_a_new_election() {
    let mut leader = open(1, &[1, 2, 3]);
    let now = elect(&mut leader, &[2]);
    let mut leader = restart(leader, now + 1);
    assert_eq!(leader.role(), Role::Resigned);
    assert_eq!(leader.epoch(), LeaderEpoch(1));
    assert_eq!(leader.high_watermark(), None, "the high watermark is not persisted");
    let outputs = drain(&mut leader);
    assert_eq!(outputs[0], RaftOutput::LeaderChange { epoch: LeaderEpoch(1), leader: Some(1) });
    let ends = sent(&outputs);
    assert!(
        ends.iter().all(|(_, m)| matches!(m, RaftMessage::EndQuorumEpochRequest(r) if r.preferred_successors.is_empty())),
        "{ends:?}"
    );
    assert_eq!(ends.len(), 2);
    assert_eq!(log_records(&leader).len(), 1, "the flushed LeaderChange survived");
}

#[test]
fn a_restarted_candidate_stands_again_in_the_same_epoch() {
    let mut node = open(1, &[1, 2, 3]);
    fire(&mut node);
    drain(&mut node);
    let mut node = restart(node, NOW_MS + 5_000);
    assert_eq!(node.role(), Role::Candidate);
    assert_eq!(node.epoch(), LeaderEpoch(1));
    let outputs = drain(&mut node);
    assert_eq!(sent(&outputs).len(), 2, "votes asked again: {outputs:?}");
}

#[test]
fn a_restarted_voter_keeps_its_vote_and_a_follower_its_leader() {
    let mut node = open(2, &[1, 2, 3]);
    node.handle_message(NOW_MS, 1, vote_request(1, 4, 1, (0, 0))).expect("vote");
    let mut node = restart(node, NOW_MS + 1);
    assert_eq!(node.role(), Role::Voted);
    assert_eq!(node.voted_id(), Some(1));
    drain(&mut node);
    node.handle_message(NOW_MS + 1, 3, vote_request(2, 4, 3, (0, 0))).expect("vote");
    assert_eq!(drain(&mut node), vec![send(3, vote_response(2, 4, None, false))], "still one vote");

    let request =
        BeginQuorumEpochRequest { correlation_id: 3, leader_epoch: LeaderEpoch(4), leader_id: 1 };
    node.handle_message(NOW_MS + 2, 1, RaftMessage::BeginQuorumEpochRequest(request))
        .expect("begin");
    let node = restart(node, NOW_MS + 3);
    assert_eq!(node.role(), Role::Follower);
    assert_eq!(
        (node.epoch(), node.leader_id(), node.voted_id()),
        (LeaderEpoch(4), Some(1), Some(1))
    );
}

#[test]
fn a_lost_epoch_checkpoint_is_rebuilt_from_the_log_on_open() {
    let mut leader = open(1, &[1]);
    let now = fire(&mut leader);
    leader.propose(now, vec![Bytes::from_static(b"a")]).expect("propose");
    leader.handle_timeout(now + 25).expect("flush");
    let path = leader.epoch_cache().path();
    let leader = {
        let TestNode { tmp, node } = leader;
        drop(node);
        std::fs::remove_file(&path).expect("remove");
        restart_dropped(tmp, now + 30)
    };
    assert_eq!(
        leader.epoch_cache().entries(),
        &[crate::log::EpochEntry { epoch: LeaderEpoch(1), start_offset: Offset(0) }]
    );
    assert_eq!(std::fs::read_to_string(&path).expect("rewritten"), "0\n1\n1 0\n");
}

fn restart_dropped(tmp: tempfile::TempDir, now_ms: i64) -> TestNode {
    let node = RaftNode::open(
        FileStorage::new(),
        tmp.path().join("__cluster_metadata-0"),
        config(1, &[1]),
        now_ms,
        5,
    )
    .expect("reopen");
    TestNode { tmp, node }
}
