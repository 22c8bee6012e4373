//! The run's trace: every event with its simulated time, and a hash of all of it.
//!
//! Inputs: events from the supervisor, the brokers' observers and the workloads. Outputs:
//! the lines (for `replay --trace`) and an FNV-1a hash (for determinism checks: the same
//! scenario, seed and commit must give the same hash in any process).

use serde::Serialize;

/// One line of the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TraceLine {
    pub time_ms: u64,
    /// Who: `supervisor`, `broker-1`, `p1`, ...
    pub source: String,
    pub text: String,
}

/// The trace of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    lines: Vec<TraceLine>,
    hash: u64,
}

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Trace {
    pub fn new() -> Self {
        Trace { lines: Vec::new(), hash: FNV_OFFSET_BASIS }
    }

    pub fn record(&mut self, time_ms: u64, source: impl Into<String>, text: impl Into<String>) {
        let line = TraceLine { time_ms, source: source.into(), text: text.into() };
        for bytes in [
            &line.time_ms.to_be_bytes()[..],
            line.source.as_bytes(),
            &[0],
            line.text.as_bytes(),
            b"\n",
        ] {
            for &b in bytes {
                self.hash = (self.hash ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
        }
        self.lines.push(line);
    }

    pub fn lines(&self) -> &[TraceLine] {
        &self.lines
    }

    /// The hash of every line so far, as 16 hex digits.
    pub fn hash(&self) -> String {
        format!("{:016x}", self.hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_lines_hash_the_same_and_any_difference_changes_it() {
        let mut a = Trace::new();
        let mut b = Trace::new();
        for t in [&mut a, &mut b] {
            t.record(5, "supervisor", "crash broker-1");
            t.record(9, "p1", "send p1-000001 ok");
        }
        assert_eq!(a.hash(), b.hash());
        b.record(10, "p1", "x");
        assert_ne!(a.hash(), b.hash());
        let mut c = Trace::new();
        c.record(5, "supervisor", "crash broker-2");
        c.record(9, "p1", "send p1-000001 ok");
        assert_ne!(a.hash(), c.hash());
    }
}
