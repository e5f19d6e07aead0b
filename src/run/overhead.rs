//! The harness's own cost per operation: the real workers, generator and recorder (streaming
//! history.jsonl to disk), driving an in-process client that answers at once. What it measures
//! is everything `faultline test` adds to a datastore's own latency; it tests no datastore.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use faultline_workloads::generator::Mix;
use faultline_workloads::register::{self, RegisterClient, RegisterGenerator, OPERATIONS};
use faultline_workloads::{BoxFuture, Client, ClientError};
use tokio::sync::watch;

use super::recorder::Recorder;
use super::worker::{run_worker, Shared};
use crate::db::Connect;

/// A client that does nothing and succeeds: reads return nothing, writes and cas succeed.
#[derive(Clone, Copy)]
struct NoopClient;

impl RegisterClient for NoopClient {
    async fn read(&self, _key: &str) -> Result<Option<i64>, ClientError> {
        Ok(None)
    }
    async fn write(&self, _key: &str, _value: i64) -> Result<(), ClientError> {
        Ok(())
    }
    async fn cas(&self, _key: &str, _from: i64, _to: i64) -> Result<bool, ClientError> {
        Ok(true)
    }
}

impl Connect for NoopClient {
    fn connect(&self) -> BoxFuture<'_, Result<Box<dyn Client>, ClientError>> {
        Box::pin(async { Ok(register::client(NoopClient)) })
    }
}

/// Figures of one overhead measurement.
pub struct Overhead {
    pub ops: u64,
    pub seconds: f64,
    pub history_bytes: u64,
}

/// Runs `concurrency` workers flat out for `seconds` against the no-op client.
pub fn measure(concurrency: u64, seconds: f64) -> Result<Overhead> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let dir = tempfile_dir()?;
    let path = dir.join("history.jsonl");
    let result = runtime.block_on(async {
        let started = Instant::now();
        let recorder = Recorder::create(&path, started, |_| {})?;
        let shared = Arc::new(Shared::new(
            Box::new(RegisterGenerator::new(
                1,
                Mix::new(OPERATIONS, &[1, 1, 1]).map_err(anyhow::Error::msg)?,
                1000,
                8,
            )),
            recorder.clone(),
            concurrency,
            Duration::ZERO,
            started + Duration::from_secs_f64(seconds),
            Duration::from_secs(1),
            None,
        ));
        let (_stop_tx, stop_rx) = watch::channel(false);
        let workers: Vec<_> = (0..concurrency)
            .map(|w| {
                tokio::spawn(run_worker(
                    w,
                    "local".into(),
                    None,
                    Box::new(NoopClient),
                    shared.clone(),
                    stop_rx.clone(),
                ))
            })
            .collect();
        for w in workers {
            w.await.context("a worker failed")?;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let closed = recorder.close();
        if let Some(e) = closed.error {
            return Err(e);
        }
        Ok(Overhead {
            ops: recorder.counts().invoke,
            seconds: elapsed,
            history_bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
        })
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("faultline-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
