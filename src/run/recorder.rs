//! The history recorder: every invoke and completion, numbered in the order they happen,
//! timestamped on a monotonic clock, streamed to `history.jsonl` as it happens.
//!
//! The file is the record. The recorder itself keeps only counts and the invokes still open, so
//! its memory stays flat however long the test runs; the checker reads the file back at the end.
//!
//! A writer thread owns the file and writes whenever it has caught up with the workers, so a
//! crash of the harness loses at most the events of the last few milliseconds. Writes go in
//! whole lines: should one fail (a full disk), the file is cut back to its last whole line and
//! nothing more is written, so it always holds a gap-free prefix of the history. A prefix is
//! still a history (its open invokes read as `info`), and linearizability is closed under
//! prefixes, so an anomaly found in it is real; only "valid" cannot be concluded from it.
//! The failure is reported at once through a callback, so the run can stop the workload.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use anyhow::{Context, Result};
use faultline_checkers::history::{write_jsonl_op, Op, OpExtra, OpType, Process, Value};

/// Events that may wait for the writer. When the disk cannot keep up, recording blocks rather
/// than queueing without bound: the harness's memory stays flat under any load.
const QUEUE: usize = 1 << 14;

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
    next_index: u64,
    counts: Counts,
    /// Each client process's invoke that has no completion yet.
    open: BTreeMap<u64, Op>,
    /// `None` once the recorder is closed.
    sender: Option<SyncSender<Op>>,
}

/// What the writer thread did.
struct Written {
    /// Events in the file, all whole lines.
    events: u64,
    /// The first error; nothing was written after it.
    error: Option<std::io::Error>,
}

/// How the history ended up on disk.
#[derive(Debug)]
pub struct Closed {
    /// Events recorded, open invokes' closing `info`s included.
    pub recorded: u64,
    /// Events in the file. Less than `recorded` only when writing failed.
    pub written: u64,
    /// Why the file is incomplete, or could not be synced; names the file.
    pub error: Option<anyhow::Error>,
}

impl Closed {
    /// Whether the file holds the whole history.
    pub fn complete(&self) -> bool {
        self.written == self.recorded
    }
}

/// Records events; cheap to share between workers (`Arc`).
pub struct Recorder {
    started: Instant,
    shared: Mutex<Shared>,
    writer: Mutex<Option<JoinHandle<Written>>>,
    path: PathBuf,
    /// Set by the writer when the file can no longer be written.
    failed: Arc<AtomicBool>,
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
    /// The workload the operation belongs to, when the run has several.
    pub workload: Option<&'a str>,
}

impl Recorder {
    /// Creates `path` and starts the writer thread. `on_write_failure` is called once, from the
    /// writer thread, with a message naming the file, when the history can no longer be written.
    pub fn create(
        path: &Path,
        started: Instant,
        on_write_failure: impl FnOnce(String) + Send + 'static,
    ) -> Result<Arc<Recorder>> {
        let file = File::create(path)
            .with_context(|| format!("cannot create the history file {}", path.display()))?;
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let shown = path.display().to_string();
        let failed = Arc::new(AtomicBool::new(false));
        let on_failure = {
            let failed = failed.clone();
            move |why: String| {
                failed.store(true, Ordering::SeqCst);
                on_write_failure(why);
            }
        };
        let writer = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || write_loop(file, rx, shown, on_failure))
            .context("cannot start the history writer thread")?;
        Ok(Arc::new(Recorder {
            started,
            shared: Mutex::new(Shared {
                next_index: 0,
                counts: Counts::default(),
                open: BTreeMap::new(),
                sender: Some(tx),
            }),
            writer: Mutex::new(Some(writer)),
            path: path.to_owned(),
            failed,
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
        if s.sender.is_none() {
            return s.next_index;
        }
        let index = s.next_index;
        s.next_index += 1;
        let extra = if e.node.is_some() || e.error.is_some() || e.workload.is_some() {
            Some(Box::new(OpExtra {
                node: e.node.map(Into::into),
                error: e.error.map(|m| Value::Str(m.into())),
                workload: e.workload.map(Into::into),
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
        if let Process::Client(p) = op.process {
            if op.kind == OpType::Invoke {
                s.open.insert(p, op.clone());
            } else {
                s.open.remove(&p);
            }
        }
        if let Some(tx) = &s.sender {
            // The writer stops writing on an I/O error but keeps receiving until closed; should
            // it have died, `send` fails at once and `close` reports it.
            let _ = tx.send(op);
        }
        index
    }

    /// Whether the history file stopped being written (the run should wind down).
    pub fn writing_failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    pub fn counts(&self) -> Counts {
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).counts
    }

    /// Closes the history with an `info` for every invoke still open (its outcome is unknown),
    /// then waits for the writer to write and sync the file. Recording after this is a no-op.
    pub fn close(&self) -> Closed {
        let open: Vec<Op> = {
            let s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            s.open.values().cloned().collect()
        };
        for op in open {
            self.record(Event {
                process: op.process,
                kind: OpType::Info,
                f: &op.f,
                key: op.key.as_ref(),
                value: op.value.clone(),
                node: op.node(),
                error: Some("still running when the test ended".into()),
                workload: op.workload(),
            });
        }
        let recorded = {
            let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
            s.sender = None;
            s.next_index
        };
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        let (written, error) = match handle.map(JoinHandle::join) {
            Some(Ok(w)) => (
                w.events,
                w.error.map(|e| {
                    anyhow::Error::new(e).context(format!(
                        "writing the history {}: it holds the first {} of {recorded} events",
                        self.path.display(),
                        w.events
                    ))
                }),
            ),
            None => (recorded, None),
            Some(Err(_)) => (
                0,
                Some(anyhow::anyhow!(
                    "the writer of {} panicked; how much of the history it holds is not known",
                    self.path.display()
                )),
            ),
        };
        Closed {
            recorded,
            written,
            error,
        }
    }
}

impl Drop for Recorder {
    /// A run that unwinds (a panic) never calls `close`: still write out what is queued, so
    /// the file holds every event recorded (open invokes stay open and read as `info`).
    fn drop(&mut self) {
        let shared = self.shared.get_mut().unwrap_or_else(|p| p.into_inner());
        shared.sender = None;
        if let Some(handle) = self
            .writer
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = handle.join();
        }
    }
}

/// Writes what arrives in batches of whole lines. After the first failed write the file is cut
/// back to its last whole line and left alone; events are still received (and counted as lost)
/// so that recording never blocks.
fn write_loop(
    mut file: File,
    rx: Receiver<Op>,
    shown: String,
    on_failure: impl FnOnce(String),
) -> Written {
    let mut on_failure = Some(on_failure);
    let mut batch: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut good_len: u64 = 0;
    let mut events: u64 = 0;
    let mut error: Option<std::io::Error> = None;
    while let Ok(op) = rx.recv() {
        if error.is_some() {
            continue;
        }
        batch.clear();
        let mut n = 1;
        // Writing into a Vec cannot fail.
        let _ = write_jsonl_op(&op, &mut batch);
        // Take what is queued too: the file trails the test by milliseconds.
        while batch.len() < (1 << 20) {
            match rx.try_recv() {
                Ok(op) => {
                    let _ = write_jsonl_op(&op, &mut batch);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        match file.write_all(&batch) {
            Ok(()) => {
                good_len += batch.len() as u64;
                events += n;
            }
            Err(e) => {
                // A partial write may have left half a line: cut it off.
                let _ = file.set_len(good_len);
                if let Some(f) = on_failure.take() {
                    f(format!(
                        "the history {shown} cannot be written ({e}); it holds the first {events} events"
                    ));
                }
                error = Some(e);
            }
        }
    }
    if error.is_none() {
        if let Err(e) = file.sync_all() {
            if let Some(f) = on_failure.take() {
                f(format!(
                    "the history {shown} cannot be synced to disk ({e})"
                ));
            }
            error = Some(e);
        }
    }
    Written { events, error }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::history::{read_history, ReadOptions};

    fn event<'a>(p: u64, kind: OpType, f: &'a Arc<str>, key: &'a Value, value: Value) -> Event<'a> {
        Event {
            process: Process::Client(p),
            kind,
            f,
            key: Some(key),
            value,
            node: Some("n1"),
            error: None,
            workload: None,
        }
    }

    #[test]
    fn the_file_holds_every_event_and_open_invokes_close_as_info() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Recorder::create(&path, Instant::now(), |m| panic!("{m}")).unwrap();
        let read: Arc<str> = Arc::from("read");
        let key = Value::Str("k0".into());
        for p in 0..3 {
            r.record(event(p, OpType::Invoke, &read, &key, Value::Nil));
        }
        r.record(event(0, OpType::Ok, &read, &key, Value::Int(1)));
        let closed = r.close();
        assert!(closed.error.is_none());
        assert!(closed.complete());
        assert_eq!(closed.recorded, 6);
        let loaded = read_history(&path, &ReadOptions::default()).unwrap();
        let ops = &loaded.history.ops;
        assert_eq!(ops.len(), 6);
        assert_eq!(ops.iter().filter(|o| o.kind == OpType::Info).count(), 2);
        assert_eq!(
            ops.iter().map(|o| o.index).collect::<Vec<_>>(),
            (0..6).collect::<Vec<_>>()
        );
        assert_eq!(r.counts().info, 2);
        // Closed means closed: nothing more reaches the counts or the file.
        r.record(event(5, OpType::Invoke, &read, &key, Value::Nil));
        assert_eq!(r.counts().invoke, 3);
    }

    #[test]
    fn a_recorder_dropped_without_close_still_writes_everything_it_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let r = Recorder::create(&path, Instant::now(), |m| panic!("{m}")).unwrap();
        let write: Arc<str> = Arc::from("write");
        let key = Value::Str("k0".into());
        for p in 0..1000 {
            r.record(event(p, OpType::Invoke, &write, &key, Value::Int(p as i64)));
        }
        drop(r);
        let loaded = read_history(&path, &ReadOptions::default()).unwrap();
        assert_eq!(loaded.history.ops.len(), 1000);
    }

    #[test]
    fn a_full_disk_is_reported_at_once_and_naming_the_file() {
        // Every write to /dev/full fails with ENOSPC, as on a full disk.
        let (tx, rx) = mpsc::channel();
        let r = Recorder::create(Path::new("/dev/full"), Instant::now(), move |m| {
            let _ = tx.send(m);
        })
        .unwrap();
        let write: Arc<str> = Arc::from("write");
        let key = Value::Str("k0".into());
        r.record(event(0, OpType::Invoke, &write, &key, Value::Int(1)));
        let message = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the failure is reported while the test runs");
        assert!(r.writing_failed());
        assert!(message.contains("/dev/full"), "{message}");
        assert!(message.contains("No space left"), "{message}");
        // Recording goes on (the workers must not block), and close tells what is missing.
        r.record(event(0, OpType::Ok, &write, &key, Value::Int(1)));
        let closed = r.close();
        assert_eq!((closed.recorded, closed.written), (2, 0));
        assert!(!closed.complete());
        let why = format!("{:#}", closed.error.expect("an error"));
        assert!(
            why.contains("/dev/full") && why.contains("first 0 of 2"),
            "{why}"
        );
    }
}
