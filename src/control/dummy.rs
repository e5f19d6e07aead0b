//! `--dummy-ssh`: nodes that faultline does not control. The datastore is already running and
//! stays so; no command is run and no fault injected. Every attempt to control such a node is an
//! error that says so, never a pretended success: a nemesis that thinks it cut the network when
//! it did not would make the verdict a lie.

use std::io;
use std::path::Path;
use std::time::Duration;

use super::{Cmd, ControlError, Output, Remote};

/// A node reached only by the datastore's clients.
pub struct DummyRemote {
    node: String,
}

impl DummyRemote {
    pub fn new(node: impl Into<String>) -> Self {
        DummyRemote { node: node.into() }
    }

    fn refuse(&self, what: &str) -> ControlError {
        ControlError::Exec {
            node: self.node.clone(),
            command: what.to_string(),
            source: io::Error::new(
                io::ErrorKind::Unsupported,
                "no node control with --dummy-ssh",
            ),
        }
    }
}

impl Remote for DummyRemote {
    fn node(&self) -> &str {
        &self.node
    }

    fn exec(&self, cmd: &Cmd, _timeout: Option<Duration>) -> Result<Output, ControlError> {
        Err(self.refuse(cmd.as_str()))
    }

    fn upload(&self, _data: &[u8], path: &Path) -> Result<(), ControlError> {
        Err(self.refuse(&format!("upload {}", path.display())))
    }

    fn download(&self, path: &Path) -> Result<Vec<u8>, ControlError> {
        Err(self.refuse(&format!("download {}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_attempt_is_refused_naming_the_node() {
        let r = DummyRemote::new("db1");
        let e = r.exec(&Cmd::new("true"), None).unwrap_err();
        assert_eq!(e.node(), "db1");
        assert!(e.to_string().contains("--dummy-ssh"), "{e}");
        assert!(r.download(Path::new("/x")).is_err());
    }
}
