//! Making sure a datastore's programs are on a node: Debian packages installed with apt-get
//! when missing, as Jepsen installs a datastore on fresh Debian nodes.

use std::time::Duration;

use crate::control::shell::shell_escape;
use crate::control::{Cmd, Remote};

use super::DbError;

/// A program a datastore needs, and the Debian package that brings it.
#[derive(Debug, Clone)]
pub struct Program {
    pub path: String,
    pub package: &'static str,
}

impl Program {
    pub fn new(path: impl Into<String>, package: &'static str) -> Program {
        Program {
            path: path.into(),
            package,
        }
    }
}

/// Installs the packages of the `programs` missing on the node (one apt-get for all, after an
/// `apt-get update` only if the first try fails), then checks that every program is there.
/// A program still missing is [`DbError::NotInstalled`], naming the node and the package.
pub fn ensure(remote: &dyn Remote, programs: &[Program]) -> Result<(), DbError> {
    let present = programs
        .iter()
        .map(|p| format!("[ -x {} ]", shell_escape(&p.path)))
        .collect::<Vec<_>>()
        .join(" && ");
    let mut packages: Vec<&str> = programs.iter().map(|p| p.package).collect();
    packages.dedup();
    let packages = packages.join(" ");
    let script = format!(
        "if {present}; then exit 0; fi; \
         export DEBIAN_FRONTEND=noninteractive; \
         (apt-get install -y -qq --no-install-recommends {packages} || \
          (apt-get update -qq && apt-get install -y -qq --no-install-recommends {packages})) \
           >/tmp/faultline-apt.log 2>&1; \
         for p in {paths}; do [ -x \"$p\" ] || echo \"$p\"; done",
        paths = programs
            .iter()
            .map(|p| shell_escape(&p.path))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let node = remote.node().to_string();
    let out = remote
        .exec(&Cmd::shell(&script), Some(Duration::from_secs(900)))
        .map_err(|e| {
            if e.is_unreachable() {
                DbError::Unreachable(e.to_string())
            } else {
                DbError::Failed(format!("node {node}: installing {packages}: {e}"))
            }
        })?;
    let stdout = out.stdout_str();
    let Some(path) = stdout.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Ok(());
    };
    let package = programs
        .iter()
        .find(|p| p.path == path)
        .map_or("?", |p| p.package);
    Err(DbError::NotInstalled {
        node,
        program: path.to_string(),
        package: package.to_string(),
        detail: "apt-get could not install it (see /tmp/faultline-apt.log on the node)".into(),
    })
}
