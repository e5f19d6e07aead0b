//! The delayer: the process behind the `latency` fault (`faultline delayer`, hidden).
//!
//! The kernel here has no netem, so latency is made in user space: an iptables rule in the
//! node's namespace sends its incoming packets to netfilter queue N, and this process, bound to
//! that queue in the same namespace, holds each packet for the delay and then accepts it.
//! Packets are released in arrival order: every packet gets the same delay, so a FIFO of
//! (deadline, packet) is also ordered by deadline, and nothing is reordered.
//!
//! The rule carries `--queue-bypass`: when no delayer is bound, packets pass untouched, so a
//! dead delayer never cuts a node off. On SIGTERM (or SIGINT) the delayer accepts everything it
//! holds at once, unbinds and exits 0. Needs root (CAP_NET_ADMIN) in the node's namespace.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;
use nfq::{Message, Queue, Verdict};

use crate::exit;

#[derive(Args, Debug)]
pub struct DelayerArgs {
    /// The netfilter queue to bind (the iptables rule's `--queue-num`).
    #[arg(long, default_value_t = 0)]
    pub queue: u16,

    /// Milliseconds to hold each packet before accepting it.
    #[arg(long)]
    pub delay_ms: u64,

    /// Write this process's PID here (start-stop-daemon usually does that instead).
    #[arg(long)]
    pub pidfile: Option<PathBuf>,
}

/// How long the loop sleeps when there is nothing to receive: the jitter added to each delay.
const POLL: Duration = Duration::from_millis(1);

/// The kernel queue's length; past it packets are accepted undelayed (fail open), not dropped.
const KERNEL_QUEUE_LEN: u32 = 65536;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: the one thing a signal handler may safely do here.
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() -> Result<()> {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: a plain sigaction with a handler that only stores to an atomic.
        let ok = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut()) == 0
        };
        if !ok {
            return Err(std::io::Error::last_os_error()).context("installing a signal handler");
        }
    }
    Ok(())
}

/// Runs the delayer until SIGTERM; returns the exit code.
pub fn run(args: &DelayerArgs) -> i32 {
    match delay(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("faultline delayer: {e:#}");
            exit::INTERNAL
        }
    }
}

fn delay(args: &DelayerArgs) -> Result<()> {
    install_signal_handlers()?;
    if let Some(p) = &args.pidfile {
        std::fs::write(p, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing the pidfile {}", p.display()))?;
    }
    let n = args.queue;
    let mut queue = Queue::open().context("opening a netfilter queue socket (needs root)")?;
    queue
        .bind(n)
        .with_context(|| format!("binding netfilter queue {n} (is another process bound?)"))?;
    // Metadata only: the verdict needs the packet's id, never its bytes.
    queue.set_copy_range(n, 0).context("setting copy range")?;
    queue.set_fail_open(n, true).context("setting fail-open")?;
    queue
        .set_queue_max_len(n, KERNEL_QUEUE_LEN)
        .context("setting the queue length")?;
    queue.set_nonblocking(true);
    eprintln!(
        "faultline delayer: pid {} holds queue {n} for {} ms",
        std::process::id(),
        args.delay_ms
    );
    let delay = Duration::from_millis(args.delay_ms);
    let mut held: VecDeque<(Instant, Message)> = VecDeque::new();

    while !STOP.load(Ordering::SeqCst) {
        loop {
            match queue.recv() {
                Ok(msg) => held.push_back((Instant::now() + delay, msg)),
                Err(e)
                    if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted =>
                {
                    break
                }
                Err(e) => return Err(e).context("receiving from the netfilter queue"),
            }
        }
        let now = Instant::now();
        while held.front().is_some_and(|(deadline, _)| *deadline <= now) {
            let (_, msg) = held.pop_front().expect("front exists");
            accept(&mut queue, msg)?;
        }
        let next = held.front().map_or(POLL, |(deadline, _)| {
            deadline.saturating_duration_since(now)
        });
        std::thread::sleep(next.min(POLL));
    }

    // Stopping: nothing held may be lost, release it all now.
    let released = held.len();
    for (_, msg) in held {
        accept(&mut queue, msg)?;
    }
    // Unbinding waits for the kernel's acknowledgement, which a non-blocking read could miss.
    queue.set_nonblocking(false);
    queue.unbind(n).context("unbinding the netfilter queue")?;
    eprintln!("faultline delayer: stopped by a signal, released {released} held packets");
    if let Some(p) = &args.pidfile {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

fn accept(queue: &mut Queue, mut msg: Message) -> Result<()> {
    msg.set_verdict(Verdict::Accept);
    queue.verdict(msg).context("accepting a packet")
}
