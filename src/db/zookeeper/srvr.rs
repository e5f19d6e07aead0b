//! Asking a ZooKeeper server how it is: the `srvr` four-letter word on its client port.
//!
//! faultline asks from where it runs, over TCP, as its clients reach the servers anyway: no
//! tool is needed on the nodes. A server that is up but not part of a working quorum (electing,
//! or cut off and looking for a leader) answers that it is not serving; one that is paused
//! accepts the connection (the kernel does) and answers nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// What a server says its role is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Leader,
    Follower,
    Observer,
    /// A lone server (an ensemble of one): it leads itself.
    Standalone,
    /// Cut off from the quorum but serving reads (`readonlymode.enabled`).
    ReadOnly,
}

impl Mode {
    /// Whether this server is the one that orders writes.
    pub fn leads(self) -> bool {
        matches!(self, Mode::Leader | Mode::Standalone)
    }

    fn parse(text: &str) -> Option<Mode> {
        Some(match text {
            "leader" => Mode::Leader,
            "follower" => Mode::Follower,
            "observer" => Mode::Observer,
            "standalone" => Mode::Standalone,
            "read-only" => Mode::ReadOnly,
            _ => return None,
        })
    }
}

/// A server's answer to `srvr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// It serves clients, in this role.
    Serving { mode: Mode, version: String },
    /// It runs but serves nothing: no quorum, an election under way.
    NotServing,
}

/// Why a server gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Silence {
    /// Nothing listens on the client port: the server is not running (or not yet).
    Refused,
    /// Connected, but no answer in time (paused, overloaded) or the connection failed.
    NoAnswer(String),
}

impl std::fmt::Display for Silence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Silence::Refused => f.write_str("connection refused"),
            Silence::NoAnswer(why) => f.write_str(why),
        }
    }
}

/// Asks the server at `addr`, each step bounded by `timeout`.
pub fn ask(addr: SocketAddr, timeout: Duration) -> Result<Answer, Silence> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            Silence::Refused
        } else {
            Silence::NoAnswer(format!("connecting: {e}"))
        }
    })?;
    let no_answer = |e: std::io::Error| Silence::NoAnswer(format!("srvr: {e}"));
    stream.set_read_timeout(Some(timeout)).map_err(no_answer)?;
    stream.set_write_timeout(Some(timeout)).map_err(no_answer)?;
    stream.write_all(b"srvr").map_err(no_answer)?;
    // The server writes its answer and closes the connection.
    let mut text = String::new();
    stream.read_to_string(&mut text).map_err(no_answer)?;
    parse(&text).map_err(Silence::NoAnswer)
}

/// Reads a `srvr` answer.
pub fn parse(text: &str) -> Result<Answer, String> {
    if text.contains("not currently serving requests") {
        return Ok(Answer::NotServing);
    }
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
    };
    let mode = field("Mode:")
        .ok_or_else(|| format!("srvr: no mode in {:?}", text.trim()))?
        .to_string();
    let mode = Mode::parse(&mode).ok_or_else(|| format!("srvr: unknown mode {mode:?}"))?;
    let version = field("Zookeeper version:").unwrap_or_default();
    Ok(Answer::Serving { mode, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOLLOWER: &str = "Zookeeper version: 3.8.0-debian--1, built on 2024-06-16 10:40 UTC\n\
        Latency min/avg/max: 0/0.5/3\nReceived: 12\nSent: 11\nConnections: 1\n\
        Outstanding: 0\nZxid: 0x100000004\nMode: follower\nNode count: 6\n";

    #[test]
    fn a_serving_server_says_its_mode_and_version() {
        assert_eq!(
            parse(FOLLOWER),
            Ok(Answer::Serving {
                mode: Mode::Follower,
                version: "3.8.0-debian--1, built on 2024-06-16 10:40 UTC".into()
            })
        );
        let leader = FOLLOWER.replace("Mode: follower", "Mode: leader");
        assert!(matches!(
            parse(&leader),
            Ok(Answer::Serving { mode, .. }) if mode.leads()
        ));
    }

    #[test]
    fn a_server_without_a_quorum_is_not_serving() {
        assert_eq!(
            parse("This ZooKeeper instance is not currently serving requests\n"),
            Ok(Answer::NotServing)
        );
    }

    #[test]
    fn an_answer_without_a_mode_is_an_error() {
        assert!(parse("").is_err());
        assert!(parse("Mode: confused\n").is_err());
    }

    #[test]
    fn a_port_nobody_listens_on_is_refused() {
        // Bind, learn the port, close: nothing listens there now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(ask(addr, Duration::from_millis(500)), Err(Silence::Refused));
    }
}
