//! Every history of the shared corpus gets the verdict that Porcupine's and Knossos' test suites
//! assert (`expected.csv`). Under `CI=true` a missing corpus is a failure, never a skip.

use std::path::PathBuf;

use faultline_checkers::history::{read_history, ReadOptions};
use faultline_checkers::linear::{check_by_name, CheckOptions, Validity};
use faultline_checkers::model::{ModelConfig, NilRead};

fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("FAULTLINE_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/porcupine"),
    };
    dir.join("expected.csv").is_file().then_some(dir)
}

fn check_corpus(partition: bool, only: &str) {
    let Some(dir) = corpus_dir() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "the corpus (../shared/corpus/porcupine/expected.csv) is missing: CI must have it"
        );
        eprintln!("corpus missing: set FAULTLINE_CORPUS or place ../shared/corpus beside the repo");
        return;
    };
    let manifest = std::fs::read_to_string(dir.join("expected.csv")).expect("read expected.csv");
    let mut checked = 0;
    let mut wrong = Vec::new();
    for line in manifest.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let [file, model, expected] = fields[..] else {
            panic!("malformed expected.csv line {line:?}");
        };
        if !file.contains(only) {
            continue;
        }
        let loaded = read_history(&dir.join(file), &ReadOptions::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let config = ModelConfig {
            nil_read: NilRead::Any,
            ..ModelConfig::default()
        };
        let options = CheckOptions {
            partition,
            ..CheckOptions::default()
        };
        let analysis = check_by_name(&loaded.history, model, config, &options, None)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let want = if expected == "true" {
            Validity::Valid
        } else {
            Validity::Invalid
        };
        if analysis.valid != want {
            wrong.push(format!("{file}: got {}, expected {want}", analysis.valid));
        }
        if want == Validity::Invalid {
            let witness = analysis.failures().find_map(|p| p.witness.as_ref());
            assert!(witness.is_some(), "{file}: invalid without a witness");
        }
        checked += 1;
    }
    assert!(checked > 0, "no corpus file matched {only:?}");
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

#[test]
fn every_etcd_log_gets_the_expected_verdict() {
    check_corpus(true, "jepsen/");
}

#[test]
fn every_kv_history_gets_the_expected_verdict_partitioned_by_key() {
    check_corpus(true, "kv/");
}

#[test]
fn small_kv_histories_get_the_expected_verdict_unpartitioned() {
    check_corpus(false, "kv/c0");
    check_corpus(false, "kv/c10");
}
