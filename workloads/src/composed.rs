//! Several workloads in one run, each on keys of its own: `--workload register,counter`.
//!
//! Jepsen composes a test from several workloads by reserving threads for each generator
//! (`gen/reserve`) and giving each its own keys, so that one cluster under one nemesis is
//! judged by several checkers at once. Here the workers are split between the workloads by
//! worker number (worker `w` serves workload `w mod n`), each worker gets the client of the
//! workload it serves, and every operation is recorded with that workload's name (the history's
//! `workload` field). Checking splits the history back by that field into one history per
//! workload (nemesis operations go to each), written next to the history as
//! `<history>.<workload>.jsonl`, and runs each workload's own checkers on its part: one verdict
//! or more per workload, each naming its workload.
//!
//! Keys cannot collide: each datastore keeps each workload on keys of its own (etcd's register
//! on `k<N>`, its counter on `faultline-counter`; Redis's set on `faultline-set`, its lists on
//! `append:<N>`; PostgreSQL's in tables of their own), and a workload may be named only once.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use faultline_checkers::{Validity, Verdict};

use crate::{
    CheckFailure, CheckLimits, FinalReads, Generator, Invocation, Observation, Workload,
    WorkloadOptions, WorkloadSpec,
};

/// Builds the workload of a run from the workloads named: the workload itself when one is
/// named, their composition when several are. A usage error when none is named, one is named
/// twice, `--mix` is given (it weighs one workload's operations), or there are fewer workers
/// than workloads.
pub fn build(
    specs: &[&'static WorkloadSpec],
    options: &WorkloadOptions,
) -> Result<Box<dyn Workload>, String> {
    match specs {
        [] => Err("--workload: name at least one workload".into()),
        [one] => (one.build)(options),
        several => Ok(Box::new(Composed::new(several, options)?)),
    }
}

/// Several workloads at once, each served by its share of the workers.
pub struct Composed {
    /// `register+counter`.
    name: String,
    names: Vec<&'static str>,
    parts: Vec<Box<dyn Workload>>,
}

impl Composed {
    fn new(specs: &[&'static WorkloadSpec], options: &WorkloadOptions) -> Result<Composed, String> {
        let names: Vec<&'static str> = specs.iter().map(|s| s.name).collect();
        let listed = names.join(",");
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(format!(
                    "--workload {listed}: {name} is named twice; each workload runs once, on \
                     keys of its own"
                ));
            }
        }
        if options.mix.is_some() {
            return Err(format!(
                "--mix weighs the operations of one workload; with several (--workload \
                 {listed}) leave it out: each runs its own default mix"
            ));
        }
        let n = names.len() as u64;
        if options.concurrency < n {
            return Err(format!(
                "--concurrency {}: fewer workers than workloads ({listed}); each workload needs \
                 a worker at least",
                options.concurrency
            ));
        }
        let parts = specs
            .iter()
            .enumerate()
            .map(|(i, spec)| {
                let part_options = WorkloadOptions {
                    seed: part_seed(options.seed, i),
                    concurrency: workers_of(options.concurrency, n, i as u64),
                    ..options.clone()
                };
                (spec.build)(&part_options).map_err(|e| format!("{}: {e}", spec.name))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Composed {
            name: names.join("+"),
            names,
            parts,
        })
    }
}

/// The seed of the `i`th workload: the run's own for the first, so that its operations are
/// those a run of it alone would draw first; a stream of its own for each other.
fn part_seed(seed: u64, i: usize) -> u64 {
    seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// How many of `concurrency` workers serve workload `i` of `n` (worker `w` serves `w mod n`).
fn workers_of(concurrency: u64, n: u64, i: u64) -> u64 {
    (concurrency + n - 1 - i) / n
}

impl Workload for Composed {
    fn name(&self) -> &str {
        &self.name
    }

    fn part_of_worker(&self, worker: u64) -> Option<&'static str> {
        Some(self.names[(worker % self.names.len() as u64) as usize])
    }

    fn generator(&self) -> Box<dyn Generator> {
        Box::new(ComposedGenerator {
            names: self.names.clone(),
            parts: self.parts.iter().map(|p| p.generator()).collect(),
            turn: 0,
        })
    }

    /// Nothing for the run to judge over the whole history: the operations of different
    /// workloads share names (`read`), so whether each workload observed and changed anything is
    /// judged on its own part, in [`Workload::check`].
    fn observation(&self) -> Observation {
        Observation {
            observe: &[],
            change: &[],
        }
    }

    fn describe(&self) -> serde_json::Value {
        let parts: serde_json::Map<String, serde_json::Value> = self
            .names
            .iter()
            .zip(&self.parts)
            .map(|(name, part)| (name.to_string(), part.describe()))
            .collect();
        serde_json::json!({
            "workloads": self.names,
            "workers": "worker w serves workload w mod n, in the order named",
            "parts": parts,
        })
    }

    fn check(&self, history: &Path, limits: &CheckLimits) -> Result<Vec<Verdict>, CheckFailure> {
        let split = split_history(history, &self.names)?;
        let mut verdicts = Vec::new();
        for (i, (name, part)) in self.names.iter().zip(&self.parts).enumerate() {
            let path = &split.paths[i];
            let checked = part
                .check(path, limits)
                .map_err(|e| CheckFailure(format!("the {name} part of the history: {e}")))?;
            let vacuous = split.counts[i].vacuous(name, part.observation());
            for mut v in checked {
                v.workload = Some(name.to_string());
                if let Some(why) = &vacuous {
                    if v.valid == Validity::Valid {
                        v.valid = Validity::Unknown;
                    }
                    if v.valid == Validity::Unknown {
                        v.unknown_because.push(why.clone());
                    }
                }
                verdicts.push(v);
            }
        }
        Ok(verdicts)
    }
}

/// Each workload's generator, drawn from by its own workers.
struct ComposedGenerator {
    names: Vec<&'static str>,
    parts: Vec<Box<dyn Generator>>,
    /// Whose turn it is when the caller does not say which worker asks.
    turn: usize,
}

impl Generator for ComposedGenerator {
    /// The workloads in turn, passing over those with nothing more to do.
    fn next(&mut self) -> Option<Invocation> {
        for _ in 0..self.parts.len() {
            let i = self.turn % self.parts.len();
            self.turn = self.turn.wrapping_add(1);
            if let Some(op) = self.parts[i].next() {
                return Some(op);
            }
        }
        None
    }

    /// Worker `w` serves workload `w mod n`, as its `w / n`th worker.
    fn next_for(&mut self, worker: u64) -> Option<Invocation> {
        let n = self.parts.len() as u64;
        self.parts[(worker % n) as usize].next_for(worker / n)
    }

    fn final_reads(&self) -> Vec<FinalReads> {
        self.names
            .iter()
            .zip(&self.parts)
            .flat_map(|(name, part)| {
                part.final_reads().into_iter().map(move |r| FinalReads {
                    part: Some(name),
                    ..r
                })
            })
            .collect()
    }
}

/// A history split into one file per workload.
struct Split {
    /// The file of each workload, in the order named.
    paths: Vec<PathBuf>,
    /// What each workload's clients invoked and completed ok, by operation.
    counts: Vec<OpCounts>,
}

/// Invokes and oks by operation, of one workload's clients.
#[derive(Debug, Default)]
struct OpCounts {
    invoked: BTreeMap<String, u64>,
    ok: BTreeMap<String, u64>,
}

impl OpCounts {
    fn add(&mut self, f: &str, kind: &str) {
        let slot = match kind {
            "invoke" => &mut self.invoked,
            "ok" => &mut self.ok,
            _ => return,
        };
        *slot.entry(f.to_string()).or_default() += 1;
    }

    /// Why this workload's part proves nothing, if it does not: nothing completed ok, or none
    /// of the operations that observe (or that change) the datastore did, though some were
    /// asked.
    fn vacuous(&self, name: &str, observation: Observation) -> Option<String> {
        let sum = |map: &BTreeMap<String, u64>, fs: &[&str]| -> u64 {
            fs.iter().filter_map(|f| map.get(*f)).sum()
        };
        let none_ok = |fs: &[&str]| sum(&self.invoked, fs) > 0 && sum(&self.ok, fs) == 0;
        if self.ok.values().sum::<u64>() == 0 {
            Some(format!(
                "no operation of the {name} workload completed ok: it never observed the \
                 datastore"
            ))
        } else if none_ok(observation.observe) {
            Some(format!(
                "no {} of the {name} workload completed ok: nothing was observed",
                observation.observe.join(" or ")
            ))
        } else if none_ok(observation.change) {
            Some(format!(
                "no {} of the {name} workload completed ok: nothing was changed",
                observation.change.join(" or ")
            ))
        } else {
            None
        }
    }
}

/// Where the part of `history` that belongs to `workload` is written: next to it, as
/// `history.register.jsonl` for `history.jsonl`, so that `faultline check` can judge it again.
pub fn part_path(history: &Path, workload: &str) -> PathBuf {
    let stem = history
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "history".into());
    history.with_file_name(format!("{stem}.{workload}.jsonl"))
}

/// The workloads named by the first `lines` lines of a faultline JSONL history, in order of
/// first appearance: empty for a history of one workload (or one that cannot be read). Lets
/// `faultline check` say why a history of several workloads does not check as one.
pub fn workloads_in(history: &Path, lines: usize) -> Vec<String> {
    let Ok(file) = File::open(history) else {
        return Vec::new();
    };
    let mut names: Vec<String> = Vec::new();
    for line in BufReader::new(file)
        .lines()
        .take(lines)
        .map_while(Result::ok)
    {
        let Ok(op) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let Some(w) = op.get("workload").and_then(|w| w.as_str()) {
            if !names.iter().any(|n| n == w) {
                names.push(w.to_string());
            }
        }
    }
    names
}

/// Which files a line of the history goes to.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// A nemesis operation, or a line that is not an operation at all (a line cut short by a
    /// crash): to every part, whose reader judges it as it would in a history of one workload.
    Every,
    /// A client operation of the workload with this position.
    One(usize),
}

/// Where line `number` goes, by its `workload` field.
fn route(line: &str, number: usize, history: &Path, names: &[&str]) -> Result<Route, String> {
    let Ok(serde_json::Value::Object(op)) = serde_json::from_str::<serde_json::Value>(line) else {
        return Ok(Route::Every);
    };
    if op.get("process").and_then(|p| p.as_str()) == Some("nemesis") {
        return Ok(Route::Every);
    }
    match op.get("workload").and_then(|w| w.as_str()) {
        Some(w) => names
            .iter()
            .position(|n| *n == w)
            .map(Route::One)
            .ok_or_else(|| {
                format!(
                    "{} line {number}: workload {w:?} is not one of this run's ({})",
                    history.display(),
                    names.join(", ")
                )
            }),
        None => Err(format!(
            "{} line {number}: a client operation without a `workload` field, in a history of \
             several workloads ({}): it cannot be given to one",
            history.display(),
            names.join(", ")
        )),
    }
}

/// Splits `history` into one file per workload (see [`part_path`]), counting each workload's
/// operations on the way.
fn split_history(history: &Path, names: &[&'static str]) -> Result<Split, CheckFailure> {
    let fail = |e: String| CheckFailure(e);
    let input =
        File::open(history).map_err(|e| fail(format!("cannot open {}: {e}", history.display())))?;
    let paths: Vec<PathBuf> = names.iter().map(|n| part_path(history, n)).collect();
    let mut outs = paths
        .iter()
        .map(|p| {
            File::create(p)
                .map(BufWriter::new)
                .map_err(|e| fail(format!("cannot create {}: {e}", p.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut counts: Vec<OpCounts> = names.iter().map(|_| OpCounts::default()).collect();
    let write_err = |p: &Path, e: std::io::Error| fail(format!("writing {}: {e}", p.display()));
    for (n, line) in BufReader::new(input).lines().enumerate() {
        let line = line.map_err(|e| fail(format!("reading {}: {e}", history.display())))?;
        if line.trim().is_empty() {
            continue;
        }
        match route(&line, n + 1, history, names).map_err(fail)? {
            Route::Every => {
                for (out, p) in outs.iter_mut().zip(&paths) {
                    writeln!(out, "{line}").map_err(|e| write_err(p, e))?;
                }
            }
            Route::One(i) => {
                if let Ok(op) = serde_json::from_str::<serde_json::Value>(&line) {
                    let field = |k: &str| op.get(k).and_then(|v| v.as_str()).unwrap_or_default();
                    counts[i].add(field("f"), field("type"));
                }
                writeln!(outs[i], "{line}").map_err(|e| write_err(&paths[i], e))?;
            }
        }
    }
    for (out, p) in outs.iter_mut().zip(&paths) {
        out.flush().map_err(|e| write_err(p, e))?;
    }
    Ok(Split { paths, counts })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{counter, register, set};

    fn options(concurrency: u64) -> WorkloadOptions {
        WorkloadOptions {
            seed: 3,
            concurrency,
            ..Default::default()
        }
    }

    fn temp_history(name: &str, text: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("faultline-composed-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("history.jsonl");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Removes what `temp_history` made (left behind only when a test fails).
    fn remove(history: &Path) {
        if let Some(dir) = history.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    #[test]
    fn one_workload_is_itself_and_several_are_composed() {
        let one = build(&[&register::SPEC], &options(4)).unwrap();
        assert_eq!(one.name(), "register");
        assert_eq!(one.part_of_worker(3), None);
        let two = build(&[&register::SPEC, &counter::SPEC], &options(4)).unwrap();
        assert_eq!(two.name(), "register+counter");
        let parts: Vec<_> = (0..5).map(|w| two.part_of_worker(w)).collect();
        assert_eq!(
            parts,
            [
                Some("register"),
                Some("counter"),
                Some("register"),
                Some("counter"),
                Some("register")
            ]
        );
    }

    #[test]
    fn naming_a_workload_twice_a_mix_or_too_few_workers_is_refused() {
        let twice = build(&[&register::SPEC, &register::SPEC], &options(4)).err();
        assert!(twice.unwrap().contains("register is named twice"));
        let mix = WorkloadOptions {
            mix: Some("1,1".into()),
            ..options(4)
        };
        let with_mix = build(&[&register::SPEC, &counter::SPEC], &mix).err();
        assert!(with_mix.unwrap().contains("--mix"));
        let few = build(&[&register::SPEC, &counter::SPEC, &set::SPEC], &options(2)).err();
        assert!(few.unwrap().contains("fewer workers than workloads"));
        assert!(build(&[], &options(2)).is_err());
    }

    #[test]
    fn workers_are_shared_out_with_none_left_over() {
        for (c, n) in [(10, 3), (3, 3), (7, 2), (5, 4)] {
            let shares: Vec<u64> = (0..n).map(|i| workers_of(c, n, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), c, "{c} over {n}");
            for (i, share) in shares.iter().enumerate() {
                let served = (0..c).filter(|w| w % n == i as u64).count() as u64;
                assert_eq!(*share, served);
            }
        }
    }

    #[test]
    fn each_worker_draws_its_own_workloads_operations_and_keys_stay_apart() {
        let w = build(&[&register::SPEC, &counter::SPEC], &options(4)).unwrap();
        let mut g = w.generator();
        for round in 0..50 {
            for worker in 0..4u64 {
                let op = g.next_for(worker).unwrap();
                if worker % 2 == 0 {
                    // The register's: every operation on a key k<N>.
                    let key = op.key.as_ref().map(|k| k.to_string()).unwrap_or_default();
                    assert!(key.starts_with("\"k"), "round {round}: {key}");
                    assert!(["read", "write", "cas"].contains(&&*op.f));
                } else {
                    // The counter's: no key, adds and reads.
                    assert_eq!(op.key, None);
                    assert!(["add", "read"].contains(&&*op.f));
                }
            }
        }
        let finals = g.final_reads();
        assert_eq!(finals.len(), 2);
        assert_eq!(finals[0].part, Some("register"));
        assert_eq!(finals[1].part, Some("counter"));
        assert!(finals[0].ops.iter().all(|op| op.key.is_some()));
        assert!(finals[1].ops.iter().all(|op| op.key.is_none()));
    }

    #[test]
    fn a_history_splits_by_workload_with_the_nemesis_in_each_part() {
        let history = temp_history(
            "split",
            concat!(
                r#"{"index":0,"process":0,"type":"invoke","f":"write","key":"k0","value":1,"workload":"register"}"#,
                "\n",
                r#"{"index":1,"process":1,"type":"invoke","f":"add","value":2,"workload":"counter"}"#,
                "\n",
                r#"{"index":2,"process":"nemesis","type":"info","f":"start-partition","value":null}"#,
                "\n",
                r#"{"index":3,"process":0,"type":"ok","f":"write","key":"k0","value":1,"workload":"register"}"#,
                "\n",
                r#"{"index":4,"process":1,"type":"ok","f":"add","value":2,"workload":"counter"}"#,
                "\n",
                r#"{"index":5,"process":3,"type":"invoke","f":"read","value":null,"workload":"counter"}"#,
                "\n",
                r#"{"index":6,"process":3,"type":"ok","f":"read","value":2,"workload":"counter"}"#,
                "\n",
                r#"{"index":7,"process":0,"type":"invoke","f":"read","key":"k0","value":null,"workload":"register"}"#,
                "\n",
            ),
        );
        assert_eq!(workloads_in(&history, 100), ["register", "counter"]);
        let split = split_history(&history, &["register", "counter"]).unwrap();
        let indexes = |p: &Path| -> Vec<u64> {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["index"]
                        .as_u64()
                        .unwrap()
                })
                .collect()
        };
        assert_eq!(split.paths[0], part_path(&history, "register"));
        assert!(split.paths[0].ends_with("history.register.jsonl"));
        assert_eq!(indexes(&split.paths[0]), vec![0, 2, 3, 7]);
        assert_eq!(indexes(&split.paths[1]), vec![1, 2, 4, 5, 6]);
        // The register's one read never completed: its part observed nothing.
        let register = split.counts[0].vacuous(
            "register",
            Observation {
                observe: &["read"],
                change: &["write", "cas"],
            },
        );
        assert!(register
            .unwrap()
            .contains("no read of the register workload"));
        assert_eq!(
            split.counts[1].vacuous(
                "counter",
                Observation {
                    observe: &["read"],
                    change: &["add"],
                }
            ),
            None
        );
        remove(&history);
    }

    #[test]
    fn a_client_operation_of_no_workload_is_refused_naming_its_line() {
        let history = temp_history(
            "untagged",
            concat!(
                r#"{"index":0,"process":"nemesis","type":"info","f":"kill","value":null}"#,
                "\n",
                r#"{"index":1,"process":0,"type":"invoke","f":"add","value":2}"#,
                "\n",
            ),
        );
        let err = split_history(&history, &["register", "counter"])
            .err()
            .unwrap();
        assert!(
            err.0
                .contains("line 2: a client operation without a `workload`"),
            "{}",
            err.0
        );
        let stranger = temp_history(
            "stranger",
            "{\"index\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"add\",\"workload\":\"bank\"}\n",
        );
        let err = split_history(&stranger, &["register", "counter"])
            .err()
            .unwrap();
        assert!(
            err.0.contains("workload \"bank\" is not one of"),
            "{}",
            err.0
        );
        remove(&history);
        remove(&stranger);
    }

    #[test]
    fn each_workloads_checkers_judge_its_part_and_name_it() {
        let history = temp_history(
            "check",
            concat!(
                r#"{"index":0,"process":0,"type":"invoke","f":"write","key":"k0","value":1,"workload":"register"}"#,
                "\n",
                r#"{"index":1,"process":0,"type":"ok","f":"write","key":"k0","value":1,"workload":"register"}"#,
                "\n",
                r#"{"index":2,"process":1,"type":"invoke","f":"add","value":2,"workload":"counter"}"#,
                "\n",
                r#"{"index":3,"process":1,"type":"ok","f":"add","value":2,"workload":"counter"}"#,
                "\n",
                r#"{"index":4,"process":0,"type":"invoke","f":"read","key":"k0","value":null,"workload":"register"}"#,
                "\n",
                r#"{"index":5,"process":0,"type":"ok","f":"read","key":"k0","value":1,"workload":"register"}"#,
                "\n",
                r#"{"index":6,"process":1,"type":"invoke","f":"read","value":null,"workload":"counter"}"#,
                "\n",
                r#"{"index":7,"process":1,"type":"ok","f":"read","value":5,"workload":"counter"}"#,
                "\n",
            ),
        );
        let w = build(&[&register::SPEC, &counter::SPEC], &options(2)).unwrap();
        let verdicts = w.check(&history, &CheckLimits::default()).unwrap();
        let named: Vec<(Option<&str>, Validity)> = verdicts
            .iter()
            .map(|v| (v.workload.as_deref(), v.valid))
            .collect();
        // The counter read 5 after one add of 2: its part is invalid, the register's valid.
        assert_eq!(
            named,
            vec![
                (Some("register"), Validity::Valid),
                (Some("counter"), Validity::Invalid)
            ]
        );
        assert_ne!(verdicts[0].name(), verdicts[1].name());
        remove(&history);
    }
}
