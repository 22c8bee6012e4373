//! Fetch on both sides: records, the high watermark, held fetches, diverging epochs and
//! truncation, fencing (KIP-595 "Fetch"; KIP-320's diverging epoch in Fetch v12+).

use super::*;

fn begin(node: &mut TestNode, now: i64, epoch: i32, leader: i32) {
    let request = BeginQuorumEpochRequest {
        correlation_id: 1,
        leader_epoch: LeaderEpoch(epoch),
        leader_id: leader,
    };
    node.handle_message(now, leader, RaftMessage::BeginQuorumEpochRequest(request)).expect("begin");
}

#[test]
fn the_leader_sends_records_then_counts_the_next_fetch_offset_toward_the_high_watermark() {
    let mut leader = open(1, &[1, 2, 3]);
    let now = elect(&mut leader, &[2]);

    // Node 2 fetches from 0: it gets the LeaderChange batch, and no high watermark yet.
    leader
        .handle_message(now, 2, RaftMessage::FetchRequest(fetch_request(10, 2, 1, 0, 0)))
        .expect("fetch");
    let outputs = drain(&mut leader);
    let [RaftOutput::Send { to: 2, message: RaftMessage::FetchResponse(response) }] = &outputs[..]
    else {
        panic!("{outputs:?}");
    };
    assert_eq!(response.correlation_id, 10);
    assert_eq!(response.high_watermark, None);
    assert_eq!(response.diverging_epoch, None);
    assert_eq!((response.leader_epoch, response.leader_id), (LeaderEpoch(1), Some(1)));
    assert_eq!(BatchHeader::parse(&response.records).expect("batch").base_offset, Offset(0));

    // Node 2's next fetch (offset 1) makes {1, 2} a majority at 1: the high watermark moves,
    // and the fetch, which would otherwise wait, is answered at once with it.
    leader
        .handle_message(now, 2, RaftMessage::FetchRequest(fetch_request(11, 2, 1, 1, 1)))
        .expect("fetch");
    assert_eq!(
        drain(&mut leader),
        vec![
            RaftOutput::HighWatermark(Offset(1)),
            send(2, empty_fetch_response(11, RaftErrorCode::None, Some(1), 1, Some(1))),
        ]
    );

    // With nothing new the next fetch waits, and is answered when records arrive.
    leader
        .handle_message(now, 2, RaftMessage::FetchRequest(fetch_request(12, 2, 1, 1, 1)))
        .expect("fetch");
    assert_eq!(drain(&mut leader), vec![]);
    leader.propose(now + 5, vec![Bytes::from_static(b"x")]).expect("propose");
    let outputs = drain(&mut leader);
    let [RaftOutput::Send { to: 2, message: RaftMessage::FetchResponse(response) }] = &outputs[..]
    else {
        panic!("{outputs:?}");
    };
    assert_eq!((response.correlation_id, response.high_watermark), (12, Some(Offset(1))));
    assert_eq!(BatchHeader::parse(&response.records).expect("batch").base_offset, Offset(1));
}

#[test]
fn a_held_fetch_is_answered_empty_when_its_wait_ends() {
    let mut leader = open(1, &[1, 2, 3]);
    let now = elect(&mut leader, &[2]);
    // The first fetch at 1 commits the LeaderChange and is answered at once; the second
    // finds nothing new and waits.
    leader
        .handle_message(now, 3, RaftMessage::FetchRequest(fetch_request(20, 3, 1, 1, 1)))
        .expect("fetch");
    drain(&mut leader);
    leader
        .handle_message(now, 3, RaftMessage::FetchRequest(fetch_request(21, 3, 1, 1, 1)))
        .expect("fetch");
    assert_eq!(drain(&mut leader), vec![]);
    let mut at = now;
    let mut answered = Vec::new();
    while answered.is_empty() {
        at = leader.next_deadline_ms().expect("deadline");
        leader.handle_timeout(at).expect("timeout");
        answered = drain(&mut leader)
            .into_iter()
            .filter(|o| matches!(o, RaftOutput::Send { to: 3, .. }))
            .collect();
    }
    assert_eq!(at, now + 500);
    assert_eq!(
        answered,
        vec![send(3, empty_fetch_response(21, RaftErrorCode::None, Some(1), 1, Some(1)))]
    );
}

#[test]
fn a_follower_appends_flushes_and_learns_the_high_watermark_bounded_by_its_log() {
    let mut leader = open(1, &[1, 2, 3]);
    let mut follower = open(2, &[1, 2, 3]);
    let now = elect(&mut leader, &[2]);
    leader.propose(now, vec![Bytes::from_static(b"a")]).expect("propose");
    leader.handle_timeout(now + 25).expect("flush");
    begin(&mut follower, now + 25, 1, 1);
    deliver_all(&mut [&mut leader, &mut follower], now + 25);
    assert_eq!(follower.log_end_offset(), Offset(2));
    assert_eq!(follower.durable_offset(), Offset(2), "a voter flushes before its next fetch");
    assert_eq!(leader.high_watermark(), Some(Offset(2)));
    assert_eq!(follower.high_watermark(), Some(Offset(2)));
    assert_eq!(log_records(&follower), log_records(&leader));
    assert_eq!(
        follower.committed(Offset(0), 1 << 20).expect("read").records,
        vec![(Offset(1), Bytes::from_static(b"a"))]
    );
}

#[test]
fn a_diverged_follower_gets_the_diverging_epoch_truncates_and_catches_up() {
    // Epoch 1: node 1 leads with node 2's vote; node 2 copies the LeaderChange at 0. Node 1
    // appends "lost" at 1 that nobody copies. Epoch 2: node 2 leads with node 3's vote.
    let mut one = open(1, &[1, 2, 3]);
    let mut two = open(2, &[1, 2, 3]);
    let mut three = open(3, &[1, 2, 3]);
    let now = elect(&mut one, &[2]);
    begin(&mut two, now, 1, 1);
    deliver_all(&mut [&mut one, &mut two], now);
    one.propose(now, vec![Bytes::from_static(b"lost")]).expect("propose");
    drain(&mut one);
    assert_eq!(one.log_end_offset(), Offset(2));

    let now = now + 10_000;
    two.handle_timeout(now).expect("fetch timeout");
    assert_eq!(two.role(), Role::Candidate);
    deliver_all(&mut [&mut two, &mut three], now);
    assert_eq!(two.role(), Role::Leader);
    assert_eq!(two.epoch(), LeaderEpoch(2));

    // Node 1 learns of epoch 2 and fetches with (offset 2, epoch 1); node 2's epoch 1 ends
    // at 1, so it answers with the diverging epoch (1, 1).
    begin(&mut one, now, 2, 2);
    let outputs = drain(&mut one);
    let fetch = sent(&outputs).into_iter().find_map(|(_, m)| match m {
        RaftMessage::FetchRequest(f) => Some(f),
        _ => None,
    });
    let fetch = fetch.expect("a fetch");
    assert_eq!((fetch.fetch_offset, fetch.last_fetched_epoch), (Offset(2), LeaderEpoch(1)));
    two.handle_message(now, 1, RaftMessage::FetchRequest(fetch.clone())).expect("fetch");
    let outputs = drain(&mut two);
    assert_eq!(
        outputs,
        vec![send(
            1,
            RaftMessage::FetchResponse(FetchResponse {
                correlation_id: fetch.correlation_id,
                error: RaftErrorCode::None,
                high_watermark: Some(Offset(2)),
                log_start_offset: Offset(0),
                diverging_epoch: Some(DivergingEpoch {
                    epoch: LeaderEpoch(1),
                    end_offset: Offset(1)
                }),
                leader_epoch: LeaderEpoch(2),
                leader_id: Some(2),
                records: Bytes::new(),
            })
        )]
    );
    let RaftOutput::Send { message, .. } = outputs.into_iter().next().expect("one") else {
        unreachable!()
    };
    one.handle_message(now, 2, message).expect("diverging");
    assert_eq!(one.log_end_offset(), Offset(1), "truncated to the end of epoch 1 on the leader");
    assert_eq!(one.epoch_cache().latest_epoch(), Some(LeaderEpoch(1)));
    let next = sent(&drain(&mut one));
    let [(2, RaftMessage::FetchRequest(next))] = &next[..] else { panic!("{next:?}") };
    assert_eq!((next.fetch_offset, next.last_fetched_epoch), (Offset(1), LeaderEpoch(1)));

    two.handle_message(now, 1, RaftMessage::FetchRequest(next.clone())).expect("fetch");
    deliver_all(&mut [&mut one, &mut two], now);
    assert_eq!(log_records(&one), log_records(&two));
    assert!(log_records(&one).iter().all(|r| r.3.as_deref() != Some(&b"lost"[..])));
}

#[test]
fn fetches_of_older_and_newer_epochs_are_fenced_and_a_newer_one_unseats_the_leader() {
    let mut leader = open(1, &[1, 2, 3]);
    let now = elect(&mut leader, &[2]);
    leader
        .handle_message(now, 2, RaftMessage::FetchRequest(fetch_request(1, 2, 0, 0, 0)))
        .expect("fetch");
    assert_eq!(
        drain(&mut leader),
        vec![send(2, empty_fetch_response(1, RaftErrorCode::FencedLeaderEpoch, None, 1, Some(1)))]
    );
    leader
        .handle_message(now, 3, RaftMessage::FetchRequest(fetch_request(2, 3, 4, 0, 0)))
        .expect("fetch");
    assert_eq!(
        drain(&mut leader),
        vec![
            RaftOutput::LeaderChange { epoch: LeaderEpoch(4), leader: None },
            send(3, empty_fetch_response(2, RaftErrorCode::UnknownLeaderEpoch, None, 4, None)),
        ]
    );
    assert_eq!(leader.role(), Role::Unattached);
    assert_eq!(leader.epoch(), LeaderEpoch(4));
}

#[test]
fn a_non_leader_answers_a_fetch_with_the_leader_it_knows() {
    let mut follower = open(2, &[1, 2, 3]);
    begin(&mut follower, NOW_MS, 3, 1);
    drain(&mut follower);
    follower
        .handle_message(NOW_MS, 9, RaftMessage::FetchRequest(fetch_request(5, 9, 0, 0, 0)))
        .expect("fetch");
    assert_eq!(
        drain(&mut follower),
        vec![send(9, empty_fetch_response(5, RaftErrorCode::FencedLeaderEpoch, None, 3, Some(1)))]
    );
}

#[test]
fn an_observer_finds_the_leader_through_any_voter_and_follows_it() {
    let mut observer = open(9, &[1, 2, 3]);
    let outputs = drain(&mut observer);
    let discovery = sent(&outputs);
    let [(voter, RaftMessage::FetchRequest(request))] = &discovery[..] else {
        panic!("{outputs:?}")
    };
    assert_eq!((request.replica_id, request.current_leader_epoch), (9, LeaderEpoch(0)));
    assert_eq!(observer.role(), Role::Unattached);
    // The voter knows leader 2 of epoch 3.
    observer
        .handle_message(
            NOW_MS,
            *voter,
            empty_fetch_response(
                request.correlation_id,
                RaftErrorCode::FencedLeaderEpoch,
                None,
                3,
                Some(2),
            ),
        )
        .expect("response");
    let outputs = drain(&mut observer);
    assert_eq!(outputs[0], RaftOutput::LeaderChange { epoch: LeaderEpoch(3), leader: Some(2) });
    let [(2, RaftMessage::FetchRequest(_))] = &sent(&outputs)[..] else { panic!("{outputs:?}") };
    assert_eq!(observer.role(), Role::Follower);

    // An observer whose leader goes quiet looks for one again; it never stands.
    let deadline = NOW_MS + observer.config().fetch_timeout_ms;
    observer.handle_timeout(deadline).expect("timeout");
    assert_eq!(observer.role(), Role::Unattached);
    assert_eq!(observer.epoch(), LeaderEpoch(3));
    let outputs = drain(&mut observer);
    assert!(matches!(&sent(&outputs)[..], [(_, RaftMessage::FetchRequest(_))]), "{outputs:?}");
}

#[test]
fn a_voter_follower_whose_fetches_time_out_stands_for_election() {
    // A request timeout below the fetch timeout, so that a lost fetch is sent again.
    let mut follower = open_with(RaftConfig { request_timeout_ms: 1_000, ..config(2, &[1, 2, 3]) });
    begin(&mut follower, NOW_MS, 3, 1);
    drain(&mut follower);
    // The unanswered fetch is sent again after the request timeout...
    let (request_timeout_ms, fetch_timeout_ms) =
        (follower.config().request_timeout_ms, follower.config().fetch_timeout_ms);
    follower.handle_timeout(NOW_MS + request_timeout_ms).expect("timeout");
    let resent = sent(&drain(&mut follower));
    assert!(matches!(&resent[..], [(1, RaftMessage::FetchRequest(_))]), "{resent:?}");
    // ...and at the fetch timeout the follower stands in the next epoch.
    follower.handle_timeout(NOW_MS + fetch_timeout_ms).expect("timeout");
    assert_eq!(follower.role(), Role::Candidate);
    assert_eq!(follower.epoch(), LeaderEpoch(4));
}
