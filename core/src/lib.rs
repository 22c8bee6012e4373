//! odradek: a Kafka-compatible streaming log.
//!
//! The core (log, partition, controller, group, txn) is sans-IO: time and randomness are
//! inputs, storage is reached only through [`storage::Storage`]. The async shell (`node`) runs
//! on tokio, which is madsim-tokio: the same code runs for real and under simulation.

pub mod broker;
pub mod client;
pub mod config;
pub mod controller;
pub mod log;
pub mod metadata;
pub mod node;
pub mod partition;
pub mod protocol;
pub mod raft;
pub mod server;
pub mod storage;
pub mod types;

pub use types::{BrokerId, LeaderEpoch, Offset, PartitionId, TopicId, TopicPartition};
