//! The `quorum-state` file: what a node must remember about elections across a crash.
//!
//! Inputs: the election state to store. Outputs: the state read back on open.
//! Invariants: the file is replaced atomically and synced (temporary file, sync, rename,
//! directory sync) before [`write`] returns, so a vote or a candidacy is never answered or
//! started on a state a crash could take back. Its format is Kafka's `quorum-state` v0 JSON
//! (`{"clusterId":"","leaderId":..,"leaderEpoch":..,"votedId":..,"appliedOffset":0,
//! "currentVoters":[{"voterId":..}],"data_version":0}`), with -1 for "none".

use crate::log::checkpoint;
use crate::storage::{OpenMode, Storage, StorageError, StorageFile, StorageResult};
use crate::types::LeaderEpoch;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The file's name in the metadata log directory, as Kafka names it.
pub const QUORUM_STATE_FILE: &str = "quorum-state";

/// The election state: the epoch, its leader if known, and this node's vote in it if cast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ElectionState {
    pub epoch: LeaderEpoch,
    pub leader_id: Option<i32>,
    pub voted_id: Option<i32>,
}

/// Why the file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum QuorumStateError {
    #[error("{path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Serialize, Deserialize)]
struct VoterJson {
    #[serde(rename = "voterId")]
    voter_id: i32,
}

#[derive(Serialize, Deserialize)]
struct QuorumStateJson {
    #[serde(rename = "clusterId")]
    cluster_id: String,
    #[serde(rename = "leaderId")]
    leader_id: i32,
    #[serde(rename = "leaderEpoch")]
    leader_epoch: i32,
    #[serde(rename = "votedId")]
    voted_id: i32,
    #[serde(rename = "appliedOffset")]
    applied_offset: i64,
    #[serde(rename = "currentVoters")]
    current_voters: Vec<VoterJson>,
    data_version: i16,
}

/// Reads the election state; `Ok(None)` when there is no file yet (a new node).
pub fn read<S: Storage>(
    storage: &S,
    dir: &Path,
) -> Result<Option<ElectionState>, QuorumStateError> {
    let path = dir.join(QUORUM_STATE_FILE);
    if !storage.exists(&path)? {
        return Ok(None);
    }
    let bytes = storage.open(&path, OpenMode::Existing)?.read_all()?;
    let corrupt =
        |reason: String| QuorumStateError::Corrupt { path: path.display().to_string(), reason };
    let json: QuorumStateJson =
        serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if json.data_version != 0 {
        return Err(corrupt(format!("unknown data_version {}", json.data_version)));
    }
    if json.leader_epoch < 0 {
        return Err(corrupt(format!("negative leaderEpoch {}", json.leader_epoch)));
    }
    let id = |id: i32| (id >= 0).then_some(id);
    Ok(Some(ElectionState {
        epoch: LeaderEpoch(json.leader_epoch),
        leader_id: id(json.leader_id),
        voted_id: id(json.voted_id),
    }))
}

/// Replaces the file with `state`, durably, before returning.
pub fn write<S: Storage>(
    storage: &S,
    dir: &Path,
    state: ElectionState,
    voters: &[i32],
) -> StorageResult<()> {
    assert!(state.epoch.0 >= 0, "epochs are never negative: {state:?}");
    let json = QuorumStateJson {
        cluster_id: String::new(),
        leader_id: state.leader_id.unwrap_or(-1),
        leader_epoch: state.epoch.0,
        voted_id: state.voted_id.unwrap_or(-1),
        applied_offset: 0,
        current_voters: voters.iter().map(|&voter_id| VoterJson { voter_id }).collect(),
        data_version: 0,
    };
    let text = serde_json::to_vec(&json).expect("quorum state serializes");
    checkpoint::write_atomically(storage, dir, QUORUM_STATE_FILE, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FileStorage;

    #[test]
    fn the_file_is_kafkas_json_and_reads_back() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let storage = FileStorage::new();
        assert!(read(&storage, tmp.path()).expect("read").is_none());
        let state = ElectionState { epoch: LeaderEpoch(7), leader_id: Some(2), voted_id: Some(3) };
        write(&storage, tmp.path(), state, &[1, 2, 3]).expect("write");
        let text = std::fs::read_to_string(tmp.path().join(QUORUM_STATE_FILE)).expect("file");
        assert_eq!(
            text,
            r#"{"clusterId":"","leaderId":2,"leaderEpoch":7,"votedId":3,"appliedOffset":0,"currentVoters":[{"voterId":1},{"voterId":2},{"voterId":3}],"data_version":0}"#
        );
        assert_eq!(read(&storage, tmp.path()).expect("read"), Some(state));
        let none = ElectionState { epoch: LeaderEpoch(0), leader_id: None, voted_id: None };
        write(&storage, tmp.path(), none, &[1]).expect("write");
        assert_eq!(read(&storage, tmp.path()).expect("read"), Some(none));
    }

    #[test]
    fn a_corrupt_file_is_an_error_that_names_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::write(tmp.path().join(QUORUM_STATE_FILE), "{\"leaderEpoch\":").expect("write");
        let error = read(&FileStorage::new(), tmp.path()).expect_err("corrupt");
        assert!(error.to_string().contains(QUORUM_STATE_FILE), "{error}");
    }
}
