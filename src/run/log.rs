//! The run's log: each phase to stderr and to `faultline.log` in the run directory.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

/// Logs a phase to stderr and to the run's log file, stamped with seconds since the run began.
pub struct Log {
    file: Mutex<Option<std::fs::File>>,
    started: Instant,
}

impl Log {
    pub fn new(file: Option<std::fs::File>, started: Instant) -> Log {
        Log {
            file: Mutex::new(file),
            started,
        }
    }

    pub fn say(&self, msg: &str) {
        let line = format!("[{:7.2}s] {msg}", self.started.elapsed().as_secs_f64());
        eprintln!("{line}");
        if let Some(f) = self.file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let _ = writeln!(f, "{line}");
        }
    }
}
