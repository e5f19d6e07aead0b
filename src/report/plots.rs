//! The run's PNG plots: latency and throughput over time, with the nemesis's faults shaded.
//!
//! Three plots, as Jepsen draws them, so that its users read them without a key:
//! - `latency-raw.png`: every completed operation's latency against its completion time.
//! - `latency-quantiles.png`: the 0.5, 0.95, 0.99 and max latency in each time bucket, per function.
//! - `rate.png`: completed operations per second, per function and outcome.
//!
//! Each one shades the [fault windows](super::nemesis_windows) so that effects can be matched to
//! causes, and carries its legend in a panel to the right of the chart, where it covers no data.
//! Text is drawn with DejaVu Sans embedded in the binary: a results host without fonts or
//! fontconfig gets the same pictures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use faultline_checkers::history::{History, OpType};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use super::nemesis_windows::{fault_windows, FaultWindow};

/// Width and height of every plot, in pixels.
pub const PLOT_SIZE: (u32, u32) = (1280, 640);
/// The panel at the right of each plot that holds its legend.
const LEGEND_WIDTH: u32 = 210;
pub(super) const FONT: &str = "sans-serif";
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");
/// The quantiles of `latency-quantiles.png`; `1.0` is the maximum.
const QUANTILES: [f64; 4] = [0.5, 0.95, 0.99, 1.0];

/// Why a plot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot create the plot directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the embedded font DejaVu Sans could not be loaded")]
    Font,
    #[error("cannot draw {path}: {message}")]
    Draw { path: PathBuf, message: String },
}

/// Writes `latency-raw.png`, `latency-quantiles.png` and `rate.png` into `dir` (created if
/// missing) and returns their paths. An empty history gets empty plots, never an error.
pub fn write_plots(history: &History, dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    register_embedded_font()?;
    std::fs::create_dir_all(dir).map_err(|source| PlotError::Dir {
        path: dir.to_owned(),
        source,
    })?;
    let run = Run::of(history);
    let plots: [(&str, DrawPlot); 3] = [
        ("latency-raw.png", draw_latency_raw),
        ("latency-quantiles.png", draw_latency_quantiles),
        ("rate.png", draw_rate),
    ];
    let mut written = Vec::new();
    for (name, draw) in plots {
        let path = dir.join(name);
        let fail = |message: String| PlotError::Draw {
            path: path.clone(),
            message,
        };
        let root = BitMapBackend::new(&path, PLOT_SIZE).into_drawing_area();
        draw(&run, &root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
        drop(root);
        written.push(path);
    }
    Ok(written)
}

pub(super) fn register_embedded_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok =
        *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok());
    ok.then_some(()).ok_or(PlotError::Font)
}

pub(super) type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
/// Draws one plot of a run onto a blank picture; the error is plotters', as text.
type DrawPlot = fn(&Run, &Area) -> Result<(), String>;

/// One client operation that completed: when, how long it took, what it was, how it ended.
#[derive(Debug, Clone, PartialEq)]
struct Completion {
    time_s: f64,
    latency_ms: f64,
    f: Arc<str>,
    outcome: OpType,
}

/// What the plots need from a history.
struct Run {
    completions: Vec<Completion>,
    windows: Vec<FaultWindow>,
    /// The functions seen, in a fixed order that gives each its marker.
    fs: Vec<Arc<str>>,
    /// The time of the last event, in seconds; at least 1 so that axes have a width.
    end_s: f64,
}

impl Run {
    fn of(history: &History) -> Run {
        let completions = completions(history);
        let fs: BTreeSet<Arc<str>> = completions.iter().map(|c| c.f.clone()).collect();
        let last_ns = history.ops.iter().filter_map(|op| op.time).max();
        Run {
            windows: fault_windows(history),
            fs: fs.into_iter().collect(),
            end_s: last_ns.map_or(0.0, |ns| ns as f64 / 1e9).max(1.0),
            completions,
        }
    }

    fn shape_of(&self, f: &str) -> usize {
        self.fs.iter().position(|g| &**g == f).unwrap_or(0)
    }

    /// Width of the time buckets for quantiles and rates: at most about 100 buckets over the
    /// run, on a round number of seconds.
    fn bucket_s(&self) -> f64 {
        let target = self.end_s / 100.0;
        [
            0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0,
        ]
        .into_iter()
        .find(|&b| b >= target)
        .unwrap_or(3600.0)
    }
}

/// Latency is completion time minus invoke time, of the calls [`super::pair_calls`] finds, in
/// the order they completed. Calls without times, or still open, are skipped.
fn completions(history: &History) -> Vec<Completion> {
    let mut done: Vec<Completion> = super::pair_calls(history)
        .into_iter()
        .filter_map(|call| {
            let end = call.completion?;
            let (t0, t1) = (call.invoke.time?, end.time?);
            Some(Completion {
                time_s: t1 as f64 / 1e9,
                latency_ms: (t1 - t0) as f64 / 1e6,
                f: end.f.clone(),
                outcome: end.kind,
            })
        })
        .collect();
    done.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
    done
}

/// The latency of each operation, by when it completed. It shows what quantiles hide: the
/// bands of timeouts (info), the fast failures, and which function stalls during a fault.
fn draw_latency_raw(run: &Run, root: &Area) -> Result<(), String> {
    let (chart_area, legend_area) = split(root)?;
    let (lo, hi) = latency_range(run.completions.iter().map(|c| c.latency_ms));
    let mut chart = latency_chart(&chart_area, "Latency of each operation", run.end_s, lo, hi)?;
    draw_windows(&mut chart, &run.windows, lo, hi)?;
    for outcome in OUTCOMES {
        for f in &run.fs {
            let shape = run.shape_of(f);
            let points = run
                .completions
                .iter()
                .filter(|c| c.outcome == outcome && c.f == *f)
                .map(|c| (c.time_s, c.latency_ms.clamp(lo, hi)));
            let colour = outcome_colour(outcome).mix(0.6);
            draw_markers(&mut chart, points, shape, colour)?;
        }
    }
    let outcomes = OUTCOMES
        .iter()
        .map(|&o| (Swatch::Marker(0, outcome_colour(o)), o.name().to_owned()));
    draw_legend(
        &legend_area,
        &[
            ("outcome", outcomes.collect()),
            ("function", f_entries(run)),
            ("fault", fault_entries(run)),
        ],
    )
}

/// Latency quantiles over time, per function: the shape of the latency distribution and how a
/// fault moves its median and its tail, without drowning in points.
fn draw_latency_quantiles(run: &Run, root: &Area) -> Result<(), String> {
    let (chart_area, legend_area) = split(root)?;
    let bucket = run.bucket_s();
    let (lo, hi) = latency_range(run.completions.iter().map(|c| c.latency_ms));
    let title = format!("Latency quantiles per {} bucket", seconds_label(bucket));
    let mut chart = latency_chart(&chart_area, &title, run.end_s, lo, hi)?;
    draw_windows(&mut chart, &run.windows, lo, hi)?;
    for f in &run.fs {
        let mut buckets: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for c in run.completions.iter().filter(|c| c.f == *f) {
            buckets
                .entry((c.time_s / bucket).floor() as i64)
                .or_default()
                .push(c.latency_ms);
        }
        for latencies in buckets.values_mut() {
            latencies.sort_by(f64::total_cmp);
        }
        for (i, &q) in QUANTILES.iter().enumerate() {
            let series: Vec<(i64, f64)> = buckets
                .iter()
                .map(|(&b, latencies)| (b, quantile(latencies, q).clamp(lo, hi)))
                .collect();
            let colour = QUANTILE_COLOURS[i];
            draw_runs(&mut chart, &series, bucket, run.shape_of(f), colour)?;
        }
    }
    let quantiles = QUANTILES
        .iter()
        .zip(QUANTILE_COLOURS)
        .map(|(&q, colour)| (Swatch::Line(colour), quantile_label(q)));
    draw_legend(
        &legend_area,
        &[
            ("quantile", quantiles.collect()),
            ("function", f_entries(run)),
            ("fault", fault_entries(run)),
        ],
    )
}

/// Completed operations per second, per function and outcome: how much work the cluster does,
/// and whether a fault stops it (a fall to zero) or turns it into failures.
fn draw_rate(run: &Run, root: &Area) -> Result<(), String> {
    let (chart_area, legend_area) = split(root)?;
    let bucket = run.bucket_s();
    let buckets = (run.end_s / bucket).ceil().max(1.0) as i64;
    // Keyed by the outcome's place in OUTCOMES and the function.
    let mut counts: BTreeMap<(usize, Arc<str>), Vec<u64>> = BTreeMap::new();
    for c in &run.completions {
        let b = ((c.time_s / bucket).floor() as i64).clamp(0, buckets - 1) as usize;
        counts
            .entry((outcome_index(c.outcome), c.f.clone()))
            .or_insert_with(|| vec![0; buckets as usize])[b] += 1;
    }
    let peak = counts
        .values()
        .flat_map(|per_bucket| per_bucket.iter().enumerate())
        .map(|(b, &n)| n as f64 / covered_s(run.end_s, b, bucket))
        .fold(0.0, f64::max);
    let hi = (peak * 1.1).max(1.0);
    let title = format!("Throughput per {} bucket", seconds_label(bucket));
    let mut chart = linear_chart(
        &chart_area,
        &title,
        run.end_s,
        (0.0, hi),
        "completed operations per second",
    )?;
    draw_windows(&mut chart, &run.windows, 0.0, hi)?;
    for ((outcome, f), per_bucket) in &counts {
        let series: Vec<(i64, f64)> = per_bucket
            .iter()
            .enumerate()
            .map(|(b, &n)| (b as i64, n as f64 / covered_s(run.end_s, b, bucket)))
            .collect();
        let colour = outcome_colour(OUTCOMES[*outcome]);
        draw_runs(&mut chart, &series, bucket, run.shape_of(f), colour)?;
    }
    let outcomes = OUTCOMES
        .iter()
        .map(|&o| (Swatch::Line(outcome_colour(o)), o.name().to_owned()));
    draw_legend(
        &legend_area,
        &[
            ("outcome", outcomes.collect()),
            ("function", f_entries(run)),
            ("fault", fault_entries(run)),
        ],
    )
}

/// The seconds of the run that bucket `b` covers: the last one is cut short by the end of the
/// run, and its rate is over what it covers, unless that is a sliver too short to measure.
fn covered_s(end_s: f64, b: usize, bucket: f64) -> f64 {
    let covered = (end_s - b as f64 * bucket).min(bucket);
    if covered < bucket / 2.0 {
        bucket
    } else {
        covered
    }
}

pub(super) type Chart<'a, 'b, Y> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, Y>>;
type LogChart<'a, 'b> = Chart<'a, 'b, LogCoord<f64>>;

pub(super) fn split<'a>(root: &Area<'a>) -> Result<(Area<'a>, Area<'a>), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    Ok(root.split_horizontally(PLOT_SIZE.0 - LEGEND_WIDTH))
}

/// A chart of some quantity over the run's time (throughput, clock offsets), in the look every
/// plot of the report shares.
pub(super) fn linear_chart<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    end_s: f64,
    (lo, hi): (f64, f64),
    y_desc: &str,
) -> Result<Chart<'a, 'b, RangedCoordf64>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..end_s, lo..hi)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .x_desc("time since test start (s)")
        .y_desc(y_desc)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

fn latency_chart<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    end_s: f64,
    lo: f64,
    hi: f64,
) -> Result<LogChart<'a, 'b>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..end_s, (lo..hi).log_scale())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .x_desc("time since test start (s)")
        .y_desc("latency (ms, log scale)")
        .y_label_formatter(&|ms| format!("{ms}"))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(chart)
}

/// Powers of ten around the latencies, so that the log axis has whole decades; 0.1 to 1000 ms
/// when there are none.
fn latency_range(latencies: impl Iterator<Item = f64>) -> (f64, f64) {
    let (min, max) = latencies
        .filter(|l| l.is_finite())
        .fold((f64::INFINITY, 0f64), |(lo, hi), l| (lo.min(l), hi.max(l)));
    if max <= 0.0 {
        return (0.1, 1000.0);
    }
    let lo = 10f64.powf(min.max(0.001).log10().floor());
    let hi = 10f64.powf(max.log10().ceil());
    (lo, if hi > lo { hi } else { lo * 10.0 })
}

/// The nearest-rank quantile of sorted latencies; `q = 1` is the maximum.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Draws a per-bucket series at bucket centres, as lines broken where buckets are missing.
fn draw_runs<Y>(
    chart: &mut Chart<'_, '_, Y>,
    series: &[(i64, f64)],
    bucket: f64,
    shape: usize,
    colour: RGBColor,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    let centre = |b: i64| (b as f64 + 0.5) * bucket;
    for run in series.chunk_by(|a, b| b.0 == a.0 + 1) {
        let points = run.iter().map(|&(b, y)| (centre(b), y));
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        draw_markers(chart, points, shape, colour.to_rgba())?;
    }
    Ok(())
}

/// Shades each fault window from `lo` to `hi` and names its kind at the top.
pub(super) fn draw_windows<Y>(
    chart: &mut Chart<'_, '_, Y>,
    windows: &[FaultWindow],
    lo: f64,
    hi: f64,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    let bands = windows.iter().map(|w| {
        Rectangle::new(
            [(w.start_s, lo), (w.end_s, hi)],
            fault_colour(&w.kind).mix(0.18).filled(),
        )
    });
    chart.draw_series(bands).map_err(|e| e.to_string())?;
    let labels = windows.iter().map(|w| {
        EmptyElement::at((w.start_s, hi))
            + Text::new(
                w.kind.clone(),
                (3, 3),
                (FONT, 13).into_font().color(&fault_colour(&w.kind)),
            )
    });
    chart.draw_series(labels).map_err(|e| e.to_string())?;
    Ok(())
}

const SHAPES: usize = 4;

/// Draws points with the marker of the `shape`-th function: circle, triangle, cross, square,
/// then round again. One arm per marker because plotters' elements are distinct types.
fn draw_markers<Y>(
    chart: &mut Chart<'_, '_, Y>,
    points: impl Iterator<Item = (f64, f64)>,
    shape: usize,
    colour: RGBAColor,
) -> Result<(), String>
where
    Y: Ranged<ValueType = f64>,
{
    let fill = colour.filled();
    let drawn = match shape % SHAPES {
        0 => chart.draw_series(points.map(|p| EmptyElement::at(p) + Circle::new((0, 0), 3, fill))),
        1 => chart.draw_series(
            points.map(|p| EmptyElement::at(p) + TriangleMarker::new((0, 0), 4, fill)),
        ),
        2 => chart.draw_series(
            points.map(|p| EmptyElement::at(p) + Cross::new((0, 0), 3, colour.stroke_width(2))),
        ),
        _ => chart.draw_series(
            points.map(|p| EmptyElement::at(p) + Rectangle::new([(-3, -3), (3, 3)], fill)),
        ),
    };
    drawn.map(|_| ()).map_err(|e| e.to_string())
}

/// The legend's copy of [`draw_markers`]' marker, centred at `at` in the legend panel.
fn draw_legend_marker(
    area: &Area,
    shape: usize,
    at: (i32, i32),
    colour: RGBColor,
) -> Result<(), String> {
    let fill = colour.filled();
    let drawn = match shape % SHAPES {
        0 => area.draw(&Circle::new(at, 4, fill)),
        1 => area.draw(&TriangleMarker::new(at, 5, fill)),
        2 => area.draw(&Cross::new(at, 4, colour.stroke_width(2))),
        _ => area.draw(&Rectangle::new(
            [(at.0 - 4, at.1 - 4), (at.0 + 4, at.1 + 4)],
            fill,
        )),
    };
    drawn.map_err(|e| e.to_string())
}

const OUTCOMES: [OpType; 3] = [OpType::Ok, OpType::Fail, OpType::Info];

fn outcome_index(outcome: OpType) -> usize {
    OUTCOMES.iter().position(|&o| o == outcome).unwrap_or(0)
}

fn outcome_colour(outcome: OpType) -> RGBColor {
    match outcome {
        OpType::Ok => RGBColor(31, 119, 180),
        OpType::Fail => RGBColor(214, 39, 40),
        OpType::Info => RGBColor(255, 127, 14),
        OpType::Invoke => RGBColor(127, 127, 127),
    }
}

const QUANTILE_COLOURS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
];

fn quantile_label(q: f64) -> String {
    if q >= 1.0 {
        "max".to_owned()
    } else {
        format!("{q}")
    }
}

pub(super) fn fault_colour(kind: &str) -> RGBColor {
    match kind {
        "partition" => RGBColor(90, 90, 90),
        "packet-loss" => RGBColor(188, 128, 0),
        "latency" => RGBColor(148, 103, 189),
        "kill" => RGBColor(200, 30, 30),
        "pause" => RGBColor(23, 130, 190),
        k if k.starts_with("clock-") => RGBColor(0, 150, 136),
        _ => RGBColor(60, 140, 60),
    }
}

fn seconds_label(s: f64) -> String {
    format!("{s} s")
}

/// What stands before a legend entry's text.
pub(super) enum Swatch {
    Marker(usize, RGBColor),
    Line(RGBColor),
    Band(RGBColor),
}

pub(super) type LegendSection = (&'static str, Vec<(Swatch, String)>);

fn f_entries(run: &Run) -> Vec<(Swatch, String)> {
    let fs = run.fs.iter().enumerate();
    fs.map(|(i, f)| (Swatch::Marker(i, BLACK), f.to_string()))
        .collect()
}

fn fault_entries(run: &Run) -> Vec<(Swatch, String)> {
    let kinds: BTreeSet<&str> = run.windows.iter().map(|w| w.kind.as_str()).collect();
    if kinds.is_empty() {
        return vec![(Swatch::Band(WHITE), "none".to_owned())];
    }
    kinds
        .into_iter()
        .map(|k| (Swatch::Band(fault_colour(k)), k.to_owned()))
        .collect()
}

/// Draws the legend's sections top to bottom in the panel at the right of the chart.
pub(super) fn draw_legend(area: &Area, sections: &[LegendSection]) -> Result<(), String> {
    let text = |s: &str, at: (i32, i32), size: i32| {
        area.draw(&Text::new(s.to_owned(), at, (FONT, size)))
            .map_err(|e| e.to_string())
    };
    let mut y = 48;
    for (title, entries) in sections {
        text(title, (8, y), 16)?;
        y += 24;
        for (swatch, label) in entries {
            let mid = y + 8;
            match swatch {
                Swatch::Marker(shape, colour) => {
                    draw_legend_marker(area, *shape, (20, mid), *colour)?;
                }
                Swatch::Line(colour) => {
                    let line = PathElement::new(vec![(8, mid), (32, mid)], colour.stroke_width(2));
                    area.draw(&line).map_err(|e| e.to_string())?;
                }
                Swatch::Band(colour) => {
                    let band = Rectangle::new([(8, y), (32, y + 16)], colour.mix(0.18).filled());
                    area.draw(&band).map_err(|e| e.to_string())?;
                    let edge = Rectangle::new([(8, y), (32, y + 16)], BLACK.mix(0.3));
                    area.draw(&edge).map_err(|e| e.to_string())?;
                }
            }
            text(label, (40, y), 14)?;
            y += 22;
        }
        y += 14;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::history::{Op, Process, Value};

    fn decode(path: &Path) -> (png::OutputInfo, Vec<u8>) {
        let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut pixels).unwrap();
        pixels.truncate(info.buffer_size());
        (info, pixels)
    }

    /// Asserts the three plots exist, decode as PNGs of [`PLOT_SIZE`], and are not blank.
    /// `FAULTLINE_KEEP_PLOTS=<dir>` keeps a copy to look at.
    fn assert_plots(history: &History) {
        let dir = tempfile::tempdir().unwrap();
        let paths = write_plots(history, &dir.path().join("plots")).unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["latency-raw.png", "latency-quantiles.png", "rate.png"]
        );
        for path in &paths {
            let (info, pixels) = decode(path);
            assert_eq!((info.width, info.height), PLOT_SIZE, "{}", path.display());
            let pixel = info.color_type.samples();
            let background = &pixels[..pixel];
            let differing = pixels.chunks(pixel).filter(|p| p != &background).count();
            assert!(differing > 1000, "{} is nearly blank", path.display());
            if let Ok(keep) = std::env::var("FAULTLINE_KEEP_PLOTS") {
                std::fs::copy(path, Path::new(&keep).join(path.file_name().unwrap())).unwrap();
            }
        }
    }

    fn fixture() -> History {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run-history.jsonl");
        faultline_checkers::history::read_history(&path, &Default::default())
            .unwrap()
            .history
    }

    fn op(time_ms: i64, process: u64, kind: OpType, f: &str) -> Op {
        Op {
            time: Some(time_ms * 1_000_000),
            ..Op::new(Process::Client(process), kind, f, Value::Nil)
        }
    }

    #[test]
    fn a_recorded_run_gets_three_non_blank_plots_of_the_plot_size() {
        assert_plots(&fixture());
    }

    #[test]
    fn an_empty_history_still_gets_three_valid_plots() {
        assert_plots(&History::default());
    }

    #[test]
    fn a_tiny_history_with_an_op_in_flight_gets_valid_plots() {
        assert_plots(&History::from_ops(vec![
            op(5, 0, OpType::Invoke, "read"),
            op(7, 0, OpType::Ok, "read"),
            op(8, 1, OpType::Invoke, "write"),
        ]));
    }

    #[test]
    fn latency_pairs_each_completion_with_its_process_invocation() {
        let h = History::from_ops(vec![
            op(0, 0, OpType::Invoke, "read"),
            op(1, 1, OpType::Invoke, "write"),
            op(4, 1, OpType::Fail, "write"),
            op(10, 0, OpType::Info, "read"),
            op(11, 2, OpType::Ok, "read"),
        ]);
        let got: Vec<(f64, OpType)> = completions(&h)
            .into_iter()
            .map(|c| (c.latency_ms, c.outcome))
            .collect();
        assert_eq!(got, vec![(3.0, OpType::Fail), (10.0, OpType::Info)]);
    }

    #[test]
    fn quantiles_are_nearest_rank_and_one_is_the_maximum() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&sorted, 0.5), 50.0);
        assert_eq!(quantile(&sorted, 0.99), 99.0);
        assert_eq!(quantile(&sorted, 1.0), 100.0);
        assert_eq!(quantile(&[7.0], 0.5), 7.0);
    }

    #[test]
    fn the_latency_axis_spans_whole_decades() {
        assert_eq!(latency_range([0.3, 42.0].into_iter()), (0.1, 100.0));
        assert_eq!(latency_range(std::iter::empty()), (0.1, 1000.0));
        let (lo, hi) = latency_range([10.0].into_iter());
        assert!(lo < hi);
    }
}
