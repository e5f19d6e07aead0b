//! Writes a large, valid transactional history (list-append or rw-register) in faultline's
//! JSONL, for measuring what Elle-style checking costs (`make bench` checks a 1-million-
//! transaction one) and, with planted faults, what it finds.
//!
//! ```text
//! cargo run --release -p faultline-checkers --example gen_txn -- \
//!     --txns 1000000 --keys 10 --concurrency 10 --seed 1 /tmp/txn-1m.jsonl
//! ```
//!
//! The history is what Elle's generators and a strictly serializable datastore would record:
//! `--concurrency` workers each run one transaction at a time, of 1 to `--max-txn-length`
//! micro-ops (reads and appends, or reads and writes) over `--keys` active keys; a key retires
//! for a fresh one after `--max-writes-per-key` writes, so lists stay short. Every transaction
//! takes effect at one instant inside its invoke..completion window on one in-memory state, so
//! the history is strict-serializable by construction; a transaction fails (`--fail`, no effect)
//! or times out (`--info`, effect or not, and its worker goes on as a fresh process) now and then.
//!
//! Planted faults make it invalid on purpose: `--stale P` serves a committed read one write
//! behind (rw anomalies: G-single, G2-item, or their real-time variants), `--aborted P` lets a
//! failed transaction's writes take effect (G1a). The same arguments always give the same file.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use faultline_checkers::history::{write_jsonl_op, Op, OpType, Process, Value};

const USAGE: &str = "usage: gen_txn [options] OUT.jsonl
  --workload W             list-append (default) or rw-register
  --txns N                 transactions, default 100000
  --keys K                 active keys at any time, default 10
  --max-writes-per-key M   writes before a key retires, default 32
  --max-txn-length L       micro-ops per transaction, 1 to L, default 4
  --concurrency C          client workers, default 10
  --fail P                 probability a transaction fails, default 0.01
  --info P                 probability a transaction times out (info), default 0.01
  --stale P                plant: a committed read is served one write behind, default 0
  --aborted P              plant: a failed transaction's writes take effect, default 0
  --seed S                 seed of every random choice, default 1";

struct Args {
    append: bool,
    txns: u64,
    keys: u64,
    max_writes: u64,
    max_len: u64,
    concurrency: u64,
    fail: f64,
    info: f64,
    stale: f64,
    aborted: f64,
    seed: u64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        append: true,
        txns: 100_000,
        keys: 10,
        max_writes: 32,
        max_len: 4,
        concurrency: 10,
        fail: 0.01,
        info: 0.01,
        stale: 0.0,
        aborted: 0.0,
        seed: 1,
        out: PathBuf::new(),
    };
    let mut it = std::env::args().skip(1);
    let mut out = None;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| -> Result<u64, String> {
            v.replace('_', "")
                .parse()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        let probability = |v: String| -> Result<f64, String> {
            v.parse()
                .ok()
                .filter(|p: &f64| (0.0..=1.0).contains(p))
                .ok_or(format!("{flag}: not a probability: {v}"))
        };
        match flag.as_str() {
            "--workload" => {
                a.append = match value()?.as_str() {
                    "list-append" => true,
                    "rw-register" => false,
                    w => return Err(format!("unknown workload {w}")),
                }
            }
            "--txns" => a.txns = number(value()?)?,
            "--keys" => a.keys = number(value()?)?.max(1),
            "--max-writes-per-key" => a.max_writes = number(value()?)?.max(1),
            "--max-txn-length" => a.max_len = number(value()?)?.max(1),
            "--concurrency" => a.concurrency = number(value()?)?.max(1),
            "--fail" => a.fail = probability(value()?)?,
            "--info" => a.info = probability(value()?)?,
            "--stale" => a.stale = probability(value()?)?,
            "--aborted" => a.aborted = probability(value()?)?,
            "--seed" => a.seed = number(value()?)?,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => out = Some(PathBuf::from(s)),
        }
    }
    a.out = out.ok_or("the output file is missing")?;
    Ok(a)
}

/// splitmix64: small, fast, and the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// One micro-op planned at invoke: (is a write, key, value written).
type Plan = Vec<(bool, u64, i64)>;

/// The datastore: each key's list (for registers, the last element is the value).
struct Store {
    lists: rustc_hash::FxHashMap<u64, Vec<i64>>,
    /// Active keys, and how many writes each has had.
    active: Vec<(u64, u64)>,
    next_key: u64,
    next_value: i64,
}

impl Store {
    /// A key for the next micro-op; `write` counts towards retiring it.
    fn key(&mut self, rng: &mut Rng, write: bool, max_writes: u64) -> u64 {
        let i = rng.below(self.active.len() as u64) as usize;
        let k = self.active[i].0;
        if write {
            self.active[i].1 += 1;
            if self.active[i].1 >= max_writes {
                self.active[i] = (self.next_key, 0);
                self.next_key += 1;
            }
        }
        k
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Invoke,
    Effect,
    Complete,
}

struct Worker {
    process: u64,
    phase: Phase,
    plan: Plan,
    /// The completion's type and value, set at the effect.
    result: Option<(OpType, Value)>,
}

fn mop(f: &str, k: u64, v: Value) -> Value {
    Value::Vector(vec![Value::Str(f.into()), Value::Int(k as i64), v].into())
}

fn main() -> ExitCode {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("gen_txn: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    match generate(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen_txn: {}: {e}", a.out.display());
            ExitCode::from(73)
        }
    }
}

fn generate(a: &Args) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&a.out)?);
    let mut rng = Rng(a.seed);
    let mut store = Store {
        lists: Default::default(),
        active: (0..a.keys).map(|k| (k, 0)).collect(),
        next_key: a.keys,
        next_value: 0,
    };
    let (write_f, read_nil) = if a.append {
        ("append", "r")
    } else {
        ("w", "r")
    };
    let mut workers: Vec<Worker> = (0..a.concurrency)
        .map(|p| Worker {
            process: p,
            phase: Phase::Invoke,
            plan: Vec::new(),
            result: None,
        })
        .collect();
    // (time, worker): the next event of each worker, earliest first.
    let mut events: BinaryHeap<Reverse<(u64, usize)>> = (0..a.concurrency as usize)
        .map(|w| Reverse((rng.below(100), w)))
        .collect();
    let (mut started, mut index) = (0u64, 0u64);
    while let Some(Reverse((now, w))) = events.pop() {
        let worker = &mut workers[w];
        let process = Process::Client(worker.process);
        let mut emit = |kind: OpType, value: Value, out: &mut BufWriter<std::fs::File>| {
            let op = Op {
                index,
                time: Some(now as i64 * 1000),
                ..Op::new(process, kind, "txn", value)
            };
            index += 1;
            write_jsonl_op(&op, out)
        };
        match worker.phase {
            Phase::Invoke => {
                if started == a.txns {
                    continue;
                }
                started += 1;
                let len = 1 + rng.below(a.max_len);
                worker.plan = (0..len)
                    .map(|_| {
                        let write = rng.chance(0.5);
                        let k = store.key(&mut rng, write, a.max_writes);
                        store.next_value += 1;
                        (write, k, if write { store.next_value } else { 0 })
                    })
                    .collect();
                let value = Value::Vector(
                    worker
                        .plan
                        .iter()
                        .map(|&(write, k, v)| {
                            if write {
                                mop(write_f, k, Value::Int(v))
                            } else {
                                mop(read_nil, k, Value::Nil)
                            }
                        })
                        .collect(),
                );
                emit(OpType::Invoke, value, &mut out)?;
                worker.phase = Phase::Effect;
                events.push(Reverse((now + 1 + rng.below(50), w)));
            }
            Phase::Effect => {
                let kind = if rng.chance(a.fail) {
                    OpType::Fail
                } else if rng.chance(a.info) {
                    OpType::Info
                } else {
                    OpType::Ok
                };
                let applies = match kind {
                    OpType::Ok => true,
                    OpType::Fail => rng.chance(a.aborted),
                    _ => rng.chance(0.5),
                };
                let mut done = Vec::with_capacity(worker.plan.len());
                for &(write, k, v) in &worker.plan {
                    let list = store.lists.entry(k).or_default();
                    if write {
                        if applies {
                            list.push(v);
                        }
                        done.push(mop(write_f, k, Value::Int(v)));
                        continue;
                    }
                    let mut seen: &[i64] = list;
                    if kind == OpType::Ok && !seen.is_empty() && rng.chance(a.stale) {
                        seen = &seen[..seen.len() - 1];
                    }
                    let shown = match (kind, a.append) {
                        (OpType::Ok, true) => {
                            Value::Vector(seen.iter().map(|&e| Value::Int(e)).collect())
                        }
                        (OpType::Ok, false) => seen.last().map_or(Value::Nil, |&e| Value::Int(e)),
                        _ => Value::Nil,
                    };
                    done.push(mop("r", k, shown));
                }
                worker.result = Some((kind, Value::Vector(done.into())));
                worker.phase = Phase::Complete;
                events.push(Reverse((now + 1 + rng.below(50), w)));
            }
            Phase::Complete => {
                let (kind, value) = worker.result.take().unwrap_or((OpType::Info, Value::Nil));
                emit(kind, value, &mut out)?;
                if kind == OpType::Info {
                    worker.process += a.concurrency;
                }
                worker.phase = Phase::Invoke;
                events.push(Reverse((now + rng.below(20), w)));
            }
        }
    }
    out.flush()
}
