//! Writes a large, valid, realistic register history in faultline's JSONL, for measuring what
//! checking costs in time and memory at scale (`make bench` checks a 10-million-operation one).
//!
//! ```text
//! cargo run --release -p faultline-checkers --example gen_history -- \
//!     --ops 10000000 --keys 10000 --concurrency 20 --seed 1 /tmp/history-10m.jsonl
//! ```
//!
//! The history is what a `cas-register` test over independent keys records: `--concurrency`
//! client workers each run one operation at a time (read, write of a fresh value, or cas) on a
//! random key, through a random node. Every operation takes effect at one instant inside its
//! invoke..completion window on a real sequential register per key, so the history is
//! linearizable by construction. A cas whose expected value is not there fails; an operation
//! times out (`info`) with probability `--info`, after taking effect or not, and its worker goes on
//! as a fresh process (`p + concurrency`), as DESIGN.md says. A nemesis partition starts and stops
//! now and then. The same arguments always give the same file, byte for byte.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use faultline_checkers::history::{write_jsonl_op, Op, OpExtra, OpType, Process, Value};

const USAGE: &str =
    "usage: gen_history [--ops N] [--keys K] [--concurrency C] [--info P] [--seed S] OUT.jsonl
  --ops N          operations (invoke + completion pairs), default 1000000
  --keys K         independent keys, default 1000
  --concurrency C  client workers, default 20
  --info P         probability that an operation times out (info), default 0.005
  --seed S         seed of every random choice, default 1";

struct Args {
    ops: u64,
    keys: u64,
    concurrency: u64,
    info: f64,
    seed: u64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        ops: 1_000_000,
        keys: 1000,
        concurrency: 20,
        info: 0.005,
        seed: 1,
        out: PathBuf::new(),
    };
    let mut it = std::env::args().skip(1);
    let mut out = None;
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, v: String| -> Result<u64, String> {
            v.replace('_', "")
                .parse()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        match a.as_str() {
            "--ops" => args.ops = number("--ops", value("--ops")?)?,
            "--keys" => args.keys = number("--keys", value("--keys")?)?.max(1),
            "--concurrency" => {
                args.concurrency = number("--concurrency", value("--concurrency")?)?.max(1)
            }
            "--seed" => args.seed = number("--seed", value("--seed")?)?,
            "--info" => {
                let v = value("--info")?;
                args.info = v
                    .parse()
                    .ok()
                    .filter(|p: &f64| (0.0..=1.0).contains(p))
                    .ok_or(format!("--info: not a probability: {v}"))?;
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => out = Some(PathBuf::from(s)),
        }
    }
    args.out = out.ok_or("the output file is missing")?;
    Ok(args)
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
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    /// Idle: the next event invokes a new operation.
    Invoke,
    /// Invoked: the next event is the instant the operation takes effect.
    Effect,
    /// Took effect (or will never): the next event is its completion.
    Complete,
}

/// What one client worker is doing.
struct Worker {
    process: u64,
    phase: Phase,
    f: usize,
    key: u64,
    input: Value,
    node: usize,
    /// The result the completion reports, set at the effect.
    result: Option<(OpType, Value)>,
    /// The operation will time out; `applies` says whether it takes effect first.
    crash: bool,
    applies: bool,
}

const FS: [&str; 3] = ["read", "write", "cas"];
const NODES: [&str; 5] = ["n1", "n2", "n3", "n4", "n5"];

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("gen_history: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    match generate(&args) {
        Ok(events) => {
            eprintln!(
                "gen_history: {} ops ({events} events) on {} keys by {} workers -> {}",
                args.ops,
                args.keys,
                args.concurrency,
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_history: {}: {e}", args.out.display());
            ExitCode::from(74)
        }
    }
}

fn generate(args: &Args) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&args.out)?);
    let mut rng = Rng(args.seed);
    let fs: Vec<Arc<str>> = FS.iter().map(|&f| Arc::from(f)).collect();
    let keys: Vec<Value> = (0..args.keys)
        .map(|k| Value::Str(format!("k{k}").into()))
        .collect();
    // The sequential truth: each key's register.
    let mut registers = vec![Value::Nil; args.keys as usize];
    let mut next_value = 1i64;
    let mut workers: Vec<Worker> = (0..args.concurrency)
        .map(|p| Worker {
            process: p,
            phase: Phase::Invoke,
            f: 0,
            key: 0,
            input: Value::Nil,
            node: 0,
            result: None,
            crash: false,
            applies: false,
        })
        .collect();
    // Events by time (ns), then worker: the heap yields the earliest.
    let mut due: BinaryHeap<Reverse<(u64, u64)>> = (0..args.concurrency)
        .map(|w| Reverse((rng.below(1_000_000), w)))
        .collect();
    let mut index = 0u64;
    let mut invoked = 0u64;
    let mut partitioned = false;
    let mut emit = |op: Op, out: &mut BufWriter<std::fs::File>| {
        let op = Op { index, ..op };
        index += 1;
        write_jsonl_op(&op, out)
    };
    while let Some(Reverse((now, w))) = due.pop() {
        let worker = &mut workers[w as usize];
        let op = |worker: &Worker, kind, value, extra| Op {
            index: 0,
            time: Some(now as i64),
            process: Process::Client(worker.process),
            kind,
            f: fs[worker.f].clone(),
            key: Some(keys[worker.key as usize].clone()),
            value,
            extra,
        };
        match worker.phase {
            Phase::Invoke => {
                if invoked == args.ops {
                    continue;
                }
                invoked += 1;
                // Now and then the nemesis splits the cluster, or heals it.
                if invoked.is_multiple_of(50_000) {
                    partitioned = !partitioned;
                    let (f, value) = if partitioned {
                        let grudge = Value::Map(
                            vec![(
                                Value::Str("n1".into()),
                                Value::Vector(vec![Value::Str("n2".into())].into()),
                            )]
                            .into(),
                        );
                        ("start-partition", grudge)
                    } else {
                        ("stop-partition", Value::Nil)
                    };
                    for kind in [OpType::Invoke, OpType::Info] {
                        let nemesis = Op {
                            index: 0,
                            time: Some(now as i64),
                            process: Process::Nemesis,
                            kind,
                            f: f.into(),
                            key: None,
                            value: value.clone(),
                            extra: None,
                        };
                        emit(nemesis, &mut out)?;
                    }
                }
                worker.f = match rng.below(4) {
                    0 | 1 => 0,
                    2 => 1,
                    _ => 2,
                };
                worker.key = rng.below(args.keys);
                worker.node = rng.below(NODES.len() as u64) as usize;
                worker.input = match worker.f {
                    0 => Value::Nil,
                    1 => {
                        next_value += 1;
                        Value::Int(next_value)
                    }
                    _ => {
                        // Mostly the value the client last saw, sometimes a stale guess.
                        let from = match &registers[worker.key as usize] {
                            Value::Int(v) if rng.chance(0.7) => *v,
                            _ => 1 + rng.below(next_value as u64) as i64,
                        };
                        next_value += 1;
                        Value::Vector(vec![Value::Int(from), Value::Int(next_value)].into())
                    }
                };
                worker.crash = rng.chance(args.info);
                worker.applies = rng.chance(0.5);
                worker.result = None;
                worker.phase = Phase::Effect;
                let invoke = op(
                    worker,
                    OpType::Invoke,
                    worker.input.clone(),
                    node_extra(worker.node),
                );
                emit(invoke, &mut out)?;
                due.push(Reverse((now + 200_000 + rng.below(2_000_000), w)));
            }
            Phase::Effect => {
                if !worker.crash || worker.applies {
                    let register = &mut registers[worker.key as usize];
                    worker.result = Some(match worker.f {
                        0 => (OpType::Ok, register.clone()),
                        1 => {
                            *register = worker.input.clone();
                            (OpType::Ok, worker.input.clone())
                        }
                        _ => {
                            let Value::Vector(pair) = &worker.input else {
                                unreachable!("a cas input is a pair")
                            };
                            if *register == pair[0] {
                                *register = pair[1].clone();
                                (OpType::Ok, worker.input.clone())
                            } else {
                                (OpType::Fail, worker.input.clone())
                            }
                        }
                    });
                }
                worker.phase = Phase::Complete;
                due.push(Reverse((now + 200_000 + rng.below(2_000_000), w)));
            }
            Phase::Complete => {
                let node = NODES[worker.node];
                let completion = if worker.crash {
                    let error = format!("{} on {node}: timed out after 1s", FS[worker.f]);
                    op(
                        worker,
                        OpType::Info,
                        worker.input.clone(),
                        extra(node, Some(error)),
                    )
                } else {
                    let (kind, value) = worker.result.take().expect("took effect");
                    let error = (kind == OpType::Fail).then(|| "compare failed".to_string());
                    op(worker, kind, value, extra(node, error))
                };
                emit(completion, &mut out)?;
                if worker.crash {
                    worker.process += args.concurrency;
                }
                worker.phase = Phase::Invoke;
                due.push(Reverse((now + rng.below(1_000_000), w)));
            }
        }
    }
    out.flush()?;
    Ok(index)
}

fn node_extra(node: usize) -> Option<Box<OpExtra>> {
    extra(NODES[node], None)
}

fn extra(node: &str, error: Option<String>) -> Option<Box<OpExtra>> {
    Some(Box::new(OpExtra {
        node: Some(node.into()),
        error: error.map(|e| Value::Str(e.into())),
        workload: None,
    }))
}
