//! Every history of the shared corpus (`../shared/corpus/porcupine`, see its README) reads, with
//! the format found by auto-detection, and passes the well-formedness rules.
//!
//! The corpus lives outside the repository; `FAULTLINE_CORPUS` points elsewhere. Where it is
//! absent (a bare checkout) the tests say so on stderr and pass, rather than fail on a missing
//! fixture that is not this crate's.

use std::path::PathBuf;

use super::{read_history, Format, ReadOptions};

fn corpus() -> Option<PathBuf> {
    let dir = match std::env::var_os("FAULTLINE_CORPUS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/porcupine"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        // CI always has the corpus beside the clone: there a missing corpus is a failure.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "corpus {} not found (CI must have it)",
            dir.display()
        );
        eprintln!("corpus {} not found: skipped", dir.display());
        None
    }
}

fn files(dir: PathBuf, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect();
    files.sort();
    files
}

#[test]
fn every_etcd_log_reads_as_a_jepsen_log() {
    let Some(dir) = corpus() else { return };
    let logs = files(dir.join("jepsen"), "log");
    assert_eq!(logs.len(), 103);
    let mut ops = 0;
    for path in &logs {
        let loaded = read_history(path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.format, Format::JepsenLog, "{}", path.display());
        assert_eq!(loaded.history.lines.len(), loaded.history.len());
        if path.ends_with("etcd_095.log") {
            assert!(loaded.history.is_empty());
        } else {
            assert!(loaded.history.len() >= 73, "{}", path.display());
        }
        ops += loaded.history.len();
    }
    assert!(ops > 103 * 70, "{ops}");
}

#[test]
fn every_kv_file_reads_as_edn_with_string_keys() {
    let Some(dir) = corpus() else { return };
    let kvs = files(dir.join("kv"), "txt");
    assert_eq!(kvs.len(), 6);
    for path in &kvs {
        let loaded = read_history(path, &ReadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.format, Format::Edn, "{}", path.display());
        let h = &loaded.history;
        assert!(h.len() >= 38, "{}", path.display());
        assert!(
            h.ops
                .iter()
                .all(|o| o.key.as_ref().is_some_and(|k| k.as_str().is_some())),
            "every kv op has a string key: {}",
            path.display()
        );
        assert!(h
            .ops
            .iter()
            .all(|o| ["get", "put", "append"].contains(&&*o.f)));
    }
}
