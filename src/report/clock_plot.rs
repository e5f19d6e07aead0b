//! `clock.png`: each node's clock offset over time, as Jepsen's clock plot draws it, with the
//! fault windows shaded like the other plots. Written only for runs that moved clocks.
//!
//! The offsets are read off the nemesis's clock events (see `nemesis::clock`): each start of a
//! clock fault and each `clock-reset` records the offset of every node it touched
//! (`clock_offsets_ms`), a strobe its `delta_ms` (drawn as a band between its two offsets: it
//! flips between them every few ms), a skew its `ms_per_s` (a line drifting from its start to
//! the reset); `heal-all` puts every clock back to zero. An event recorded with an error is
//! left out: what it did is unknown, and the healing after it resets every clock anyway.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use faultline_checkers::history::{History, Op, Value};
use plotters::prelude::*;

use super::nemesis_windows::fault_windows;
use super::plots::{self, PlotError, Swatch, PLOT_SIZE};

/// The file name of the plot.
pub const FILE: &str = "clock.png";

/// One node's clock over the run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeClock {
    /// (seconds since the test started, offset in ms), a step at each change; a skew's
    /// points are the ends of its drift.
    pub points: Vec<(f64, f64)>,
    /// Strobes: from, to (seconds), and the two offsets (ms) flipped between.
    pub strobes: Vec<(f64, f64, f64, f64)>,
}

/// What a node's clock is doing between two events.
#[derive(Debug, Clone, Copy)]
enum Motion {
    Still,
    Strobe { since: f64, delta: f64 },
    Skew { since: f64, ms_per_s: f64 },
}

#[derive(Debug)]
struct State {
    offset: f64,
    motion: Motion,
    clock: NodeClock,
}

impl State {
    /// The offset at `t`, ending any strobe or skew there (drawing what it did).
    fn settle(&mut self, t: f64) -> f64 {
        match self.motion {
            Motion::Still => {}
            Motion::Strobe { since, delta } => {
                self.clock
                    .strobes
                    .push((since, t, self.offset, self.offset + delta));
            }
            Motion::Skew { since, ms_per_s } => {
                self.offset += ms_per_s * (t - since).max(0.0);
                self.clock.points.push((t, self.offset));
            }
        }
        self.motion = Motion::Still;
        self.offset
    }

    /// The clock is at `offset` from `t`, then moves as `motion` says.
    fn set(&mut self, t: f64, offset: f64, motion: Motion) {
        let before = self.settle(t);
        self.clock.points.push((t, before));
        self.clock.points.push((t, offset));
        self.offset = offset;
        self.motion = motion;
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

/// Each node's clock, from the nemesis's clock events; empty when the run moved no clock.
pub fn clocks(history: &History) -> BTreeMap<String, NodeClock> {
    let mut nodes: BTreeMap<String, State> = BTreeMap::new();
    let nemesis = history
        .ops
        .iter()
        .filter(|op| op.process.is_nemesis() && op.error().is_none());
    let mut last = 0.0;
    for op in nemesis {
        let Some(t) = op.time.map(|ns| ns as f64 / 1e9) else {
            continue;
        };
        last = t;
        if &*op.f == "heal-all" {
            for state in nodes.values_mut() {
                state.set(t, 0.0, Motion::Still);
            }
            continue;
        }
        let Some(Value::Map(offsets)) = op.value.get("clock_offsets_ms") else {
            continue;
        };
        let motion = motion_of(op, t);
        for (node, offset) in offsets.iter() {
            let (Some(node), Some(offset)) = (node.as_str(), number(offset)) else {
                continue;
            };
            let state = nodes.entry(node.to_string()).or_insert_with(|| State {
                offset: 0.0,
                motion: Motion::Still,
                clock: NodeClock {
                    points: vec![(0.0, 0.0)],
                    strobes: Vec::new(),
                },
            });
            state.set(t, offset, motion);
        }
    }
    let end = history
        .ops
        .iter()
        .filter_map(|op| op.time)
        .max()
        .map_or(last, |ns| (ns as f64 / 1e9).max(last));
    nodes
        .into_iter()
        .map(|(node, mut state)| {
            let offset = state.settle(end);
            state.clock.points.push((end, offset));
            (node, state.clock)
        })
        .collect()
}

/// How a clock event's nodes move after it.
fn motion_of(op: &Op, since: f64) -> Motion {
    let field = |name: &str| op.value.get(name).and_then(number);
    match &*op.f {
        "start-clock-strobe" => {
            field("delta_ms").map_or(Motion::Still, |delta| Motion::Strobe { since, delta })
        }
        "start-clock-skew" => {
            field("ms_per_s").map_or(Motion::Still, |ms_per_s| Motion::Skew { since, ms_per_s })
        }
        _ => Motion::Still,
    }
}

/// Writes `clock.png` into `dir` if the run moved any clock; returns its path then.
pub fn write(history: &History, dir: &Path) -> Result<Option<PathBuf>, PlotError> {
    let clocks = clocks(history);
    if clocks.is_empty() {
        return Ok(None);
    }
    plots::register_embedded_font()?;
    let path = dir.join(FILE);
    let fail = |message: String| PlotError::Draw {
        path: path.clone(),
        message,
    };
    let root = BitMapBackend::new(&path, PLOT_SIZE).into_drawing_area();
    draw(history, &clocks, &root).map_err(fail)?;
    root.present().map_err(|e| fail(e.to_string()))?;
    drop(root);
    Ok(Some(path))
}

/// A colour per node, in node order.
const NODE_COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

fn draw(
    history: &History,
    clocks: &BTreeMap<String, NodeClock>,
    root: &plots::Area<'_>,
) -> Result<(), String> {
    let (chart_area, legend_area) = plots::split(root)?;
    let windows = fault_windows(history);
    let end_s = clocks
        .values()
        .flat_map(|c| c.points.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let offsets = clocks.values().flat_map(|c| {
        c.points
            .iter()
            .map(|p| p.1)
            .chain(c.strobes.iter().flat_map(|s| [s.2, s.3]))
    });
    let (lo, hi) = offsets.fold((0f64, 0f64), |(lo, hi), o| (lo.min(o), hi.max(o)));
    let margin = ((hi - lo) * 0.1).max(1.0);
    let (lo, hi) = (lo - margin, hi + margin);
    let mut chart = plots::linear_chart(
        &chart_area,
        "Clock offset of each node",
        end_s,
        (lo, hi),
        "clock offset (ms)",
    )?;
    plots::draw_windows(&mut chart, &windows, lo, hi)?;
    let mut entries = Vec::new();
    for (i, (node, clock)) in clocks.iter().enumerate() {
        let colour = NODE_COLOURS[i % NODE_COLOURS.len()];
        let bands = clock.strobes.iter().map(|&(from, to, a, b)| {
            Rectangle::new([(from, a.min(b)), (to, a.max(b))], colour.mix(0.3).filled())
        });
        chart.draw_series(bands).map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                clock.points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        entries.push((Swatch::Line(colour), node.clone()));
    }
    let mut faults: Vec<(Swatch, String)> = windows
        .iter()
        .map(|w| w.kind.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|k| (Swatch::Band(plots::fault_colour(&k)), k))
        .collect();
    if faults.is_empty() {
        faults.push((Swatch::Band(WHITE), "none".to_owned()));
    }
    let mut sections = vec![("node", entries)];
    if clocks.values().any(|c| !c.strobes.is_empty()) {
        sections.push((
            "strobe",
            vec![(Swatch::Band(BLACK), "flips within the band".into())],
        ));
    }
    sections.push(("fault", faults));
    plots::draw_legend(&legend_area, &sections)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::history::{value_from_json, OpType, Process};
    use serde_json::json;

    fn event(t: f64, f: &str, value: serde_json::Value) -> Op {
        Op {
            time: Some((t * 1e9) as i64),
            ..Op::new(
                Process::Nemesis,
                OpType::Info,
                f,
                value_from_json(value).unwrap(),
            )
        }
    }

    fn history() -> History {
        History::from_ops(vec![
            event(
                1.0,
                "start-clock-bump",
                json!({"delta_ms": 250, "nodes": ["n1"], "clock_offsets_ms": {"n1": 250.0}}),
            ),
            event(
                2.0,
                "clock-reset",
                json!({"nodes": ["n1"], "clock_offsets_ms": {"n1": 0.0}}),
            ),
            event(
                3.0,
                "start-clock-skew",
                json!({"ms_per_s": 100.0, "nodes": ["n2"], "clock_offsets_ms": {"n2": 0.0}}),
            ),
            event(
                4.0,
                "start-clock-strobe",
                json!({"delta_ms": 200, "period_ms": 10, "nodes": ["n1"],
                       "clock_offsets_ms": {"n1": 0.0}}),
            ),
            event(5.0, "heal-all", json!(null)),
        ])
    }

    #[test]
    fn offsets_step_at_bumps_drift_with_skews_and_strobes_are_bands() {
        let c = clocks(&history());
        assert_eq!(
            c["n1"].points,
            vec![
                (0.0, 0.0),
                (1.0, 0.0),
                (1.0, 250.0),
                (2.0, 250.0),
                (2.0, 0.0),
                (4.0, 0.0),
                (4.0, 0.0),
                (5.0, 0.0),
                (5.0, 0.0),
                (5.0, 0.0)
            ]
        );
        assert_eq!(c["n1"].strobes, vec![(4.0, 5.0, 0.0, 200.0)]);
        let n2 = &c["n2"].points;
        assert!(
            n2.contains(&(5.0, 200.0)),
            "two seconds at 100 ms/s reach 200 ms before heal-all: {n2:?}"
        );
        assert_eq!(n2.last(), Some(&(5.0, 0.0)));
    }

    #[test]
    fn a_run_without_clock_events_gets_no_clock_plot() {
        let h = History::from_ops(vec![event(1.0, "start-partition", json!({"n1": []}))]);
        assert!(clocks(&h).is_empty());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(write(&h, dir.path()).unwrap(), None);
        assert!(!dir.path().join(FILE).exists());
    }

    #[test]
    fn a_failed_clock_event_is_left_out() {
        let mut op = event(
            1.0,
            "start-clock-bump",
            json!({"nodes": ["n1"], "clock_offsets_ms": {"n1": 250.0}}),
        );
        op.extra = Some(Box::new(faultline_checkers::history::OpExtra {
            node: None,
            error: Some(Value::Str("node n1: timed out".into())),
            workload: None,
        }));
        assert!(clocks(&History::from_ops(vec![op])).is_empty());
    }

    #[test]
    fn the_plot_is_a_png_of_the_plot_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&history(), dir.path()).unwrap().unwrap();
        let decoder = png::Decoder::new(std::fs::File::open(&path).unwrap());
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), PLOT_SIZE);
        if let Ok(keep) = std::env::var("FAULTLINE_KEEP_PLOTS") {
            std::fs::copy(&path, Path::new(&keep).join(FILE)).unwrap();
        }
    }
}
