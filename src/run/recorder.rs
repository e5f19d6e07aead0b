//! The history recorder: every invoke and completion, numbered in the order they happen,
//! timestamped on a monotonic clock, streamed to `history.jsonl` as it happens.
//!
//! A writer thread owns the file and flushes whenever it has caught up with the workers, so a
//! crash of the harness loses at most the events of the last few milliseconds, and a full disk
//! is noticed and reported without stopping the test: the recorder also keeps every event in
//! memory, and the checker works from that copy.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context, Result};
use faultline_checkers::history::{write_jsonl_op, History, Op, OpExtra, OpType, Process, Value};

/// Counts by outcome, for the progress line and results.json.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Counts {
    pub invoke: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    pub nemesis: u64,
}

struct Shared {
    ops: Vec<Op>,
    counts: Counts,
    /// `None` once the recorder is closed.
    sender: Option<Sender<Op>>,
}

/// Records events; cheap to share between workers (`Arc`).
pub struct Recorder {
    started: Instant,
    shared: Mutex<Shared>,
    writer: Mutex<Option<JoinHandle<std::io::Result<u64>>>>,
    path: PathBuf,
}

/// An event about to be recorded.
pub struct Event<'a> {
    pub process: Process,
    pub kind: OpType,
    pub f: &'a Arc<str>,
    pub key: Option<&'a Value>,
    pub value: Value,
    pub node: Option<&'a str>,
    pub error: Option<String>,
}

impl Recorder {
    /// Creates `path` and starts the writer thread.
    pub fn create(path: &Path, started: Instant) -> Result<Arc<Recorder>> {
        let file = File::create(path)
            .with_context(|| format!("cannot create the history file {}", path.display()))?;
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || write_loop(file, rx))
            .context("cannot start the history writer thread")?;
        Ok(Arc::new(Recorder {
            started,
            shared: Mutex::new(Shared {
                ops: Vec::new(),
                counts: Counts::default(),
                sender: Some(tx),
            }),
            writer: Mutex::new(Some(writer)),
            path: path.to_owned(),
        }))
    }

    /// Nanoseconds since the test started.
    pub fn now(&self) -> i64 {
        self.started.elapsed().as_nanos().min(i64::MAX as u128) as i64
    }

    /// Records one event and returns its index. Events after `close` are dropped.
    pub fn record(&self, e: Event) -> u64 {
        let time = self.now();
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let index = s.ops.len() as u64;
        let extra = if e.node.is_some() || e.error.is_some() {
            Some(Box::new(OpExtra {
                node: e.node.map(Into::into),
                error: e.error.map(|m| Value::Str(m.into())),
            }))
        } else {
            None
        };
        let op = Op {
            index,
            time: Some(time),
            process: e.process,
            kind: e.kind,
            f: e.f.clone(),
            key: e.key.cloned(),
            value: e.value,
            extra,
        };
        let c = &mut s.counts;
        match (e.process, e.kind) {
            (Process::Nemesis, _) => c.nemesis += 1,
            (_, OpType::Invoke) => c.invoke += 1,
            (_, OpType::Ok) => c.ok += 1,
            (_, OpType::Fail) => c.fail += 1,
            (_, OpType::Info) => c.info += 1,
        }
        if let Some(tx) = &s.sender {
            // The writer only stops on an I/O error, which `close` reports.
            let _ = tx.send(op.clone());
        }
        s.ops.push(op);
        index
    }

    pub fn counts(&self) -> Counts {
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).counts
    }

    /// Closes the history with an `info` for every invoke still open (its outcome is unknown),
    /// flushes the file, and returns the whole history. An error writing the file is returned
    /// with the history, which is complete in memory either way.
    pub fn close(&self) -> (History, Option<anyhow::Error>) {
        let open = self.open_invokes();
        for op in open {
            self.record(Event {
                process: op.process,
                kind: OpType::Info,
                f: &op.f,
                key: op.key.as_ref(),
                value: op.value.clone(),
                node: op.node(),
                error: Some("still running when the test ended".into()),
            });
        }
        let ops = {
            let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            s.sender = None;
            s.ops.clone()
        };
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        let error = match handle.map(JoinHandle::join) {
            Some(Ok(Ok(_))) | None => None,
            Some(Ok(Err(e))) => {
                Some(anyhow::Error::new(e).context(format!("writing {}", self.path.display())))
            }
            Some(Err(_)) => Some(anyhow::anyhow!("the history writer thread panicked")),
        };
        (History::from_ops(ops), error)
    }

    fn open_invokes(&self) -> Vec<Op> {
        let s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let mut open: std::collections::BTreeMap<u64, &Op> = Default::default();
        for op in &s.ops {
            if let Process::Client(p) = op.process {
                if op.kind == OpType::Invoke {
                    open.insert(p, op);
                } else {
                    open.remove(&p);
                }
            }
        }
        open.into_values().cloned().collect()
    }
}

fn write_loop(file: File, rx: Receiver<Op>) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let mut written = 0;
    while let Ok(op) = rx.recv() {
        write_jsonl_op(&op, &mut out)?;
        written += 1;
        // Drain what is queued, then flush: the file trails the test by milliseconds.
        while let Ok(op) = rx.try_recv() {
            write_jsonl_op(&op, &mut out)?;
            written += 1;
        }
        out.flush()?;
    }
    out.flush()?;
    out.get_ref().sync_all()?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::history::{read_history, ReadOptions};

    #[test]
    fn the_file_holds_every_event_and_open_invokes_close_as_info() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Recorder::create(&path, Instant::now()).unwrap();
        let read: Arc<str> = Arc::from("read");
        let key = Value::Str("k0".into());
        for p in 0..3 {
            r.record(Event {
                process: Process::Client(p),
                kind: OpType::Invoke,
                f: &read,
                key: Some(&key),
                value: Value::Nil,
                node: Some("n1"),
                error: None,
            });
        }
        r.record(Event {
            process: Process::Client(0),
            kind: OpType::Ok,
            f: &read,
            key: Some(&key),
            value: Value::Int(1),
            node: Some("n1"),
            error: None,
        });
        let (history, err) = r.close();
        assert!(err.is_none());
        assert_eq!(history.len(), 6);
        let loaded = read_history(&path, &ReadOptions::default()).unwrap();
        assert_eq!(loaded.history.ops, history.ops);
        assert_eq!(
            history
                .ops
                .iter()
                .filter(|o| o.kind == OpType::Info)
                .count(),
            2
        );
        assert_eq!(r.counts().info, 2);
    }
}
