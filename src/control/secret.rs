//! Secrets for reaching nodes: an SSH password and a private key's passphrase.
//!
//! They come from the environment (`FAULTLINE_SSH_PASSWORD`, `FAULTLINE_SSH_KEY_PASSPHRASE`),
//! never from the command line, which every user on the machine can read in `ps` and which
//! shells keep in their history. They are taken out of the environment at start-up, so no child
//! process inherits them, and they cannot be shown by accident: [`Secret`] prints as
//! `<redacted>` in `Debug` and `Display`, has no `Serialize`, and is zeroed when dropped. Only
//! [`Secret::expose`], at the one call that hands it to libssh2, reveals it.

use std::fmt;
use std::sync::OnceLock;

/// The environment variable holding the SSH password.
pub const PASSWORD_VAR: &str = "FAULTLINE_SSH_PASSWORD";
/// The environment variable holding the private key's passphrase.
pub const KEY_PASSPHRASE_VAR: &str = "FAULTLINE_SSH_KEY_PASSPHRASE";

/// A value that must never reach a log, a report or a stored file.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The secret itself: only for handing it to the library that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret replaced by `<redacted>`: a last guard for
    /// messages that come from elsewhere (a library's error) before they are shown.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(&self.0, "<redacted>")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8, and the string is dropped right after.
        let bytes = unsafe { self.0.as_bytes_mut() };
        for b in bytes.iter_mut() {
            // Volatile, so the compiler cannot drop the writes as dead stores.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// The SSH secrets given to this process.
#[derive(Debug, Clone, Default)]
pub struct SshSecrets {
    pub password: Option<Secret>,
    pub key_passphrase: Option<Secret>,
}

static SECRETS: OnceLock<SshSecrets> = OnceLock::new();

/// Moves the secrets from the environment into this process's memory. Call first thing in
/// `main`, while the process has a single thread (changing the environment is not safe once
/// other threads may read it).
pub fn take_from_env() {
    let take = |var: &str| {
        let value = std::env::var(var).ok().filter(|v| !v.is_empty());
        std::env::remove_var(var);
        value.map(Secret::new)
    };
    let secrets = SshSecrets {
        password: take(PASSWORD_VAR),
        key_passphrase: take(KEY_PASSPHRASE_VAR),
    };
    let _ = SECRETS.set(secrets);
}

/// The secrets taken at start-up (none if [`take_from_env`] was not called).
pub fn ssh_secrets() -> SshSecrets {
    SECRETS.get().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_itself() {
        let s = Secret::new("hunter2".into());
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{s:?}"), "<redacted>");
        let config = SshSecrets {
            password: Some(s.clone()),
            key_passphrase: None,
        };
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn scrub_removes_every_occurrence() {
        let s = Secret::new("pw".into());
        assert_eq!(s.scrub("a pw b pw"), "a <redacted> b <redacted>");
        assert_eq!(Secret::new(String::new()).scrub("text"), "text");
    }
}
