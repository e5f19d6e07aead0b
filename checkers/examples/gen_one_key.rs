//! Writes the hard class of histories for a linearizability checker: ONE key, many processes,
//! many writes, a large share of them of unknown outcome. This is what a register test under
//! partitions records, and what defeats a plain Wing-Gong-Lowe search (issue 12). For `make
//! bench`, never for a timed test.
//!
//! ```text
//! cargo run --release -p faultline-checkers --example gen_one_key -- \
//!     --processes 50 --ops 500 --info 0.25 --crashed 0.1 --seed 1 /tmp/one-key.jsonl
//! ```
//!
//! `--processes` client workers each run one operation at a time on the key `"k0"`. Every
//! operation takes effect at one instant inside its window on a real sequential object, so the
//! history is linearizable by construction; `--stale P` then makes a fraction of the reads
//! return the value written 2 x `--processes` writes before, which (almost always) makes it
//! invalid. Of the writes (and cas and appends): a fraction `--info` ends `info` (timed out), a
//! fraction `--crashed` never completes; either takes effect or not, half and half, possibly
//! long after its invoke (up to the timeout, 50 times an ordinary latency); the worker goes on
//! as a fresh process.
//!
//! `--workload`: `register` (read, write), `cas-register` (read, write, cas from the value last
//! read) or `append` (the kv model's get and append of distinct strings). `--values`: `distinct`
//! (every write its own value, as faultline's register workload does), `repeated` (values 1 to
//! 5, as Jepsen's register tests do), or `--repeat P` to reuse an earlier value in a fraction P
//! of the writes. The same arguments always give the same file, byte for byte.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use faultline_checkers::history::{write_jsonl_op, Op, OpType, Process, Value};

const USAGE: &str = "usage: gen_one_key [options] OUT.jsonl
  --processes N   client workers, default 50
  --ops N         operations (invokes), default 500
  --reads P       fraction of operations that read, default 0.5
  --info P        fraction of writes (cas, appends) that end info, default 0.25
  --crashed P     fraction of writes (cas, appends) that never complete, default 0.1
  --stale P       fraction of reads returning the value 2 x processes writes old, default 0
  --workload W    register | cas-register | append, default register
  --values V      distinct | repeated (1..=5), default distinct
  --repeat P      with distinct values: reuse an earlier value in this fraction of writes
  --seed S        seed of every random choice, default 1";

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Register,
    CasRegister,
    Append,
}

struct Args {
    processes: u64,
    ops: u64,
    reads: f64,
    info: f64,
    crashed: f64,
    stale: f64,
    workload: Workload,
    repeated: bool,
    repeat: f64,
    seed: u64,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        processes: 50,
        ops: 500,
        reads: 0.5,
        info: 0.25,
        crashed: 0.1,
        stale: 0.0,
        workload: Workload::Register,
        repeated: false,
        repeat: 0.0,
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
        let share = |name: &str, v: String| -> Result<f64, String> {
            v.parse()
                .ok()
                .filter(|p: &f64| (0.0..=1.0).contains(p))
                .ok_or(format!("{name}: not a fraction between 0 and 1: {v}"))
        };
        match a.as_str() {
            "--processes" => args.processes = number(&a, value(&a)?)?.max(1),
            "--ops" => args.ops = number(&a, value(&a)?)?,
            "--seed" => args.seed = number(&a, value(&a)?)?,
            "--reads" => args.reads = share(&a, value(&a)?)?,
            "--info" => args.info = share(&a, value(&a)?)?,
            "--crashed" => args.crashed = share(&a, value(&a)?)?,
            "--stale" => args.stale = share(&a, value(&a)?)?,
            "--repeat" => args.repeat = share(&a, value(&a)?)?,
            "--workload" => {
                args.workload = match value(&a)?.as_str() {
                    "register" => Workload::Register,
                    "cas-register" => Workload::CasRegister,
                    "append" => Workload::Append,
                    w => return Err(format!("--workload: unknown workload {w}")),
                }
            }
            "--values" => {
                args.repeated = match value(&a)?.as_str() {
                    "distinct" => false,
                    "repeated" => true,
                    v => return Err(format!("--values: distinct or repeated, not {v}")),
                }
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s => out = Some(PathBuf::from(s)),
        }
    }
    if args.info + args.crashed > 1.0 {
        return Err("--info and --crashed add up to more than 1".into());
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
        self.next() % n.max(1)
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// How a call ends.
#[derive(Clone, Copy, PartialEq)]
enum End {
    Ok,
    Info,
    Never,
}

/// What happens next to a worker's call.
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Invoke,
    Effect,
    Complete,
}

struct Worker {
    process: u64,
    phase: Phase,
    f: &'static str,
    input: Value,
    /// The ok value, set at the effect (a cas that finds another value fails).
    result: Option<(OpType, Value)>,
    end: End,
    applies: bool,
}

/// The sequential object: a register's value, or the string an append chain built.
struct Truth {
    current: Value,
    /// The values before the current one, the oldest first (at most `stale_by`).
    previous: std::collections::VecDeque<Value>,
    /// How many writes back a stale read looks: twice the processes, beyond any overlap.
    stale_by: usize,
    written: Vec<Value>,
}

/// An ordinary operation's latency, in ns: 0.2 to 2 ms.
const LATENCY: u64 = 1_800_000;

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("gen_one_key: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(64);
        }
    };
    match generate(&args) {
        Ok(events) => {
            eprintln!(
                "gen_one_key: {} ops ({events} events) on one key by {} processes -> {}",
                args.ops,
                args.processes,
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen_one_key: {}: {e}", args.out.display());
            ExitCode::from(74)
        }
    }
}

fn generate(args: &Args) -> std::io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&args.out)?);
    let mut rng = Rng(args.seed);
    let key = Value::Str("k0".into());
    let initial = match args.workload {
        Workload::Append => Value::Str("".into()),
        _ => Value::Nil,
    };
    let mut truth = Truth {
        current: initial,
        previous: Default::default(),
        stale_by: 2 * args.processes as usize,
        written: Vec::new(),
    };
    let mut next_value = 0i64;
    let mut workers: Vec<Worker> = (0..args.processes)
        .map(|p| Worker {
            process: p,
            phase: Phase::Invoke,
            f: "read",
            input: Value::Nil,
            result: None,
            end: End::Ok,
            applies: true,
        })
        .collect();
    let mut due: BinaryHeap<Reverse<(u64, u64)>> = (0..args.processes)
        .map(|w| Reverse((rng.below(LATENCY), w)))
        .collect();
    let (mut index, mut invoked) = (0u64, 0u64);
    let mut emit = |op: Op, out: &mut BufWriter<std::fs::File>| {
        let op = Op { index, ..op };
        index += 1;
        write_jsonl_op(&op, out)
    };
    let read_f = if args.workload == Workload::Append {
        "get"
    } else {
        "read"
    };
    while let Some(Reverse((now, w))) = due.pop() {
        let worker = &mut workers[w as usize];
        let op = |worker: &Worker, kind, value| Op {
            index: 0,
            time: Some(now as i64),
            process: Process::Client(worker.process),
            kind,
            f: Arc::from(worker.f),
            key: Some(key.clone()),
            value,
            extra: None,
        };
        match worker.phase {
            Phase::Invoke => {
                if invoked == args.ops {
                    continue;
                }
                invoked += 1;
                let reads = rng.chance(args.reads);
                worker.f = match (reads, args.workload) {
                    (true, _) => read_f,
                    (false, Workload::Append) => "append",
                    (false, Workload::CasRegister) if rng.chance(0.5) => "cas",
                    (false, _) => "write",
                };
                let mut fresh = || {
                    if args.repeated {
                        return Value::Int(1 + rng.below(5) as i64);
                    }
                    if !truth.written.is_empty() && rng.chance(args.repeat) {
                        let i = rng.below(truth.written.len() as u64) as usize;
                        return truth.written[i].clone();
                    }
                    next_value += 1;
                    Value::Int(next_value)
                };
                worker.input = match worker.f {
                    "write" => fresh(),
                    "cas" => Value::Vector(vec![truth.current.clone(), fresh()].into()),
                    "append" => {
                        next_value += 1;
                        Value::Str(format!("a{next_value} ").into())
                    }
                    _ => Value::Nil,
                };
                worker.end = match worker.f {
                    "read" | "get" => End::Ok,
                    _ if rng.chance(args.info) => End::Info,
                    _ if rng.chance(args.crashed / (1.0 - args.info).max(1e-9)) => End::Never,
                    _ => End::Ok,
                };
                worker.applies = worker.end == End::Ok || rng.chance(0.5);
                worker.result = None;
                worker.phase = Phase::Effect;
                emit(op(worker, OpType::Invoke, worker.input.clone()), &mut out)?;
                // A call that times out may take effect long after its invoke.
                let delay = if worker.end == End::Ok {
                    200_000 + rng.below(LATENCY)
                } else {
                    200_000 + rng.below(50 * LATENCY)
                };
                due.push(Reverse((now + delay, w)));
            }
            Phase::Effect => {
                if worker.applies {
                    worker.result = Some(take_effect(worker, &mut truth, &mut rng, args.stale));
                }
                worker.phase = Phase::Complete;
                if worker.end == End::Never {
                    // Stuck for good: the worker goes on as a fresh process.
                    worker.process += args.processes;
                    worker.phase = Phase::Invoke;
                }
                due.push(Reverse((now + rng.below(LATENCY), w)));
            }
            Phase::Complete => {
                let completion = match worker.end {
                    End::Info => op(worker, OpType::Info, worker.input.clone()),
                    _ => {
                        let (kind, value) = worker.result.take().expect("took effect");
                        op(worker, kind, value)
                    }
                };
                emit(completion, &mut out)?;
                if worker.end == End::Info {
                    worker.process += args.processes;
                }
                worker.phase = Phase::Invoke;
                due.push(Reverse((now + rng.below(LATENCY), w)));
            }
        }
    }
    out.flush()?;
    Ok(index)
}

/// Applies the worker's call to the sequential object; the completion it earns.
fn take_effect(worker: &Worker, truth: &mut Truth, rng: &mut Rng, stale: f64) -> (OpType, Value) {
    let set = |truth: &mut Truth, v: Value| {
        if matches!(v, Value::Int(_)) {
            truth.written.push(v.clone());
        }
        truth
            .previous
            .push_back(std::mem::replace(&mut truth.current, v));
        if truth.previous.len() > truth.stale_by {
            truth.previous.pop_front();
        }
    };
    match worker.f {
        "read" | "get" if truth.previous.len() == truth.stale_by && rng.chance(stale) => {
            (OpType::Ok, truth.previous[0].clone())
        }
        "read" | "get" => (OpType::Ok, truth.current.clone()),
        "write" => {
            set(truth, worker.input.clone());
            (OpType::Ok, worker.input.clone())
        }
        "cas" => {
            let Value::Vector(pair) = &worker.input else {
                unreachable!("a cas input is a pair")
            };
            if truth.current == pair[0] {
                set(truth, pair[1].clone());
                (OpType::Ok, worker.input.clone())
            } else {
                (OpType::Fail, worker.input.clone())
            }
        }
        _ => {
            let joined = format!(
                "{}{}",
                truth.current.as_str().unwrap_or(""),
                worker.input.as_str().unwrap_or("")
            );
            set(truth, Value::Str(joined.into()));
            (OpType::Ok, worker.input.clone())
        }
    }
}
