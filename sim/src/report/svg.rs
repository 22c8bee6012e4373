//! The timeline of one run as a self-contained SVG.
//!
//! Inputs: the [`Scenario`] and its [`RunOutcome`]: the steps as fired, the high-watermark
//! series, the history and the liveness phase's start. Outputs: an SVG 1000 px wide, time on
//! the x axis from 0 to the run's end (simulated ms, ticks labelled), and lanes top to
//! bottom: one per broker (down and paused intervals, crash/restart/pause/resume markers),
//! one per partition (the leader's high watermark as a step line coloured by leader), one
//! for network and disk faults, one for clients (acknowledged sends per time bucket, failed
//! and indeterminate sends marked); the liveness phase shaded behind them; a legend.
//! Every marker carries a `<title>` with its time and what happened, and the number of its
//! step in the scenario (`L` for the liveness phase's healing).
//!
//! Invariants: self-contained (no external fonts, scripts or images; generic font family
//! only); explicit width, height and viewBox; every coordinate printed with one decimal, so
//! the same run gives the same bytes; text is XML-escaped.

use super::classify::Fault;
use crate::history::{OpKind, Outcome, TopicPartitionKey};
use crate::outcome::{RunOutcome, StepFired, StepKind};
use crate::scenario::{Action, Scenario, Target};
use std::collections::BTreeSet;
use std::fmt::Write;

const WIDTH: f64 = 1000.0;
const PLOT_LEFT: f64 = 150.0;
const PLOT_RIGHT: f64 = 975.0;
const TITLE_HEIGHT: f64 = 46.0;
const BROKER_LANE_HEIGHT: f64 = 30.0;
const HW_LANE_HEIGHT: f64 = 54.0;
const FAULT_LANE_HEIGHT: f64 = 40.0;
const CLIENT_LANE_HEIGHT: f64 = 84.0;
const LANE_GAP: f64 = 6.0;
const AXIS_HEIGHT: f64 = 40.0;
const LEGEND_ROW_HEIGHT: f64 = 20.0;
const LEGEND_COLUMN_WIDTH: f64 = 240.0;
/// Partitions drawn at most; the rest are named in a note.
const HW_LANES_MAX: usize = 24;
/// Time buckets of the clients lane.
const SEND_BUCKETS: u64 = 60;

const COLOR_DOWN: &str = "#f6d3d3";
const COLOR_PAUSED: &str = "#fde8b8";
const COLOR_CRASH: &str = "#c62828";
const COLOR_TORN: &str = "#6a1b9a";
const COLOR_RESTART: &str = "#2e7d32";
const COLOR_PAUSE: &str = "#e65100";
const COLOR_PARTITION: &str = "#bbdefb";
const COLOR_CLOG: &str = "#d1c4e9";
const COLOR_HEAL: &str = "#2e7d32";
const COLOR_NETWORK: &str = "#1565c0";
const COLOR_DISK: &str = "#795548";
const COLOR_ACKED: &str = "#5c8fc7";
const COLOR_FAILED: &str = "#c62828";
const COLOR_INDETERMINATE: &str = "#ef8f00";
const COLOR_LIVENESS: &str = "#e6f4e6";
const COLOR_LANE: &str = "#f7f7f7";
const COLOR_GRID: &str = "#e0e0e0";
const COLOR_TEXT: &str = "#222222";
const COLOR_MUTED: &str = "#666666";
/// Leader colours of the high-watermark lines, by broker id.
const BROKER_COLORS: &[&str] =
    &["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"];

fn broker_color(broker: u32) -> &'static str {
    BROKER_COLORS[(broker.saturating_sub(1) as usize) % BROKER_COLORS.len()]
}

/// A coordinate with one decimal; never `-0.0`.
fn n(value: f64) -> String {
    let text = format!("{value:.1}");
    if text == "-0.0" {
        "0.0".to_string()
    } else {
        text
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Maps simulated milliseconds to x.
#[derive(Clone, Copy)]
struct Scale {
    duration_ms: u64,
}

impl Scale {
    fn x(self, time_ms: u64) -> f64 {
        let t = time_ms.min(self.duration_ms) as f64;
        PLOT_LEFT + t * (PLOT_RIGHT - PLOT_LEFT) / self.duration_ms as f64
    }
}

/// The SVG being written.
struct Svg {
    out: String,
}

impl Svg {
    fn rect(&mut self, x: f64, y: f64, width: f64, height: f64, style: &str) {
        let _ = writeln!(
            self.out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" {style}/>"#,
            n(x),
            n(y),
            n(width.max(0.0)),
            n(height.max(0.0))
        );
    }

    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, style: &str) {
        let _ = writeln!(
            self.out,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" {style}/>"#,
            n(x1),
            n(y1),
            n(x2),
            n(y2)
        );
    }

    /// Text; `anchor` is `start`, `middle` or `end`.
    fn text(&mut self, x: f64, y: f64, anchor: &str, style: &str, text: &str) {
        let _ = writeln!(
            self.out,
            r#"<text x="{}" y="{}" text-anchor="{anchor}" {style}>{}</text>"#,
            n(x),
            n(y),
            escape(text)
        );
    }

    fn polygon(&mut self, points: &[(f64, f64)], style: &str) {
        let points: Vec<String> =
            points.iter().map(|(x, y)| format!("{},{}", n(*x), n(*y))).collect();
        let _ = writeln!(self.out, r#"<polygon points="{}" {style}/>"#, points.join(" "));
    }

    /// Opens a group with a tooltip; close it with [`Svg::end_group`].
    fn group(&mut self, title: &str) {
        let _ = writeln!(self.out, "<g><title>{}</title>", escape(title));
    }

    fn end_group(&mut self) {
        self.out.push_str("</g>\n");
    }
}

/// The shapes of markers, shared by the lanes and the legend.
#[derive(Clone, Copy)]
enum Marker {
    CrashKeepPageCache,
    PowerLoss,
    TornWrites,
    Restart,
    Pause,
    Resume,
    Network,
    DiskFaults,
    Failed,
    Indeterminate,
}

impl Marker {
    fn draw(self, svg: &mut Svg, x: f64, y: f64) {
        match self {
            Marker::CrashKeepPageCache => {
                let style = format!(r#"stroke="{COLOR_CRASH}" stroke-width="2.5""#);
                svg.line(x - 5.0, y - 5.0, x + 5.0, y + 5.0, &style);
                svg.line(x - 5.0, y + 5.0, x + 5.0, y - 5.0, &style);
            }
            Marker::PowerLoss => svg.rect(x - 5.0, y - 5.0, 10.0, 10.0, &fill(COLOR_CRASH)),
            Marker::TornWrites => svg.polygon(
                &[(x, y - 6.0), (x + 6.0, y), (x, y + 6.0), (x - 6.0, y)],
                &fill(COLOR_TORN),
            ),
            Marker::Restart => svg.polygon(
                &[(x, y - 6.0), (x + 6.0, y + 5.0), (x - 6.0, y + 5.0)],
                &fill(COLOR_RESTART),
            ),
            Marker::Pause => {
                svg.rect(x - 4.0, y - 6.0, 3.0, 12.0, &fill(COLOR_PAUSE));
                svg.rect(x + 1.0, y - 6.0, 3.0, 12.0, &fill(COLOR_PAUSE));
            }
            Marker::Resume => svg.polygon(
                &[(x - 4.0, y - 6.0), (x + 6.0, y), (x - 4.0, y + 6.0)],
                &fill(COLOR_PAUSE),
            ),
            Marker::Network => {
                let _ = writeln!(
                    svg.out,
                    r#"<circle cx="{}" cy="{}" r="5.0" fill="{COLOR_NETWORK}"/>"#,
                    n(x),
                    n(y)
                );
            }
            Marker::DiskFaults => svg.rect(x - 5.0, y - 5.0, 10.0, 10.0, &fill(COLOR_DISK)),
            Marker::Failed => svg.polygon(
                &[(x - 4.0, y - 4.0), (x + 4.0, y - 4.0), (x, y + 3.0)],
                &fill(COLOR_FAILED),
            ),
            Marker::Indeterminate => {
                let _ = writeln!(
                    svg.out,
                    r#"<circle cx="{}" cy="{}" r="3.5" fill="{COLOR_INDETERMINATE}"/>"#,
                    n(x),
                    n(y)
                );
            }
        }
    }

    fn of(kind: StepKind) -> Option<Marker> {
        Some(match kind {
            StepKind::CrashKeepPageCache => Marker::CrashKeepPageCache,
            StepKind::CrashLosePageCache => Marker::PowerLoss,
            StepKind::CrashTornWrites => Marker::TornWrites,
            StepKind::Restart => Marker::Restart,
            StepKind::Pause => Marker::Pause,
            StepKind::Resume => Marker::Resume,
            StepKind::Network => Marker::Network,
            StepKind::DiskFaults => Marker::DiskFaults,
            StepKind::Partition
            | StepKind::Heal
            | StepKind::Clog
            | StepKind::Unclog
            | StepKind::Seek
            | StepKind::CreatePartitions
            | StepKind::ListOffsets => return None,
        })
    }
}

fn fill(color: &str) -> String {
    format!(r#"fill="{color}""#)
}

/// `3` for the third step of the scenario, `L` for the liveness phase.
fn step_label(fired: &StepFired) -> String {
    fired.step.map_or("L".to_string(), |i| (i + 1).to_string())
}

fn tooltip(fired: &StepFired) -> String {
    format!("t={} ms, step {}: {}", fired.time_ms, step_label(fired), fired.text)
}

/// The lanes' vertical extents.
struct Layout {
    brokers: Vec<(u32, f64)>,
    partitions: Vec<(TopicPartitionKey, f64)>,
    partitions_hidden: usize,
    faults: f64,
    clients: f64,
    lanes_bottom: f64,
    legend_top: f64,
    height: f64,
}

fn layout(scenario: &Scenario, outcome: &RunOutcome, legend_rows: usize) -> Layout {
    let mut y = TITLE_HEIGHT;
    let mut brokers = Vec::new();
    for id in 1..=scenario.cluster.brokers {
        brokers.push((id, y));
        y += BROKER_LANE_HEIGHT + LANE_GAP;
    }
    let mut keys: BTreeSet<TopicPartitionKey> = outcome.hw_series.keys().cloned().collect();
    for topic in &scenario.cluster.topics {
        for partition in 0..topic.partitions {
            keys.insert(TopicPartitionKey { topic: topic.name.clone(), partition });
        }
    }
    let partitions_hidden = keys.len().saturating_sub(HW_LANES_MAX);
    let mut partitions = Vec::new();
    for key in keys.into_iter().take(HW_LANES_MAX) {
        partitions.push((key, y));
        y += HW_LANE_HEIGHT + LANE_GAP;
    }
    let faults = y;
    y += FAULT_LANE_HEIGHT + LANE_GAP;
    let clients = y;
    y += CLIENT_LANE_HEIGHT;
    let lanes_bottom = y;
    let legend_top = lanes_bottom + AXIS_HEIGHT + if partitions_hidden > 0 { 16.0 } else { 0.0 };
    let height = legend_top + legend_rows as f64 * LEGEND_ROW_HEIGHT + 10.0;
    Layout {
        brokers,
        partitions,
        partitions_hidden,
        faults,
        clients,
        lanes_bottom,
        legend_top,
        height,
    }
}

/// The timeline of a run (see the module doc).
pub fn timeline_svg(scenario: &Scenario, outcome: &RunOutcome) -> String {
    let scale = Scale { duration_ms: outcome.duration_ms.max(1) };
    let legend = legend_entries(scenario);
    let legend_columns = ((WIDTH - 20.0) / LEGEND_COLUMN_WIDTH) as usize;
    let legend_rows = legend.len().div_ceil(legend_columns);
    let layout = layout(scenario, outcome, legend_rows);
    let mut svg = Svg { out: String::new() };
    let _ = writeln!(
        svg.out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#,
        w = n(WIDTH),
        h = n(layout.height)
    );
    svg.rect(0.0, 0.0, WIDTH, layout.height, r##"fill="#ffffff""##);
    let title = format!(
        "{} · seed {} · {} · {} ms simulated",
        scenario.name,
        outcome.seed,
        outcome.verdict.label(),
        outcome.duration_ms
    );
    svg.text(
        20.0,
        20.0,
        "start",
        &format!(r#"font-size="14" font-weight="bold" fill="{COLOR_TEXT}""#),
        &title,
    );

    // Backgrounds first: lanes, the liveness band, the grid.
    let lane_style = fill(COLOR_LANE);
    for (_, top) in &layout.brokers {
        svg.rect(PLOT_LEFT, *top, PLOT_RIGHT - PLOT_LEFT, BROKER_LANE_HEIGHT, &lane_style);
    }
    for (_, top) in &layout.partitions {
        svg.rect(PLOT_LEFT, *top, PLOT_RIGHT - PLOT_LEFT, HW_LANE_HEIGHT, &lane_style);
    }
    svg.rect(PLOT_LEFT, layout.faults, PLOT_RIGHT - PLOT_LEFT, FAULT_LANE_HEIGHT, &lane_style);
    svg.rect(PLOT_LEFT, layout.clients, PLOT_RIGHT - PLOT_LEFT, CLIENT_LANE_HEIGHT, &lane_style);
    if let Some(start) = outcome.liveness_start_ms {
        let x = scale.x(start);
        svg.group(&format!("liveness phase: from {start} ms, faults healed"));
        svg.rect(
            x,
            TITLE_HEIGHT - 12.0,
            PLOT_RIGHT - x,
            layout.lanes_bottom - TITLE_HEIGHT + 12.0,
            &format!(r#"fill="{COLOR_LIVENESS}" fill-opacity="0.8""#),
        );
        svg.end_group();
        // Inside the band when it is wide enough, else ending where it starts.
        let (label_x, anchor) =
            if PLOT_RIGHT - x >= 90.0 { (x + 4.0, "start") } else { (x - 4.0, "end") };
        svg.text(
            label_x,
            TITLE_HEIGHT - 3.0,
            anchor,
            &format!(r#"font-size="10" fill="{COLOR_RESTART}""#),
            "liveness phase",
        );
    }
    let ticks = ticks(scale.duration_ms);
    for &(t, _) in &ticks {
        let x = scale.x(t);
        svg.line(x, TITLE_HEIGHT, x, layout.lanes_bottom, &format!(r#"stroke="{COLOR_GRID}""#));
    }

    broker_lanes(&mut svg, scale, &layout, outcome);
    hw_lanes(&mut svg, scale, &layout, outcome);
    fault_lane(&mut svg, scale, &layout, scenario, outcome);
    client_lane(&mut svg, scale, &layout, outcome);

    // The axis.
    let axis_y = layout.lanes_bottom + 6.0;
    let axis_style = format!(r#"stroke="{COLOR_MUTED}""#);
    svg.line(PLOT_LEFT, axis_y, PLOT_RIGHT, axis_y, &axis_style);
    let label_style = format!(r#"fill="{COLOR_TEXT}""#);
    for (t, label) in &ticks {
        let x = scale.x(*t);
        svg.line(x, axis_y, x, axis_y + 5.0, &axis_style);
        svg.text(x, axis_y + 17.0, "middle", &label_style, label);
    }
    svg.text(
        PLOT_RIGHT,
        axis_y + 31.0,
        "end",
        &format!(r#"font-size="10" fill="{COLOR_MUTED}""#),
        "simulated time",
    );
    if layout.partitions_hidden > 0 {
        svg.text(
            PLOT_LEFT,
            axis_y + 34.0,
            "start",
            &format!(r#"fill="{COLOR_MUTED}""#),
            &format!(
                "{} more partitions not drawn (their series are in the JSON)",
                layout.partitions_hidden
            ),
        );
    }

    // The legend.
    for (i, (swatch, label)) in legend.iter().enumerate() {
        let x = 20.0 + (i % legend_columns) as f64 * LEGEND_COLUMN_WIDTH;
        let y = layout.legend_top + (i / legend_columns) as f64 * LEGEND_ROW_HEIGHT;
        swatch.draw(&mut svg, x + 8.0, y + 8.0);
        svg.text(x + 22.0, y + 12.0, "start", &label_style, label);
    }
    svg.out.push_str("</svg>\n");
    svg.out
}

/// The smallest of 1, 2 or 5 times a power of ten that is at least `at_least` (and 1).
fn nice_step(at_least: u64) -> u64 {
    for magnitude in (0..19).map(|e| 10u64.pow(e)) {
        for m in [1, 2, 5] {
            if m * magnitude >= at_least {
                return m * magnitude;
            }
        }
    }
    10u64.pow(19)
}

/// `200 ms`, `1 s`, `1.5 s`.
fn duration_label(ms: u64) -> String {
    match ms {
        ms if ms % 1000 == 0 => format!("{} s", ms / 1000),
        ms if ms > 1000 && ms % 100 == 0 => format!("{}.{} s", ms / 1000, (ms % 1000) / 100),
        ms => format!("{ms} ms"),
    }
}

/// Tick times and labels: a nice step giving at most ten intervals.
fn ticks(duration_ms: u64) -> Vec<(u64, String)> {
    let step = nice_step(duration_ms.div_ceil(10));
    (0..=duration_ms / step)
        .map(|i| {
            let t = i * step;
            let label = if step % 1000 == 0 {
                format!("{} s", t / 1000)
            } else if step % 100 == 0 {
                format!("{}.{} s", t / 1000, (t % 1000) / 100)
            } else {
                format!("{t} ms")
            };
            (t, label)
        })
        .collect()
}

/// A lane's name, right-aligned left of the plot, with an optional second line.
/// A lane's name, right-aligned left of the plot, with smaller detail lines under it; the
/// block is centred on the lane.
fn lane_label(svg: &mut Svg, top: f64, height: f64, name: &str, details: &[&str]) {
    const LINE_HEIGHT: f64 = 13.0;
    let first = top + height / 2.0 - details.len() as f64 * LINE_HEIGHT / 2.0 + 4.0;
    svg.text(PLOT_LEFT - 8.0, first, "end", &format!(r#"fill="{COLOR_TEXT}""#), name);
    for (i, detail) in details.iter().enumerate() {
        svg.text(
            PLOT_LEFT - 8.0,
            first + (i + 1) as f64 * LINE_HEIGHT,
            "end",
            &format!(r#"font-size="10" fill="{COLOR_MUTED}""#),
            detail,
        );
    }
}

fn broker_lanes(svg: &mut Svg, scale: Scale, layout: &Layout, outcome: &RunOutcome) {
    for &(id, top) in &layout.brokers {
        lane_label(svg, top, BROKER_LANE_HEIGHT, &format!("broker-{id}"), &[]);
        let events: Vec<&StepFired> = outcome
            .steps_fired
            .iter()
            .filter(|f| f.brokers.contains(&id))
            .filter(|f| {
                f.kind.is_crash()
                    || matches!(f.kind, StepKind::Restart | StepKind::Pause | StepKind::Resume)
            })
            .collect();
        // Intervals first, markers over them.
        let mut down_since: Option<u64> = None;
        let mut paused_since: Option<u64> = None;
        let mut intervals: Vec<(u64, u64, &str, &str)> = Vec::new();
        for fired in &events {
            match fired.kind {
                kind if kind.is_crash() => {
                    down_since.get_or_insert(fired.time_ms);
                }
                StepKind::Restart => {
                    if let Some(since) = down_since.take() {
                        intervals.push((since, fired.time_ms, COLOR_DOWN, "down"));
                    }
                    if let Some(since) = paused_since.take() {
                        intervals.push((since, fired.time_ms, COLOR_PAUSED, "paused"));
                    }
                }
                StepKind::Pause => {
                    paused_since.get_or_insert(fired.time_ms);
                }
                StepKind::Resume => {
                    if let Some(since) = paused_since.take() {
                        intervals.push((since, fired.time_ms, COLOR_PAUSED, "paused"));
                    }
                }
                _ => {}
            }
        }
        let end = scale.duration_ms;
        if let Some(since) = down_since {
            intervals.push((since, end, COLOR_DOWN, "down"));
        }
        if let Some(since) = paused_since {
            intervals.push((since, end, COLOR_PAUSED, "paused"));
        }
        for (from, to, color, what) in intervals {
            svg.group(&format!("broker-{id} {what} from {from} ms to {to} ms"));
            let x = scale.x(from);
            svg.rect(x, top + 3.0, scale.x(to) - x, BROKER_LANE_HEIGHT - 6.0, &fill(color));
            svg.end_group();
        }
        let middle = top + BROKER_LANE_HEIGHT / 2.0 + 2.0;
        for fired in &events {
            let Some(marker) = Marker::of(fired.kind) else { continue };
            let x = scale.x(fired.time_ms);
            svg.group(&tooltip(fired));
            marker.draw(svg, x, middle);
            svg.text(
                x + 7.0,
                top + 10.0,
                "start",
                &format!(r#"font-size="9" fill="{COLOR_MUTED}""#),
                &step_label(fired),
            );
            svg.end_group();
        }
    }
}

fn hw_lanes(svg: &mut Svg, scale: Scale, layout: &Layout, outcome: &RunOutcome) {
    for (key, top) in &layout.partitions {
        let top = *top;
        let series = outcome.hw_series.get(key).map_or(&[][..], |s| &s[..]);
        let hw_max = series.iter().map(|&(_, _, hw)| hw).max().unwrap_or(0).max(1);
        let detail = if series.is_empty() {
            "no leader reported".to_string()
        } else {
            format!("HW, max {hw_max}")
        };
        lane_label(svg, top, HW_LANE_HEIGHT, &key.to_string(), &[&detail]);
        let bottom = top + HW_LANE_HEIGHT - 4.0;
        let y = |hw: i64| bottom - (hw.max(0) as f64) * (HW_LANE_HEIGHT - 10.0) / hw_max as f64;
        // One polyline per run of points with the same leader. x is rounded to whole pixels
        // and consecutive vertices at one x collapse to the first and last, so a series of
        // any length costs at most two vertices per pixel column.
        let mut start = 0;
        while start < series.len() {
            let leader = series[start].1;
            let mut stop = start + 1;
            while stop < series.len() && series[stop].1 == leader {
                stop += 1;
            }
            let until = series.get(stop).map_or(scale.duration_ms, |p| p.0);
            let mut vertices: Vec<(String, String)> = Vec::new();
            let mut push = |x: f64, y: f64| {
                let vertex = (n(x), n(y));
                if vertices.last() == Some(&vertex) {
                    return;
                }
                if vertices.len() >= 2 {
                    let len = vertices.len();
                    if vertices[len - 1].0 == vertex.0 && vertices[len - 2].0 == vertex.0 {
                        vertices[len - 1] = vertex;
                        return;
                    }
                }
                vertices.push(vertex);
            };
            for (i, &(time_ms, _, hw)) in series[start..stop].iter().enumerate() {
                let x = scale.x(time_ms).round();
                if i > 0 {
                    let previous = series[start + i - 1].2;
                    push(x, y(previous));
                }
                push(x, y(hw));
            }
            push(scale.x(until).round(), y(series[stop - 1].2));
            let points: Vec<String> = vertices.iter().map(|(x, y)| format!("{x},{y}")).collect();
            let first = series[start];
            let last = series[stop - 1];
            svg.group(&format!(
                "{key}: leader broker-{leader} from {} ms, high watermark {} to {}",
                first.0, first.2, last.2
            ));
            let _ = writeln!(
                svg.out,
                r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="1.8"/>"#,
                points.join(" "),
                broker_color(leader)
            );
            svg.end_group();
            if start > 0 {
                // A leader change: a tick where the new leader's line starts.
                let x = scale.x(first.0);
                svg.line(
                    x,
                    top + 2.0,
                    x,
                    top + 8.0,
                    &format!(r#"stroke="{}" stroke-width="2""#, broker_color(leader)),
                );
            }
            start = stop;
        }
    }
}

/// An interval on the faults lane: partitions, clogs and client pauses until they end.
struct Band {
    from: u64,
    to: u64,
    color: &'static str,
    label: String,
    title: String,
}

fn fault_lane(
    svg: &mut Svg,
    scale: Scale,
    layout: &Layout,
    scenario: &Scenario,
    outcome: &RunOutcome,
) {
    let top = layout.faults;
    lane_label(svg, top, FAULT_LANE_HEIGHT, "faults", &["network, disk, clients"]);
    let end = outcome.liveness_start_ms.unwrap_or(scale.duration_ms);
    let action_of =
        |fired: &StepFired| fired.step.and_then(|i| scenario.steps.get(i)).map(|s| &s.action);
    let client_of = |fired: &StepFired| match action_of(fired) {
        Some(Action::Pause { target: Target::Client(id) })
        | Some(Action::Resume { target: Target::Client(id) })
        | Some(Action::Crash { target: Target::Client(id), .. }) => Some(id.clone()),
        _ => None,
    };
    let fired = &outcome.steps_fired;
    // When a fault of `fired[i]` ends: the first later step `ends` says ends it.
    let ending = |i: usize, ends: &dyn Fn(&StepFired) -> bool| {
        fired[i + 1..].iter().find(|f| ends(f)).map_or(end, |f| f.time_ms)
    };
    let mut bands = Vec::new();
    for (i, f) in fired.iter().enumerate() {
        match f.kind {
            StepKind::Partition => {
                let to = ending(i, &|g| g.kind == StepKind::Heal);
                let one_way = matches!(action_of(f), Some(Action::Partition { one_way: true, .. }));
                bands.push(Band {
                    from: f.time_ms,
                    to,
                    color: COLOR_PARTITION,
                    label: format!(
                        "{} {}",
                        if one_way { "one-way partition" } else { "partition" },
                        step_label(f)
                    ),
                    title: format!("{} until {to} ms", tooltip(f)),
                });
            }
            StepKind::Clog => {
                let to = ending(i, &|g| {
                    g.kind == StepKind::Heal
                        || (g.kind == StepKind::Unclog && g.brokers == f.brokers)
                });
                bands.push(Band {
                    from: f.time_ms,
                    to,
                    color: COLOR_CLOG,
                    label: format!("clog {}", step_label(f)),
                    title: format!("{} until {to} ms", tooltip(f)),
                });
            }
            StepKind::Pause if f.brokers.is_empty() => {
                let client = client_of(f);
                let to = ending(i, &|g| g.kind == StepKind::Resume && client_of(g) == client);
                bands.push(Band {
                    from: f.time_ms,
                    to,
                    color: COLOR_PAUSED,
                    label: format!("pause {} {}", client.unwrap_or_default(), step_label(f)),
                    title: format!("{} until {to} ms", tooltip(f)),
                });
            }
            _ => {}
        }
    }
    for band in &bands {
        let x = scale.x(band.from);
        let width = scale.x(band.to) - x;
        svg.group(&band.title);
        svg.rect(
            x,
            top + 2.0,
            width,
            FAULT_LANE_HEIGHT - 4.0,
            &format!(r#"fill="{}" fill-opacity="0.75""#, band.color),
        );
        if width >= 6.0 * band.label.len() as f64 {
            svg.text(
                x + 3.0,
                top + 13.0,
                "start",
                &format!(r#"font-size="10" fill="{COLOR_TEXT}""#),
                &band.label,
            );
        }
        svg.end_group();
    }
    let middle = top + FAULT_LANE_HEIGHT / 2.0 + 4.0;
    let label_style = format!(r#"font-size="9" fill="{COLOR_MUTED}""#);
    for f in fired {
        let x = scale.x(f.time_ms);
        // A client target, or a leader target that named no live broker, has no broker lane:
        // its crash, restart or resume shows here (a client pause is a band above).
        let laneless = f.brokers.is_empty() && f.kind != StepKind::Pause;
        let marker = match f.kind {
            StepKind::Heal => {
                svg.group(&tooltip(f));
                let style = format!(r#"stroke="{COLOR_HEAL}" stroke-width="2""#);
                svg.line(x, top + 1.0, x, top + FAULT_LANE_HEIGHT - 1.0, &style);
                svg.text(
                    x + 3.0,
                    top + FAULT_LANE_HEIGHT - 4.0,
                    "start",
                    &label_style,
                    &step_label(f),
                );
                svg.end_group();
                continue;
            }
            StepKind::Network | StepKind::DiskFaults => Marker::of(f.kind),
            kind if laneless => Marker::of(kind),
            _ => None,
        };
        if let Some(marker) = marker {
            svg.group(&tooltip(f));
            marker.draw(svg, x, middle);
            svg.text(x + 7.0, middle - 6.0, "start", &label_style, &step_label(f));
            svg.end_group();
        }
    }
}

fn client_lane(svg: &mut Svg, scale: Scale, layout: &Layout, outcome: &RunOutcome) {
    let top = layout.clients;
    let bucket_ms = nice_step(scale.duration_ms.div_ceil(SEND_BUCKETS));
    let buckets = scale.duration_ms.div_ceil(bucket_ms) as usize;
    let mut acked = vec![0u64; buckets];
    let mut failed = vec![0u64; buckets];
    let mut indeterminate = vec![0u64; buckets];
    for op in &outcome.history.ops {
        if !matches!(op.kind, OpKind::Send { .. }) {
            continue;
        }
        let bucket = ((op.complete_ms / bucket_ms) as usize).min(buckets - 1);
        match op.outcome {
            Outcome::Ok => acked[bucket] += 1,
            Outcome::Fail { .. } => failed[bucket] += 1,
            Outcome::Info { .. } => indeterminate[bucket] += 1,
        }
    }
    let acked_max = acked.iter().copied().max().unwrap_or(0);
    lane_label(
        svg,
        top,
        CLIENT_LANE_HEIGHT,
        "clients",
        &[&format!("acked per {}", duration_label(bucket_ms)), &format!("max {acked_max}")],
    );
    let bars_top = top + 24.0;
    let bars_height = CLIENT_LANE_HEIGHT - 26.0;
    for (i, &count) in acked.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let from = i as u64 * bucket_ms;
        let to = (from + bucket_ms).min(scale.duration_ms);
        let x = scale.x(from);
        let width = (scale.x(to) - x - 1.0).max(0.5);
        let height = count as f64 * bars_height / acked_max as f64;
        svg.group(&format!("{count} acknowledged sends from {from} to {to} ms"));
        svg.rect(x, bars_top + bars_height - height, width, height, &fill(COLOR_ACKED));
        svg.end_group();
    }
    for (row, counts, marker, what) in [
        (top + 7.0, &failed, Marker::Failed, "failed"),
        (top + 16.0, &indeterminate, Marker::Indeterminate, "indeterminate"),
    ] {
        for (i, &count) in counts.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let from = i as u64 * bucket_ms;
            let to = (from + bucket_ms).min(scale.duration_ms);
            let x = (scale.x(from) + scale.x(to)) / 2.0;
            svg.group(&format!("{count} {what} sends from {from} to {to} ms"));
            marker.draw(svg, x, row);
            svg.end_group();
        }
    }
}

/// What a legend entry shows.
enum Swatch {
    Box(&'static str),
    Marker(Marker),
    Line(&'static str),
}

impl Swatch {
    fn draw(&self, svg: &mut Svg, x: f64, y: f64) {
        match self {
            Swatch::Box(color) => svg.rect(x - 7.0, y - 6.0, 14.0, 12.0, &fill(color)),
            Swatch::Marker(marker) => marker.draw(svg, x, y),
            Swatch::Line(color) => {
                svg.line(x - 7.0, y, x + 7.0, y, &format!(r#"stroke="{color}" stroke-width="2""#))
            }
        }
    }
}

fn legend_entries(scenario: &Scenario) -> Vec<(Swatch, String)> {
    let mut entries = vec![
        (Swatch::Marker(Marker::CrashKeepPageCache), Fault::CrashKeepPageCache.label().to_string()),
        (Swatch::Marker(Marker::PowerLoss), "crash, power loss".to_string()),
        (Swatch::Marker(Marker::TornWrites), "crash, torn writes".to_string()),
        (Swatch::Marker(Marker::Restart), "restart".to_string()),
        (Swatch::Box(COLOR_DOWN), "broker down".to_string()),
        (Swatch::Marker(Marker::Pause), "pause".to_string()),
        (Swatch::Marker(Marker::Resume), "resume".to_string()),
        (Swatch::Box(COLOR_PAUSED), "paused".to_string()),
        (Swatch::Box(COLOR_PARTITION), "network partition".to_string()),
        (Swatch::Box(COLOR_CLOG), "clogged".to_string()),
        (Swatch::Line(COLOR_HEAL), "heal".to_string()),
        (Swatch::Marker(Marker::Network), "network change".to_string()),
        (Swatch::Marker(Marker::DiskFaults), "disk faults".to_string()),
        (Swatch::Box(COLOR_ACKED), "acknowledged sends".to_string()),
        (Swatch::Marker(Marker::Failed), "failed sends".to_string()),
        (Swatch::Marker(Marker::Indeterminate), "indeterminate sends".to_string()),
        (Swatch::Box(COLOR_LIVENESS), "liveness phase".to_string()),
    ];
    for id in 1..=scenario.cluster.brokers.min(BROKER_COLORS.len() as u32) {
        entries.push((Swatch::Line(broker_color(id)), format!("HW while broker-{id} leads")));
    }
    entries
}
