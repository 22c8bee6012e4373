//! The JSON summary of one run.
//!
//! Inputs: a [`RunOutcome`]. Outputs: pretty JSON with what a machine needs to compare runs:
//! verdict, counts, per-property results, claims, the findings (violations and anomalies,
//! at most [`JSON_FINDINGS_MAX`] per property, with how many were left out), the
//! high-watermark series, the steps as fired, and the trace hash. The history and the trace
//! are left out: the trace hash identifies them and `replay --trace` regenerates them.
//! Invariants: the same outcome gives the same bytes (struct fields in declaration order,
//! maps ordered by key, an absolute source path cut to start at `scenarios/`); arrays of
//! scalars are written on one line (a high-watermark point is `[time, broker, hw]`),
//! everything else one value per line.

use crate::check::{Anomaly, ConsumeCounts, Counts};
use crate::ground_truth::Violation;
use crate::outcome::{RunOutcome, StepFired};
use crate::properties::PROPERTIES;
use crate::verdict::{ClaimResult, PropertyResult, Verdict};
use serde::Serialize;
use serde_json::ser::{CompactFormatter, Formatter};
use std::collections::BTreeMap;
use std::io;

/// Findings written per property; the rest are counted in `findings_omitted`.
pub const JSON_FINDINGS_MAX: usize = 50;
/// Values and offsets written per anomaly; the rest are counted.
const ANOMALY_ITEMS_MAX: usize = 20;

#[derive(Serialize)]
struct OutcomeJson<'a> {
    scenario: &'a str,
    source: Option<String>,
    seed: u64,
    verdict: &'a Verdict,
    duration_ms: u64,
    liveness_start_ms: Option<u64>,
    trace_hash: &'a str,
    counts: Option<&'a Counts>,
    missing_at_end: u64,
    consume_counts: Option<&'a BTreeMap<String, ConsumeCounts>>,
    properties: &'a [PropertyResult],
    not_applicable: Vec<NotApplicable>,
    claims: &'a [ClaimResult],
    violations: Vec<&'a Violation>,
    anomalies: Vec<AnomalyJson<'a>>,
    /// Per property, findings beyond [`JSON_FINDINGS_MAX`] not written above.
    findings_omitted: BTreeMap<&'static str, u64>,
    hw_series: BTreeMap<String, &'a [(u64, u32, i64)]>,
    steps_fired: &'a [StepFired],
}

#[derive(Serialize)]
struct NotApplicable {
    property: &'static str,
    why: String,
}

#[derive(Serialize)]
struct AnomalyJson<'a> {
    property: &'static str,
    partition: Option<String>,
    process: Option<&'a str>,
    values: &'a [String],
    #[serde(skip_serializing_if = "is_zero")]
    values_omitted: usize,
    offsets: &'a [i64],
    #[serde(skip_serializing_if = "is_zero")]
    offsets_omitted: usize,
    explanation: &'a str,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl<'a> AnomalyJson<'a> {
    fn of(a: &'a Anomaly) -> Self {
        let values = &a.values[..a.values.len().min(ANOMALY_ITEMS_MAX)];
        let offsets = &a.offsets[..a.offsets.len().min(ANOMALY_ITEMS_MAX)];
        AnomalyJson {
            property: a.property,
            partition: a.key.as_ref().map(|k| k.to_string()),
            process: a.process.as_deref(),
            values,
            values_omitted: a.values.len() - values.len(),
            offsets,
            offsets_omitted: a.offsets.len() - offsets.len(),
            explanation: &a.explanation,
        }
    }
}

/// The JSON summary of a run (see the module doc for what it holds).
pub fn outcome_json(outcome: &RunOutcome) -> String {
    let anomalies_all = outcome.check.as_ref().map_or(&[][..], |c| &c.anomalies[..]);
    let mut violations = Vec::new();
    let mut anomalies = Vec::new();
    let mut findings_omitted = BTreeMap::new();
    for property in PROPERTIES {
        let of_violations: Vec<&Violation> =
            outcome.violations.iter().filter(|v| v.property == property.name).collect();
        let of_anomalies: Vec<&Anomaly> =
            anomalies_all.iter().filter(|a| a.property == property.name).collect();
        let total = of_violations.len() + of_anomalies.len();
        let kept_violations = of_violations.len().min(JSON_FINDINGS_MAX);
        let kept_anomalies = of_anomalies.len().min(JSON_FINDINGS_MAX - kept_violations);
        violations.extend(&of_violations[..kept_violations]);
        anomalies.extend(of_anomalies[..kept_anomalies].iter().map(|a| AnomalyJson::of(a)));
        if total > kept_violations + kept_anomalies {
            findings_omitted
                .insert(property.name, (total - kept_violations - kept_anomalies) as u64);
        }
    }
    let view = OutcomeJson {
        scenario: &outcome.scenario,
        source: outcome.source.as_deref().map(super::portable_source),
        seed: outcome.seed,
        verdict: &outcome.verdict,
        duration_ms: outcome.duration_ms,
        liveness_start_ms: outcome.liveness_start_ms,
        trace_hash: &outcome.trace_hash,
        counts: outcome.check.as_ref().map(|c| &c.counts),
        missing_at_end: super::RunCounts::of(outcome).map_or(0, |c| c.missing_at_end),
        consume_counts: outcome.check.as_ref().map(|c| &c.consume_counts),
        properties: &outcome.properties,
        not_applicable: super::not_applicable(outcome)
            .into_iter()
            .map(|(property, why)| NotApplicable { property, why })
            .collect(),
        claims: &outcome.claims,
        violations,
        anomalies,
        findings_omitted,
        hw_series: outcome.hw_series.iter().map(|(k, v)| (k.to_string(), &v[..])).collect(),
        steps_fired: &outcome.steps_fired,
    };
    let mut bytes = Vec::new();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut bytes, LineFormatter::default());
    view.serialize(&mut serializer).expect("a run outcome always serializes to JSON");
    bytes.push(b'\n');
    String::from_utf8(bytes).expect("serde_json writes UTF-8")
}

/// How an array is laid out, decided by its first element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// No element yet.
    Undecided,
    /// Scalars: `[1, 2, 3]` on one line.
    Line,
    /// Containers: one per line.
    Block,
    /// An object; `empty` until its first key.
    Object { empty: bool },
}

/// Pretty JSON, except that arrays whose first element is a scalar go on one line. The
/// layout of an array is decided when its first element starts, so nothing is buffered.
#[derive(Default)]
struct LineFormatter {
    stack: Vec<Layout>,
    /// Set between `begin_array_value` and the start of that value: whether it is the first.
    pending_first: Option<bool>,
}

impl LineFormatter {
    fn indent<W: ?Sized + io::Write>(&self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b"\n")?;
        for _ in 0..self.stack.len() {
            writer.write_all(b"  ")?;
        }
        Ok(())
    }

    /// Called as any value starts: writes the separator an array element needs.
    fn value_starts<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        container: bool,
    ) -> io::Result<()> {
        let Some(first) = self.pending_first.take() else { return Ok(()) };
        let top = self.stack.last_mut().expect("an array element is inside an array");
        if *top == Layout::Undecided {
            *top = if container { Layout::Block } else { Layout::Line };
        }
        match *top {
            Layout::Line if !first => writer.write_all(b", "),
            Layout::Line => Ok(()),
            _ => {
                if !first {
                    writer.write_all(b",")?;
                }
                self.indent(writer)
            }
        }
    }
}

macro_rules! scalar {
    ($($name:ident($ty:ty)),* $(,)?) => {$(
        fn $name<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: $ty) -> io::Result<()> {
            self.value_starts(writer, false)?;
            CompactFormatter.$name(writer, value)
        }
    )*};
}

impl Formatter for LineFormatter {
    scalar!(
        write_bool(bool),
        write_i8(i8),
        write_i16(i16),
        write_i32(i32),
        write_i64(i64),
        write_i128(i128),
        write_u8(u8),
        write_u16(u16),
        write_u32(u32),
        write_u64(u64),
        write_u128(u128),
        write_f32(f32),
        write_f64(f64),
        write_number_str(&str),
        write_raw_fragment(&str),
    );

    fn write_null<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.value_starts(writer, false)?;
        writer.write_all(b"null")
    }

    fn begin_string<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        // Object keys are strings too; no element is pending then, so nothing is written.
        self.value_starts(writer, false)?;
        writer.write_all(b"\"")
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.value_starts(writer, true)?;
        self.stack.push(Layout::Undecided);
        writer.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        let layout = self.stack.pop().expect("arrays end after they begin");
        if layout == Layout::Block {
            self.indent(writer)?;
        }
        writer.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        _writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.pending_first = Some(first);
        Ok(())
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.value_starts(writer, true)?;
        self.stack.push(Layout::Object { empty: true });
        writer.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        let layout = self.stack.pop().expect("objects end after they begin");
        if layout == (Layout::Object { empty: false }) {
            self.indent(writer)?;
        }
        writer.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if let Some(Layout::Object { empty }) = self.stack.last_mut() {
            *empty = false;
        }
        if !first {
            writer.write_all(b",")?;
        }
        self.indent(writer)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }
}
