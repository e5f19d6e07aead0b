//! The clock driver: the process behind `clock-strobe` and `clock-skew` (`faultline
//! clock-driver`, hidden), started by the nemesis on the node whose clock it moves.
//!
//! A strobe flips the offset every few milliseconds and a skew changes it continuously, which
//! one SSH command per change cannot keep up with; so this process, on the node, rewrites the
//! node's libfaketime control file itself (see [`crate::db::faketime`]): a strobe every period,
//! a skew every [`SKEW_STEP`] (a drift of 100 ms/s thus moves in steps of 1 ms). Each write
//! replaces the file by a rename, so no reader sees it half-written.
//!
//! It runs for `--for-ms` (the fault's planned duration), then puts the offset back to
//! `--base-ms` and exits: a driver whose stop never came (faultline died) ends on its own.
//! The nemesis stops it earlier with SIGTERM through its pidfile, then writes the offset itself.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;

use crate::db::faketime::offset_text;
use crate::exit;

/// How often a skewed clock's offset is rewritten.
pub const SKEW_STEP: Duration = Duration::from_millis(10);

#[derive(Args, Debug)]
pub struct ClockDriverArgs {
    /// The node's libfaketime control file.
    #[arg(long)]
    pub file: PathBuf,

    /// The offset the node's clock has before the fault, in ms; restored at the end.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub base_ms: f64,

    /// Strobe: flip between the base and the base + this many ms.
    #[arg(long, allow_negative_numbers = true, conflicts_with = "skew_ms_per_s")]
    pub strobe_delta_ms: Option<i64>,

    /// Strobe: flip every this many ms.
    #[arg(long, default_value_t = 10)]
    pub period_ms: u64,

    /// Skew: drift from the base at this many ms per second.
    #[arg(long, allow_negative_numbers = true)]
    pub skew_ms_per_s: Option<f64>,

    /// How long to drive the clock, in ms.
    #[arg(long)]
    pub for_ms: u64,
}

/// What the driver does to the offset over time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Motion {
    /// Base, base + delta, base, ... each for `period`.
    Strobe { delta_ms: f64, period: Duration },
    /// Base + rate x elapsed seconds.
    Skew { ms_per_s: f64 },
}

impl Motion {
    /// The offset `elapsed` after the start, from `base`.
    pub fn offset_at(&self, base: f64, elapsed: Duration) -> f64 {
        match *self {
            Motion::Strobe { delta_ms, period } => {
                let flips = elapsed.as_nanos() / period.as_nanos().max(1);
                if flips % 2 == 1 {
                    base + delta_ms
                } else {
                    base
                }
            }
            Motion::Skew { ms_per_s } => base + ms_per_s * elapsed.as_secs_f64(),
        }
    }

    /// How often the offset is rewritten.
    pub fn step(&self) -> Duration {
        match *self {
            Motion::Strobe { period, .. } => period,
            Motion::Skew { .. } => SKEW_STEP,
        }
    }
}

/// Runs the driver; returns the exit code.
pub fn run(args: &ClockDriverArgs) -> i32 {
    let motion = match (args.strobe_delta_ms, args.skew_ms_per_s) {
        (Some(delta), None) if args.period_ms > 0 => Motion::Strobe {
            delta_ms: delta as f64,
            period: Duration::from_millis(args.period_ms),
        },
        (None, Some(rate)) if rate.is_finite() => Motion::Skew { ms_per_s: rate },
        _ => {
            eprintln!(
                "faultline clock-driver: give --strobe-delta-ms (with --period-ms of at least 1) \
                 or --skew-ms-per-s"
            );
            return exit::USAGE;
        }
    };
    match drive(
        &args.file,
        args.base_ms,
        motion,
        Duration::from_millis(args.for_ms),
    ) {
        Ok(()) => exit::VALID,
        Err(e) => {
            eprintln!("faultline clock-driver: {}: {e}", args.file.display());
            exit::INTERNAL
        }
    }
}

/// Moves the offset in `file` as `motion` says for `duration`, then writes `base` back.
pub fn drive(file: &Path, base: f64, motion: Motion, duration: Duration) -> std::io::Result<()> {
    let started = Instant::now();
    let step = motion.step();
    let mut last = None;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= duration {
            break;
        }
        let offset = motion.offset_at(base, elapsed);
        if last != Some(offset) {
            write_offset(file, offset)?;
            last = Some(offset);
        }
        // Sleep to the next step boundary, so that a slow write does not stretch the period.
        let into = Duration::from_nanos((elapsed.as_nanos() % step.as_nanos().max(1)) as u64);
        std::thread::sleep((step - into).min(duration - elapsed));
    }
    write_offset(file, base)
}

/// Where the driver writes the next offset before renaming it over `file`.
pub fn scratch_file(file: &Path) -> std::path::PathBuf {
    let mut tmp = file.as_os_str().to_owned();
    tmp.push(".driver");
    tmp.into()
}

/// Replaces `file` with the offset `ms`, through a rename.
fn write_offset(file: &Path, ms: f64) -> std::io::Result<()> {
    let tmp = scratch_file(file);
    std::fs::write(&tmp, format!("{}\n", offset_text(ms)))?;
    std::fs::rename(&tmp, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn a_strobe_starts_on_its_base_and_flips_every_period() {
        let m = Motion::Strobe {
            delta_ms: 200.0,
            period: MS(10),
        };
        let at: Vec<f64> = [0, 9, 10, 19, 20, 35]
            .iter()
            .map(|&t| m.offset_at(50.0, MS(t)))
            .collect();
        assert_eq!(at, vec![50.0, 50.0, 250.0, 250.0, 50.0, 250.0]);
        assert_eq!(m.step(), MS(10));
    }

    #[test]
    fn a_skew_drifts_steadily_from_its_base() {
        let m = Motion::Skew { ms_per_s: -100.0 };
        assert_eq!(m.offset_at(0.0, MS(0)), 0.0);
        assert_eq!(m.offset_at(0.0, MS(500)), -50.0);
        assert_eq!(m.offset_at(1000.0, MS(2000)), 800.0);
        assert_eq!(m.step(), SKEW_STEP);
    }

    #[test]
    fn the_driver_rewrites_the_file_and_ends_on_its_base() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("n1.faketime");
        std::fs::write(&file, "+0\n").unwrap();
        let motion = Motion::Strobe {
            delta_ms: 300.0,
            period: MS(20),
        };
        // The reader looks for as long as the driver drives (not for a fixed time, which a
        // loaded machine may spend elsewhere): twenty flips, ten windows to see each state.
        let driving = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let reader = {
            let (file, driving) = (file.clone(), driving.clone());
            std::thread::spawn(move || {
                let mut seen = std::collections::BTreeSet::new();
                while driving.load(std::sync::atomic::Ordering::SeqCst) {
                    if let Ok(text) = std::fs::read_to_string(&file) {
                        seen.insert(text);
                    }
                }
                seen
            })
        };
        let driven = drive(&file, 100.0, motion, MS(400));
        driving.store(false, std::sync::atomic::Ordering::SeqCst);
        driven.unwrap();
        let seen = reader.join().unwrap();
        assert!(seen.contains("+0.100000\n"), "{seen:?}");
        assert!(seen.contains("+0.400000\n"), "{seen:?}");
        assert!(
            seen.iter()
                .all(|t| ["+0\n", "+0.100000\n", "+0.400000\n"].contains(&t.as_str())),
            "never half-written: {seen:?}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "+0.100000\n");
    }
}
