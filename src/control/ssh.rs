//! Reaching a node over SSH with the `ssh2` crate (libssh2).
//!
//! One authenticated session per node is opened on first use and kept: an OpenSSH handshake
//! plus authentication costs ~300 ms here, and a test issues hundreds of commands per node
//! (nemesis rules, daemon control, log collection). Commands on one node are serialised on that
//! session by a mutex; different nodes proceed in parallel.
//!
//! Connecting retries with exponential backoff on failures that go away by themselves (sshd not
//! listening yet, a refused or reset connection, a handshake cut short). Authentication and
//! host-key failures are never retried: they are configuration errors and waiting will not fix
//! them. A session that died (the node was restarted, the connection was reset) is noticed
//! when opening the next channel and replaced once, transparently; a command is never re-sent
//! once it may have started, since running `kill` or `iptables -A` twice is not harmless.
//!
//! Host keys are checked strictly against a known_hosts file by default, as OpenSSH's
//! `StrictHostKeyChecking=yes` does: a tester that silently talks to the wrong machine would
//! inject faults into it.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, CheckResult, KnownHostFileKind, Session};

use super::secret::Secret;
use super::{Cmd, ControlError, Output, Remote};

/// Longest single wait for the socket in the read loop: a safety net only, since `poll` wakes
/// as soon as data arrives.
const POLL_CAP: Duration = Duration::from_millis(50);

/// How to reach nodes over SSH. Shared by all nodes of a test.
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// User to log in as.
    pub user: String,
    /// TCP port of sshd.
    pub port: u16,
    /// Private key file; its public half is read from `<key>.pub` when present.
    pub private_key: Option<PathBuf>,
    /// The private key's passphrase, if it has one.
    pub key_passphrase: Option<Secret>,
    /// Try the ssh-agent (`SSH_AUTH_SOCK`) when there is no key or the key is refused.
    pub use_agent: bool,
    /// A password, tried after the key and the agent.
    pub password: Option<Secret>,
    /// known_hosts file in OpenSSH format to check host keys against.
    pub known_hosts: Option<PathBuf>,
    /// Refuse nodes whose host key is missing from, or differs from, `known_hosts`.
    /// Turning this off trusts whatever answers at the address.
    pub strict_host_key_checking: bool,
    /// Bound on one TCP connect attempt.
    pub connect_timeout: Duration,
    /// How many times a transient connect failure is retried (0 = try once).
    pub connect_retries: u32,
    /// Delay before the first retry; doubled for each further retry, up to 5 s.
    pub retry_backoff: Duration,
    /// Bound on each protocol step (handshake, opening a channel, a file transfer) so that a
    /// stopped sshd cannot hang the caller; a command's own run time is bounded by its timeout.
    pub io_timeout: Duration,
}

impl Default for SshConfig {
    fn default() -> Self {
        let known_hosts =
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ssh/known_hosts"));
        SshConfig {
            user: "root".to_string(),
            port: 22,
            private_key: None,
            key_passphrase: None,
            use_agent: true,
            password: None,
            known_hosts,
            strict_host_key_checking: true,
            connect_timeout: Duration::from_secs(5),
            connect_retries: 3,
            retry_backoff: Duration::from_millis(200),
            io_timeout: Duration::from_secs(60),
        }
    }
}

/// An open, authenticated session and the socket under it (kept for `poll`).
struct Connection {
    session: Session,
    fd: RawFd,
}

/// A node reached over SSH. Connects lazily on the first operation and keeps the session.
pub struct SshRemote {
    node: String,
    host: String,
    config: Arc<SshConfig>,
    conn: Mutex<Option<Connection>>,
}

impl SshRemote {
    /// A node called `node` (for messages) at `host` (an IP address or name). Does not connect.
    pub fn new(node: impl Into<String>, host: impl Into<String>, config: Arc<SshConfig>) -> Self {
        SshRemote {
            node: node.into(),
            host: host.into(),
            config,
            conn: Mutex::new(None),
        }
    }

    /// The address this node is reached at.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Connects now (if not connected), so that a bad node list fails before a test starts.
    pub fn connect(&self) -> Result<(), ControlError> {
        let mut guard = self.lock();
        if guard.is_none() {
            *guard = Some(self.connect_with_retries()?);
        }
        Ok(())
    }

    /// Drops the session; the next operation reconnects.
    pub fn disconnect(&self) {
        *self.lock() = None;
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        // A panic while holding the lock may have left the session mid-protocol: start afresh.
        self.conn.lock().unwrap_or_else(|poisoned| {
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        })
    }

    fn connect_with_retries(&self) -> Result<Connection, ControlError> {
        let mut delay = self.config.retry_backoff;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.connect_once() {
                Ok(conn) => return Ok(conn),
                Err(e) if is_transient(&e) && attempt <= self.config.connect_retries => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(mut e) => {
                    if let ControlError::Connect { attempts, .. } = &mut e {
                        *attempts = attempt;
                    }
                    return Err(e);
                }
            }
        }
    }

    fn connect_once(&self) -> Result<Connection, ControlError> {
        let addr_text = format!("{}:{}", self.host, self.config.port);
        let connect_err = |source: io::Error| ControlError::Connect {
            node: self.node.clone(),
            addr: addr_text.clone(),
            attempts: 1,
            source,
        };
        let addr = (self.host.as_str(), self.config.port)
            .to_socket_addrs()
            .map_err(connect_err)?
            .next()
            .ok_or_else(|| {
                connect_err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "address resolves to nothing",
                ))
            })?;
        let tcp =
            TcpStream::connect_timeout(&addr, self.config.connect_timeout).map_err(connect_err)?;
        // Commands are small request/response exchanges: do not let Nagle delay them.
        let _ = tcp.set_nodelay(true);
        let fd = tcp.as_raw_fd();

        let ssh_err = |step: &'static str| {
            let node = self.node.clone();
            move |source: ssh2::Error| ControlError::Ssh { node, step, source }
        };
        let mut session = Session::new().map_err(ssh_err("session setup"))?;
        session.set_tcp_stream(tcp);
        session.set_timeout(millis(self.config.io_timeout));
        session.handshake().map_err(ssh_err("handshake"))?;
        if self.config.strict_host_key_checking {
            self.check_host_key(&session)?;
        }
        self.authenticate(&session)?;
        Ok(Connection { session, fd })
    }

    fn check_host_key(&self, session: &Session) -> Result<(), ControlError> {
        let Some(path) = self.config.known_hosts.clone() else {
            return Err(ControlError::KnownHosts {
                node: self.node.clone(),
                known_hosts: PathBuf::from("(none)"),
                detail: "strict host-key checking is on but no known_hosts file is configured"
                    .into(),
            });
        };
        let kh_err = |detail: String| ControlError::KnownHosts {
            node: self.node.clone(),
            known_hosts: path.clone(),
            detail,
        };
        let mut known = session.known_hosts().map_err(|e| kh_err(e.to_string()))?;
        if !path.exists() {
            return Err(kh_err("file does not exist".into()));
        }
        known
            .read_file(&path, KnownHostFileKind::OpenSSH)
            .map_err(|e| kh_err(e.to_string()))?;
        let (key, _kind) = session
            .host_key()
            .ok_or_else(|| kh_err("the server sent no host key".into()))?;
        match known.check_port(&self.host, self.config.port, key) {
            CheckResult::Match => Ok(()),
            CheckResult::Mismatch => Err(ControlError::HostKeyMismatch {
                node: self.node.clone(),
                host: self.host.clone(),
                known_hosts: path,
            }),
            CheckResult::NotFound => Err(ControlError::HostKeyUnknown {
                node: self.node.clone(),
                host: self.host.clone(),
                known_hosts: path,
            }),
            CheckResult::Failure => Err(kh_err("libssh2 could not check the host key".into())),
        }
    }

    fn authenticate(&self, session: &Session) -> Result<(), ControlError> {
        let user = &self.config.user;
        let mut refused = Vec::new();
        if let Some(key) = &self.config.private_key {
            let public = PathBuf::from(format!("{}.pub", key.display()));
            let public = public.exists().then_some(public.as_path());
            let passphrase = self.config.key_passphrase.as_ref().map(Secret::expose);
            match session.userauth_pubkey_file(user, public, key, passphrase) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => refused.push(format!("key {} not accepted", key.display())),
                Err(e) => refused.push(format!("key {}: {e}", key.display())),
            }
        }
        if self.config.use_agent && std::env::var_os("SSH_AUTH_SOCK").is_some() {
            match session.userauth_agent(user) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => refused.push("no ssh-agent identity accepted".into()),
                Err(e) => refused.push(format!("ssh-agent: {e}")),
            }
        } else if self.config.private_key.is_none() && self.config.password.is_none() {
            refused.push("no private key configured and no ssh-agent (SSH_AUTH_SOCK unset)".into());
        }
        if let Some(password) = &self.config.password {
            match session.userauth_password(user, password.expose()) {
                Ok(()) if session.authenticated() => return Ok(()),
                Ok(()) => refused.push("password not accepted".into()),
                Err(e) => refused.push(format!("password: {e}")),
            }
        }
        // Library messages should not echo a secret; make sure of it.
        let mut detail = refused.join("; ");
        for secret in [&self.config.password, &self.config.key_passphrase]
            .into_iter()
            .flatten()
        {
            detail = secret.scrub(&detail);
        }
        Err(ControlError::Auth {
            node: self.node.clone(),
            user: user.clone(),
            detail,
        })
    }

    /// Runs `op` on the session, connecting first if needed. If opening a channel fails on a
    /// session that was reused, that session is taken to be dead and replaced once. After any
    /// failure inside `op` the session is dropped: its state is unknown.
    fn with_session<T>(
        &self,
        mut op: impl FnMut(&Connection) -> Result<T, OpError>,
    ) -> Result<T, ControlError> {
        let mut guard = self.lock();
        let mut reused = guard.is_some();
        loop {
            let conn = match guard.take() {
                Some(conn) => conn,
                None => self.connect_with_retries()?,
            };
            conn.session.set_blocking(true);
            match op(&conn) {
                Ok(value) => {
                    *guard = Some(conn);
                    return Ok(value);
                }
                Err(OpError::NoChannel(_)) if reused => {
                    reused = false;
                    continue;
                }
                Err(OpError::NoChannel(e)) | Err(OpError::Failed(e)) => return Err(e),
            }
        }
    }

    fn exec_on(
        &self,
        conn: &Connection,
        cmd: &Cmd,
        timeout: Option<Duration>,
    ) -> Result<Output, OpError> {
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        let session = &conn.session;
        let step_timeout = |deadline: Option<Instant>| match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(self.config.io_timeout),
            None => self.config.io_timeout,
        };
        let exec_err = |source: io::Error| ControlError::Exec {
            node: self.node.clone(),
            command: cmd.to_string(),
            source,
        };
        let timed_out = || ControlError::Timeout {
            node: self.node.clone(),
            command: cmd.to_string(),
            after: started.elapsed(),
        };

        session.set_timeout(millis(step_timeout(deadline)).max(1));
        let mut channel = session
            .channel_session()
            .map_err(|e| OpError::NoChannel(exec_err(e.into())))?;
        channel
            .exec(cmd.as_str())
            .map_err(|e| OpError::Failed(exec_err(e.into())))?;

        // Read stdout and stderr together without blocking: reading one to the end first could
        // deadlock once the other fills the channel's window.
        session.set_blocking(false);
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        let (mut out_done, mut err_done) = (false, false);
        let mut buf = vec![0u8; 32 * 1024];
        while !(out_done && err_done) {
            let mut progressed = false;
            if !out_done {
                match channel.read(&mut buf) {
                    Ok(0) => out_done = true,
                    Ok(n) => {
                        stdout.extend_from_slice(&buf[..n]);
                        progressed = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(OpError::Failed(exec_err(e))),
                }
            }
            if !err_done {
                match channel.stderr().read(&mut buf) {
                    Ok(0) => err_done = true,
                    Ok(n) => {
                        stderr.extend_from_slice(&buf[..n]);
                        progressed = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(OpError::Failed(exec_err(e))),
                }
            }
            if progressed || (out_done && err_done) {
                continue;
            }
            let wait = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(OpError::Failed(timed_out()));
                    }
                    left.min(POLL_CAP)
                }
                None => POLL_CAP,
            };
            wait_for_socket(conn.fd, session.block_directions(), wait);
        }

        session.set_blocking(true);
        session.set_timeout(millis(step_timeout(deadline)).max(1));
        channel.wait_close().map_err(|e| {
            let e: io::Error = e.into();
            if e.kind() == io::ErrorKind::TimedOut {
                OpError::Failed(timed_out())
            } else {
                OpError::Failed(exec_err(e))
            }
        })?;
        let killed = channel
            .exit_signal()
            .ok()
            .and_then(|s| s.exit_signal)
            .is_some();
        let status = if killed {
            -1
        } else {
            channel
                .exit_status()
                .map_err(|e| OpError::Failed(exec_err(e.into())))?
        };
        Ok(Output {
            stdout,
            stderr,
            status,
        })
    }

    fn transfer_err(
        &self,
        direction: &'static str,
        path: &Path,
    ) -> impl Fn(io::Error) -> ControlError + '_ {
        let path = path.to_path_buf();
        move |source| ControlError::Transfer {
            node: self.node.clone(),
            direction,
            path: path.clone(),
            source,
        }
    }
}

/// Why an operation on a session failed: before a channel existed (the session may just have
/// died, so reconnecting and trying again is safe) or after.
enum OpError {
    NoChannel(ControlError),
    Failed(ControlError),
}

impl Remote for SshRemote {
    fn node(&self) -> &str {
        &self.node
    }

    fn exec(&self, cmd: &Cmd, timeout: Option<Duration>) -> Result<Output, ControlError> {
        self.with_session(|conn| self.exec_on(conn, cmd, timeout))
    }

    fn upload(&self, data: &[u8], path: &Path) -> Result<(), ControlError> {
        let err = self.transfer_err("upload to", path);
        self.with_session(|conn| {
            conn.session.set_timeout(millis(self.config.io_timeout));
            let sftp = conn
                .session
                .sftp()
                .map_err(|e| OpError::NoChannel(err(e.into())))?;
            let mut file = sftp
                .create(path)
                .map_err(|e| OpError::Failed(err(e.into())))?;
            file.write_all(data).map_err(|e| OpError::Failed(err(e)))?;
            file.flush().map_err(|e| OpError::Failed(err(e)))?;
            Ok(())
        })
    }

    fn download(&self, path: &Path) -> Result<Vec<u8>, ControlError> {
        let err = self.transfer_err("download of", path);
        self.with_session(|conn| {
            conn.session.set_timeout(millis(self.config.io_timeout));
            let sftp = conn
                .session
                .sftp()
                .map_err(|e| OpError::NoChannel(err(e.into())))?;
            let mut file = sftp
                .open(path)
                .map_err(|e| OpError::Failed(err(e.into())))?;
            let mut data = Vec::new();
            file.read_to_end(&mut data)
                .map_err(|e| OpError::Failed(err(e)))?;
            Ok(data)
        })
    }
}

/// Whether a failure to connect is worth retrying: the node may be booting or sshd restarting.
fn is_transient(e: &ControlError) -> bool {
    match e {
        ControlError::Connect { source, .. } => {
            matches!(
                source.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ) || matches!(
                source.raw_os_error(),
                Some(libc::ECONNREFUSED)
                    | Some(libc::ECONNRESET)
                    | Some(libc::ECONNABORTED)
                    | Some(libc::ETIMEDOUT)
                    | Some(libc::EHOSTUNREACH)
                    | Some(libc::ENETUNREACH)
            )
        }
        // A handshake cut short: sshd was starting, or shed load (MaxStartups).
        ControlError::Ssh {
            step: "handshake", ..
        } => true,
        _ => false,
    }
}

/// Sleeps until the session's socket is ready in the direction libssh2 is waiting for, or `wait`
/// passes, so that the non-blocking read loop neither spins nor adds latency.
fn wait_for_socket(fd: RawFd, directions: BlockDirections, wait: Duration) {
    let events = match directions {
        BlockDirections::Outbound => libc::POLLOUT,
        BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
        BlockDirections::Inbound | BlockDirections::None => libc::POLLIN,
    };
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX).max(1);
    // SAFETY: `pfd` is a valid pollfd for the duration of the call, and the count is 1. The fd
    // belongs to the session's TcpStream, which the caller keeps alive.
    unsafe {
        libc::poll(&mut pfd, 1, ms);
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}
