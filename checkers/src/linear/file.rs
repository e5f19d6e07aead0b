//! Checking a history file as it is read. Each op goes from the reader straight into its part,
//! and nothing of the history is kept but the compiled calls and where its lines are: memory
//! grows with the calls, a few tens of bytes each, not with the events and their values. For
//! histories too large to hold as a [`History`](crate::history::History), and for any caller
//! that needs only the verdict and its witnesses.

use std::path::Path;
use std::time::{Duration, Instant};

use super::prepare::Preparer;
use super::{search_parts, Analysis, CheckError, CheckOptions};
use crate::history::{detect_file_format, read_ops, Format, LineMap, ReadError, ReadOptions};
use crate::model::{with_model, Model, ModelConfig, WithModel};

/// A history file checked by [`check_file`].
#[derive(Debug)]
pub struct FileCheck {
    pub format: Format,
    /// Events (ops) in the file; witnesses name them by position, as in a
    /// [`History`](crate::history::History).
    pub events: usize,
    /// The source line of each event.
    pub lines: LineMap,
    /// How long reading (and preparing, which goes along) took; the rest is searching.
    pub reading: Duration,
    pub analysis: Analysis,
}

/// Why a history file could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum FileCheckError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Check(#[from] CheckError),
}

/// Reads and checks the history at `path` with the model that `--model` calls `model`, without
/// holding the history (see the module documentation). `config` gives the model's settings once
/// the format is known (Jepsen's formats read a nil read as "anything"). The time limit counts
/// from the end of reading, as it does for a history read first and checked after.
pub fn check_file(
    path: &Path,
    read: &ReadOptions,
    model: &str,
    config: impl FnOnce(Format) -> ModelConfig,
    options: &CheckOptions,
    progress: Option<&(dyn Fn(usize, usize) + Sync)>,
) -> Result<FileCheck, FileCheckError> {
    let format = match read.format {
        Some(f) => f,
        None => detect_file_format(path)?,
    };
    let read = ReadOptions {
        format: Some(format),
        ..read.clone()
    };
    let task = Task {
        path,
        read: &read,
        options,
        progress,
    };
    with_model(model, config(format), task)
        .ok_or_else(|| CheckError::UnknownModel(model.to_string()))?
}

struct Task<'a> {
    path: &'a Path,
    read: &'a ReadOptions,
    options: &'a CheckOptions,
    progress: Option<&'a (dyn Fn(usize, usize) + Sync)>,
}

impl WithModel for Task<'_> {
    type Output = Result<FileCheck, FileCheckError>;

    fn with<M: Model>(self, model: M) -> Self::Output {
        let started = Instant::now();
        let mut preparer = Preparer::new(&model, self.options.partition);
        let mut lines = LineMap::default();
        let status = self.options.status.as_deref();
        let format = read_ops(self.path, self.read, |op, line| {
            lines.push(line);
            preparer.push(&op);
            if let Some(status) = status {
                status.read_events(1);
            }
        })?;
        if let Some(status) = status {
            status.reading_over();
        }
        let events = preparer.events();
        let parts = preparer.finish().map_err(CheckError::Prepare)?;
        let reading = started.elapsed();
        let analysis = search_parts(parts, events, Instant::now(), self.options, self.progress);
        Ok(FileCheck {
            format,
            events,
            lines,
            reading,
            analysis,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::read_history;
    use crate::linear::{check_by_name, Validity};
    use crate::model::NilRead;

    fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/regressions")
            .join(name)
    }

    fn config(format: Format) -> ModelConfig {
        ModelConfig {
            nil_read: if format.is_jepsen() {
                NilRead::Any
            } else {
                NilRead::Absent
            },
            ..ModelConfig::default()
        }
    }

    /// The file path and the read-then-check path agree on verdicts, witnesses and lines.
    #[test]
    fn checking_a_file_as_it_is_read_agrees_with_reading_it_first() {
        let cases = [
            ("jsonl-stale-read.jsonl", "cas-register"),
            ("jsonl-multi-key-independent.jsonl", "cas-register"),
            ("edn-lines-stale-read.edn", "cas-register"),
            ("edn-op-spanning-lines.edn", "cas-register"),
            ("log-stale-read.log", "cas-register"),
            ("porcupine-kv-lost-append.txt", "kv"),
            ("porcupine-kv-valid.txt", "kv"),
        ];
        for (name, model) in cases {
            let path = fixture(name);
            let options = CheckOptions::default();
            let file = check_file(
                &path,
                &ReadOptions::default(),
                model,
                config,
                &options,
                None,
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            let loaded = read_history(&path, &ReadOptions::default()).unwrap();
            let whole = check_by_name(
                &loaded.history,
                model,
                config(loaded.format),
                &options,
                None,
            )
            .unwrap();
            assert_eq!(file.format, loaded.format, "{name}");
            assert_eq!(file.events, loaded.history.len(), "{name}");
            assert_eq!(file.analysis.valid, whole.valid, "{name}");
            assert_eq!(file.analysis.calls, whole.calls, "{name}");
            let witnesses = |a: &Analysis| {
                a.parts
                    .iter()
                    .map(|p| {
                        (
                            p.key.clone(),
                            p.valid,
                            p.witness.as_ref().map(|w| w.op.clone()),
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(witnesses(&file.analysis), witnesses(&whole), "{name}");
            for i in 0..file.events {
                assert_eq!(file.lines.line(i), loaded.history.line(i), "{name} op {i}");
            }
        }
    }

    #[test]
    fn a_read_error_and_an_unknown_model_are_errors() {
        let options = CheckOptions::default();
        let bad = fixture("jsonl-invoke-after-crash.jsonl");
        match check_file(
            &bad,
            &ReadOptions::default(),
            "cas-register",
            config,
            &options,
            None,
        ) {
            Err(FileCheckError::Read(ReadError::Parse { line: 3, .. })) => {}
            other => panic!("{other:?}"),
        }
        let good = fixture("jsonl-valid-register.jsonl");
        match check_file(
            &good,
            &ReadOptions::default(),
            "queue",
            config,
            &options,
            None,
        ) {
            Err(FileCheckError::Check(CheckError::UnknownModel(m))) => assert_eq!(m, "queue"),
            other => panic!("{other:?}"),
        }
        let refused = fixture("jsonl-cas-not-a-pair.jsonl");
        let e = check_file(
            &refused,
            &ReadOptions::default(),
            "cas-register",
            config,
            &options,
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("[from to] pair"), "{e}");
        assert_eq!(
            check_file(
                &good,
                &ReadOptions::default(),
                "cas-register",
                config,
                &options,
                None
            )
            .unwrap()
            .analysis
            .valid,
            Validity::Valid
        );
    }
}
