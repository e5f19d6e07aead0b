//! What a run leaves besides the history: the summary of `results.json` (counts, latency,
//! throughput, problems), the run's verdict settled from its checkers' verdicts and what the
//! run itself can vouch for, and the text printed at the end.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use faultline_checkers::history::{pair_calls, History, OpType};
use faultline_checkers::{verdict, Validity, Verdict};
use faultline_workloads::Observation;

use crate::store::records::{FCounts, Latency};
use crate::store::{ResultsRecord, RunDir, Summary};

/// The summary of a history: counts by outcome and by operation, latency quantiles of ok
/// operations, throughput over the workload's time.
pub fn summarize(
    history: &History,
    check_time: Duration,
    workload_seconds: f64,
    started: Instant,
    interrupted: bool,
    problems: Vec<String>,
) -> Summary {
    let faults = history
        .ops
        .iter()
        .filter(|o| o.process.is_nemesis())
        .count() as u64;
    let calls = pair_calls(history);
    let (mut ok, mut fail, mut info) = (0, 0, 0);
    let mut latencies = Vec::new();
    let mut by_f: BTreeMap<String, FCounts> = BTreeMap::new();
    for call in &calls {
        let counts = by_f.entry(call.invoke.f.to_string()).or_default();
        counts.invoked += 1;
        match call.completion {
            Some(done) if done.kind == OpType::Ok => {
                ok += 1;
                counts.ok += 1;
                if let (Some(t0), Some(t1)) = (call.invoke.time, done.time) {
                    latencies.push((t1 - t0) as f64 / 1e6);
                }
            }
            Some(done) if done.kind == OpType::Fail => fail += 1,
            Some(_) => info += 1,
            None => {}
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let q = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() - 1) as f64 * p).round() as usize;
        (latencies[i] * 1000.0).round() / 1000.0
    };
    Summary {
        valid: Validity::Valid,
        ops: calls.len() as u64,
        ok,
        fail,
        info,
        faults,
        ok_per_second: if workload_seconds > 0.0 {
            ok as f64 / workload_seconds
        } else {
            0.0
        },
        latency_ms: Latency {
            p50: q(0.5),
            p95: q(0.95),
            p99: q(0.99),
            max: q(1.0),
        },
        workload_seconds,
        run_seconds: started.elapsed().as_secs_f64(),
        check_ms: check_time.as_secs_f64() * 1e3,
        interrupted,
        problems: collapse_repeats(problems),
        by_f,
        history_complete: true,
        unknown_because: Vec::new(),
        unhealed: Vec::new(),
    }
}

/// The run's verdict from its checkers': an anomaly stands (it is in the history whatever else
/// went wrong, since the checked properties are closed under prefixes), but "valid" needs the
/// whole history, and a history in which nothing was observed or changed proves nothing.
pub fn settle_verdict(
    summary: &mut Summary,
    checks: &[Verdict],
    observation: Observation,
    history_complete: bool,
    unhealed: Vec<String>,
) {
    summary.valid = if checks.is_empty() {
        Validity::Unknown
    } else {
        verdict::combine(checks)
    };
    summary.history_complete = history_complete;
    summary.unhealed = unhealed;
    if !history_complete {
        summary
            .unknown_because
            .push("the history file does not hold every event of the run".into());
    }
    if let Some(why) = vacuous(summary, observation) {
        summary.unknown_because.push(why);
    }
    if summary.valid == Validity::Valid && !summary.unknown_because.is_empty() {
        summary.valid = Validity::Unknown;
    }
}

/// Why the history cannot show an anomaly, if it cannot: nothing completed, no observing
/// operation returned anything, or no changing operation took effect.
fn vacuous(s: &Summary, observation: Observation) -> Option<String> {
    let sum = |fs: &[&str]| {
        fs.iter()
            .filter_map(|f| s.by_f.get(*f))
            .fold(FCounts::default(), |a, c| FCounts {
                invoked: a.invoked + c.invoked,
                ok: a.ok + c.ok,
            })
    };
    let observed = sum(observation.observe);
    let changed = sum(observation.change);
    if s.ok == 0 {
        Some("no operation completed ok: the datastore was never observed".into())
    } else if observed.invoked > 0 && observed.ok == 0 {
        Some(format!(
            "no {} completed ok: nothing was ever observed",
            observation.observe.join(" or ")
        ))
    } else if changed.invoked > 0 && changed.ok == 0 {
        Some(format!(
            "no {} completed ok: nothing was known to change",
            observation.change.join(" or ")
        ))
    } else {
        None
    }
}

/// Each distinct problem once, in order of first appearance, with how often it came up: a node
/// that died early fails every later nemesis step the same way.
pub fn collapse_repeats(problems: Vec<String>) -> Vec<String> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for p in problems {
        match seen.iter_mut().find(|(q, _)| *q == p) {
            Some((_, n)) => *n += 1,
            None => seen.push((p, 1)),
        }
    }
    seen.into_iter()
        .map(|(p, n)| if n > 1 { format!("{p} ({n} times)") } else { p })
        .collect()
}

/// How many explanation lines of each anomaly the printed summary shows.
const SHOWN: usize = 24;

/// The end of a run, in words: counts, problems, each checker's verdict with its anomalies,
/// and the verdict.
pub fn print(dir: &RunDir, r: &ResultsRecord) {
    let s = &r.summary;
    println!();
    println!(
        "{} ops: {} ok, {} fail, {} info; {} fault events; {:.1} ok/s; latency p50 {:.1} ms, p99 {:.1} ms",
        s.ops, s.ok, s.fail, s.info, s.faults, s.ok_per_second, s.latency_ms.p50, s.latency_ms.p99
    );
    for p in &s.problems {
        println!("problem: {p}");
    }
    for c in &r.checks {
        println!(
            "\n{} ({}): {} - {}",
            c.name(),
            c.against,
            c.valid,
            c.summary
        );
        for a in &c.anomalies {
            let key = a
                .key
                .as_deref()
                .map(|k| format!(" key {k}"))
                .unwrap_or_default();
            println!("  {}{key}:", a.kind);
            for line in a.explanation.iter().take(SHOWN) {
                println!("    {line}");
            }
        }
    }
    for why in r.unknown_because() {
        println!("unknown because: {why}");
    }
    println!(
        "\nverdict: {}{} (checked in {:.0} ms)",
        r.valid,
        if s.interrupted {
            " (run interrupted)"
        } else {
            ""
        },
        s.check_ms
    );
    println!("results: {}", dir.path.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: Observation = Observation {
        observe: &["read"],
        change: &["write", "cas"],
    };

    fn summary(by_f: &[(&str, u64, u64)]) -> Summary {
        let by_f: BTreeMap<String, FCounts> = by_f
            .iter()
            .map(|(f, invoked, ok)| {
                (
                    f.to_string(),
                    FCounts {
                        invoked: *invoked,
                        ok: *ok,
                    },
                )
            })
            .collect();
        Summary {
            ops: by_f.values().map(|c| c.invoked).sum(),
            ok: by_f.values().map(|c| c.ok).sum(),
            by_f,
            history_complete: true,
            ..Default::default()
        }
    }

    fn checked(valid: Validity) -> Vec<Verdict> {
        let mut v = Verdict::new("linearizable", "cas-register");
        v.valid = valid;
        vec![v]
    }

    #[test]
    fn repeated_problems_are_listed_once_with_a_count() {
        let p = |s: &str| s.to_string();
        assert_eq!(
            collapse_repeats(vec![p("a"), p("b"), p("a"), p("a")]),
            vec![p("a (3 times)"), p("b")]
        );
    }

    const OBSERVED: &[(&str, u64, u64)] = &[("read", 10, 4), ("write", 10, 3), ("cas", 5, 0)];

    #[test]
    fn a_whole_observed_history_keeps_the_checkers_verdict() {
        for v in [Validity::Valid, Validity::Invalid, Validity::Unknown] {
            let mut s = summary(OBSERVED);
            settle_verdict(&mut s, &checked(v), REGISTER, true, Vec::new());
            assert_eq!(s.valid, v);
            assert!(s.unknown_because.is_empty());
        }
    }

    #[test]
    fn valid_needs_the_whole_history_but_an_anomaly_stands_in_a_prefix() {
        let mut s = summary(OBSERVED);
        settle_verdict(
            &mut s,
            &checked(Validity::Valid),
            REGISTER,
            false,
            Vec::new(),
        );
        assert_eq!(s.valid, Validity::Unknown);
        assert!(s.unknown_because[0].contains("does not hold every event"));
        let mut s = summary(OBSERVED);
        settle_verdict(
            &mut s,
            &checked(Validity::Invalid),
            REGISTER,
            false,
            Vec::new(),
        );
        assert_eq!(s.valid, Validity::Invalid);
    }

    #[test]
    fn a_history_where_nothing_was_observed_or_changed_proves_nothing() {
        for (by_f, why) in [
            (&[("read", 10, 0), ("write", 10, 0)][..], "no operation"),
            (&[("read", 10, 0), ("write", 10, 5)][..], "no read"),
            (
                &[("read", 10, 5), ("write", 10, 0), ("cas", 3, 0)][..],
                "no write or cas",
            ),
        ] {
            let mut s = summary(by_f);
            settle_verdict(
                &mut s,
                &checked(Validity::Valid),
                REGISTER,
                true,
                Vec::new(),
            );
            assert_eq!(s.valid, Validity::Unknown, "{by_f:?}");
            assert!(
                s.unknown_because[0].contains(why),
                "{:?}",
                s.unknown_because
            );
        }
        // Reads alone, when only reads were asked for, are an observation.
        let mut s = summary(&[("read", 10, 10)]);
        settle_verdict(
            &mut s,
            &checked(Validity::Valid),
            REGISTER,
            true,
            Vec::new(),
        );
        assert_eq!(s.valid, Validity::Valid);
    }

    #[test]
    fn no_checker_verdict_is_no_valid_run() {
        let mut s = summary(OBSERVED);
        settle_verdict(&mut s, &[], REGISTER, true, Vec::new());
        assert_eq!(s.valid, Validity::Unknown);
    }
}
