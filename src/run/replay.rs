//! `faultline test --replay RUN_DIR`: the options of a stored run, to run it again.
//!
//! A run's `test.json` records its `faultline test` options whole (`args`) and the seed it
//! used (with `--test-count`, each run's own). Replaying takes both, so the datastore, the
//! workload, the nemesis, its schedule kind and targets, the clock options and the seed are
//! those of the stored run: the fault schedule is the same, step for step (`test.json`'s
//! `schedule` shows it). Only where to store the rerun may be given with `--replay` (`--store`,
//! `--junit`); any other option given is refused, since it would silently change the test.
//! Options added to faultline after the run was recorded take their defaults.

use std::path::Path;

use clap::FromArgMatches;

use crate::cli::TestArgs;
use crate::store::records::RunRecords;

/// The options that may be given with `--replay`: where the rerun is stored.
const WHERE: [&str; 3] = ["replay", "store", "junit"];

/// The options of the run stored in `run_dir`, with `given`'s `--store`, `--junit` and
/// `--replay`; the error says what is wrong (a usage error).
pub fn replay_args(run_dir: &Path, given: &TestArgs) -> Result<TestArgs, String> {
    let defaults = serde_json::to_value(default_args()?).map_err(|e| e.to_string())?;
    let given_json = serde_json::to_value(given).map_err(|e| e.to_string())?;
    let changed: Vec<String> = given_json
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| !WHERE.contains(&k.as_str()) && defaults.get(k.as_str()) != Some(*v))
        .map(|(k, _)| format!("--{}", k.replace('_', "-")))
        .collect();
    if !changed.is_empty() {
        return Err(format!(
            "--replay takes every option from {}/test.json; only --store and --junit may be \
             given with it (given: {})",
            run_dir.display(),
            changed.join(", ")
        ));
    }
    let records = RunRecords::read(run_dir);
    if let Some(e) = records.errors.first() {
        return Err(format!("--replay: {e}"));
    }
    let test = records.test.ok_or_else(|| {
        format!(
            "--replay {}: no test.json there (a run directory is results/<test>/<time>)",
            run_dir.display()
        )
    })?;
    let Some(recorded) = test.args.as_object() else {
        return Err(format!(
            "--replay {}: its test.json does not record the run's options (it was written by \
             an older faultline); run it again with the options it shows and --seed {}",
            run_dir.display(),
            test.seed
        ));
    };
    let mut merged = defaults;
    for (k, v) in recorded {
        merged[k.as_str()] = v.clone();
    }
    for k in WHERE {
        merged[k] = given_json[k].clone();
    }
    merged["seed"] = serde_json::json!(test.seed);
    merged["test_count"] = serde_json::json!(1);
    serde_json::from_value(merged).map_err(|e| {
        format!(
            "--replay {}: the options in its test.json cannot be read: {e}",
            run_dir.display()
        )
    })
}

/// `faultline test` with no options at all.
fn default_args() -> Result<TestArgs, String> {
    let m = crate::cli::command()
        .try_get_matches_from(["faultline", "test"])
        .map_err(|e| e.to_string())?;
    match crate::cli::Cli::from_arg_matches(&m)
        .map_err(|e| e.to_string())?
        .command
    {
        crate::cli::Command::Test(a) => Ok(*a),
        _ => Err("`faultline test` did not parse as the test command".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TestRecord;

    fn parse(argv: &[&str]) -> TestArgs {
        let mut all = vec!["faultline", "test"];
        all.extend_from_slice(argv);
        let m = crate::cli::command().try_get_matches_from(all).unwrap();
        match crate::cli::Cli::from_arg_matches(&m).unwrap().command {
            crate::cli::Command::Test(a) => *a,
            _ => unreachable!(),
        }
    }

    fn stored(dir: &Path, args: &TestArgs, seed: u64) {
        let record = TestRecord {
            seed,
            args: serde_json::to_value(args).unwrap(),
            ..Default::default()
        };
        std::fs::write(
            dir.join("test.json"),
            serde_json::to_string(&record).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn a_replay_takes_the_stored_options_and_the_runs_own_seed() {
        let dir = tempfile::tempdir().unwrap();
        let original = parse(&[
            "--db",
            "redis",
            "--workload",
            "set",
            "--nemesis",
            "clock-bump,kill",
            "--nemesis-schedule",
            "random",
            "--nemesis-at-once",
            "all",
            "--clock-bump-ms=-300,300",
            "--redis-down-after-ms",
            "1500",
            "--seed",
            "40",
            "--test-count",
            "3",
        ]);
        // The third run of three used seed 42.
        stored(dir.path(), &original, 42);
        let given = parse(&[
            "--replay",
            dir.path().to_str().unwrap(),
            "--store",
            "/tmp/elsewhere",
        ]);
        let again = replay_args(dir.path(), &given).unwrap();
        assert_eq!(again.seed, Some(42));
        assert_eq!(again.test_count, 1);
        assert_eq!(again.store, Path::new("/tmp/elsewhere"));
        assert_eq!(again.replay.as_deref(), Some(dir.path()));
        assert_eq!(again.nemesis, ["clock-bump", "kill"]);
        assert_eq!(again.nemesis_schedule, "random");
        assert_eq!(again.nemesis_at_once, "all");
        assert_eq!(again.clock.clock_bump_ms, vec![-300, 300]);
        assert_eq!(again.db_options.redis.redis_down_after_ms, Some(1500));
        assert_eq!(
            (again.db.as_str(), again.workload.as_str()),
            ("redis", "set")
        );
    }

    #[test]
    fn a_run_of_several_workloads_replays_the_same_workloads() {
        let dir = tempfile::tempdir().unwrap();
        stored(
            dir.path(),
            &parse(&["--workload", "register,counter", "--local-cluster", "5"]),
            5,
        );
        let given = parse(&["--replay", dir.path().to_str().unwrap()]);
        let again = replay_args(dir.path(), &given).unwrap();
        assert_eq!(again.workload, "register,counter");
        let plan = crate::run::plan::Plan::new(&again).unwrap();
        assert_eq!(plan.name, "etcd-register+counter");
    }

    #[test]
    fn other_options_with_a_replay_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        stored(dir.path(), &parse(&[]), 1);
        let d = dir.path().to_str().unwrap();
        let e = replay_args(dir.path(), &parse(&["--replay", d, "--seed", "3"])).unwrap_err();
        assert!(e.contains("given: --seed"), "{e}");
        let e = replay_args(dir.path(), &parse(&["--replay", d, "--db", "redis"])).unwrap_err();
        assert!(e.contains("--db"), "{e}");
    }

    #[test]
    fn a_run_without_recorded_options_or_without_test_json_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap();
        let e = replay_args(dir.path(), &parse(&["--replay", d])).unwrap_err();
        assert!(e.contains("no test.json"), "{e}");
        std::fs::write(dir.path().join("test.json"), r#"{"name": "x", "seed": 9}"#).unwrap();
        let e = replay_args(dir.path(), &parse(&["--replay", d])).unwrap_err();
        assert!(
            e.contains("older faultline") && e.contains("--seed 9"),
            "{e}"
        );
    }
}
