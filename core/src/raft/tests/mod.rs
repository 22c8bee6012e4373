//! Unit tests of the Raft handlers, one file per handler (openraft's engine tests): each
//! feeds one input to a node on real files and asserts the exact outputs, the role and what
//! was persisted. No network and no runtime: messages are passed by hand.

mod election_test;
mod fetch_test;
mod resign_test;
mod restart_test;
mod vote_test;

use super::*;
use crate::storage::FileStorage;

pub(super) const NOW_MS: i64 = 1_700_000_000_000;

pub(super) struct TestNode {
    pub tmp: tempfile::TempDir,
    pub node: RaftNode<FileStorage>,
}

impl std::ops::Deref for TestNode {
    type Target = RaftNode<FileStorage>;
    fn deref(&self) -> &Self::Target {
        &self.node
    }
}

impl std::ops::DerefMut for TestNode {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.node
    }
}

pub(super) fn config(id: i32, voters: &[i32]) -> RaftConfig {
    RaftConfig::new(id, voters.to_vec())
}

/// Opens node `id` of `voters` in a fresh directory (seed = id).
pub(super) fn open(id: i32, voters: &[i32]) -> TestNode {
    open_with(config(id, voters))
}

pub(super) fn open_with(config: RaftConfig) -> TestNode {
    let tmp = tempfile::tempdir().expect("tempdir");
    let seed = config.node_id as u64;
    let node = RaftNode::open(
        FileStorage::new(),
        tmp.path().join("__cluster_metadata-0"),
        config,
        NOW_MS,
        seed,
    )
    .expect("open");
    TestNode { tmp, node }
}

/// Drops the node (a process crash: FileStorage keeps what was written) and opens it again.
pub(super) fn restart(test: TestNode, now_ms: i64) -> TestNode {
    let TestNode { tmp, node } = test;
    let config = node.config().clone();
    let dir = node.dir().to_path_buf();
    drop(node);
    let node = RaftNode::open(
        FileStorage::new(),
        dir,
        config.clone(),
        now_ms,
        config.node_id as u64 + 100,
    )
    .expect("reopen");
    TestNode { tmp, node }
}

pub(super) fn drain(node: &mut RaftNode<FileStorage>) -> Vec<RaftOutput> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

pub(super) fn send(to: i32, message: RaftMessage) -> RaftOutput {
    RaftOutput::Send { to, message }
}

/// The messages among `outputs`, by destination.
pub(super) fn sent(outputs: &[RaftOutput]) -> Vec<(i32, RaftMessage)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            RaftOutput::Send { to, message } => Some((*to, message.clone())),
            _ => None,
        })
        .collect()
}

pub(super) fn vote_request(
    correlation_id: i32,
    epoch: i32,
    candidate: i32,
    last: (i32, i64),
) -> RaftMessage {
    RaftMessage::VoteRequest(VoteRequest {
        correlation_id,
        candidate_epoch: LeaderEpoch(epoch),
        candidate_id: candidate,
        last_offset_epoch: LeaderEpoch(last.0),
        last_offset: Offset(last.1),
    })
}

pub(super) fn vote_response(
    correlation_id: i32,
    epoch: i32,
    leader: Option<i32>,
    granted: bool,
) -> RaftMessage {
    RaftMessage::VoteResponse(VoteResponse {
        correlation_id,
        error: RaftErrorCode::None,
        leader_epoch: LeaderEpoch(epoch),
        leader_id: leader,
        vote_granted: granted,
    })
}

pub(super) fn fetch_request(
    correlation_id: i32,
    replica: i32,
    epoch: i32,
    offset: i64,
    last_epoch: i32,
) -> FetchRequest {
    FetchRequest {
        correlation_id,
        replica_id: replica,
        current_leader_epoch: LeaderEpoch(epoch),
        fetch_offset: Offset(offset),
        last_fetched_epoch: LeaderEpoch(last_epoch),
        max_wait_ms: 500,
        max_bytes: 8 << 20,
    }
}

pub(super) fn empty_fetch_response(
    correlation_id: i32,
    error: RaftErrorCode,
    high_watermark: Option<i64>,
    epoch: i32,
    leader: Option<i32>,
) -> RaftMessage {
    RaftMessage::FetchResponse(FetchResponse {
        correlation_id,
        error,
        high_watermark: high_watermark.map(Offset),
        log_start_offset: Offset(0),
        diverging_epoch: None,
        leader_epoch: LeaderEpoch(epoch),
        leader_id: leader,
        records: Bytes::new(),
    })
}

/// Runs the node's timers at its next deadline; returns that time.
pub(super) fn fire(node: &mut RaftNode<FileStorage>) -> i64 {
    let at = node.next_deadline_ms().expect("a deadline");
    node.handle_timeout(at).expect("timeout");
    at
}

/// Makes `node` leader of the next epoch with votes from `granting`; returns the time.
pub(super) fn elect(node: &mut RaftNode<FileStorage>, granting: &[i32]) -> i64 {
    let now = fire(node);
    assert_eq!(node.role(), Role::Candidate);
    let epoch = node.epoch().0;
    for (to, message) in sent(&drain(node)) {
        if let RaftMessage::VoteRequest(request) = message {
            if granting.contains(&to) {
                node.handle_message(
                    now,
                    to,
                    vote_response(request.correlation_id, epoch, None, true),
                )
                .expect("vote response");
            }
        }
    }
    assert_eq!(node.role(), Role::Leader);
    drain(node);
    now
}

/// Delivers every message between `nodes` until none is left (requests and responses),
/// in order; messages to nodes not in the list are dropped.
pub(super) fn deliver_all(nodes: &mut [&mut TestNode], now_ms: i64) {
    let mut queue: std::collections::VecDeque<(i32, i32, RaftMessage)> = Default::default();
    for node in nodes.iter_mut() {
        let from = node.node_id();
        for (to, message) in sent(&drain(node)) {
            queue.push_back((from, to, message));
        }
    }
    let mut steps = 0;
    while let Some((from, to, message)) = queue.pop_front() {
        steps += 1;
        assert!(steps < 10_000, "messages keep flowing");
        let Some(target) = nodes.iter_mut().find(|n| n.node_id() == to) else { continue };
        target.handle_message(now_ms, from, message).expect("handle");
        for (next_to, next) in sent(&drain(target)) {
            queue.push_back((to, next_to, next));
        }
    }
}

/// The epochs and values of the records in the node's log.
pub(super) fn log_records(node: &RaftNode<FileStorage>) -> Vec<(i64, i32, bool, Option<Bytes>)> {
    let log = node.log();
    let read = log
        .read(log.log_start_offset(), usize::MAX >> 1, log.log_end_offset(), true)
        .expect("read");
    decode_records(&read.records)
        .into_iter()
        .map(|r| (r.offset.0, r.epoch.0, r.control, r.value))
        .collect()
}

pub(super) fn persisted(node: &TestNode) -> ElectionState {
    quorum_state::read(&FileStorage::new(), node.dir()).expect("read").expect("exists")
}
