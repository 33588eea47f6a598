//! Authentication of CONNECT credentials: allow-all and a `user:password` file.

use std::collections::BTreeMap;
use std::fmt;

use mqttsim_codec::ReasonCode;

/// The outcome of checking a CONNECT's credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthDecision {
    /// The client may connect.
    Allow,
    /// The user name or password is wrong: CONNACK 0x04.
    BadCredentials,
    /// The client is not authorized to connect: CONNACK 0x05.
    NotAuthorized,
}

impl AuthDecision {
    /// The CONNACK reason for a refusal, or `None` for [`AuthDecision::Allow`].
    pub fn refusal(self) -> Option<ReasonCode> {
        match self {
            AuthDecision::Allow => None,
            AuthDecision::BadCredentials => Some(ReasonCode::BAD_USER_NAME_OR_PASSWORD),
            AuthDecision::NotAuthorized => Some(ReasonCode::NOT_AUTHORIZED),
        }
    }
}

/// Decides whether a client may connect with the credentials of its CONNECT.
///
/// It must be deterministic: the same arguments give the same decision.
pub trait Authenticator: fmt::Debug + Send + Sync {
    /// Checks the client identifier, user name and password of a CONNECT.
    fn authenticate(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> AuthDecision;

    /// Whether a connected client may publish to `topic`. A refused PUBLISH is acknowledged
    /// with 0x87 over 5.0 and silently dropped over 3.1.1. Everything is allowed by default.
    fn may_publish(&self, client_id: &str, username: Option<&str>, topic: &str) -> bool {
        let _ = (client_id, username, topic);
        true
    }

    /// Whether a connected client may subscribe to `filter`; refused with SUBACK 0x87 over 5.0
    /// and 0x80 over 3.1.1. Everything is allowed by default.
    fn may_subscribe(&self, client_id: &str, username: Option<&str>, filter: &str) -> bool {
        let _ = (client_id, username, filter);
        true
    }
}

/// Lets every client in, whatever its credentials.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate(&self, _: &str, _: Option<&str>, _: Option<&[u8]>) -> AuthDecision {
        AuthDecision::Allow
    }
}

/// Users and passwords read from a text with one `user:password` line per user.
///
/// Empty lines and lines starting with `#` are skipped; the password is everything after the
/// first `:`. A CONNECT without a user name is not authorized (0x05); an unknown user or a wrong
/// password is refused with bad user name or password (0x04).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PasswordFile {
    users: BTreeMap<String, Vec<u8>>,
}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Passwords stay out of logs.
        f.debug_struct("PasswordFile").field("users", &self.users.keys()).finish()
    }
}

/// A line of a password file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("password file line {line}: {kind}")]
pub struct PasswordFileError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub kind: PasswordFileErrorKind,
}

/// What is wrong with a password file line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordFileErrorKind {
    /// The line has no `:` separating user and password.
    #[error("expected `user:password`")]
    MissingSeparator,
    /// The user name before the `:` is empty.
    #[error("empty user name")]
    EmptyUser,
    /// The user appears on an earlier line too.
    #[error("user {0:?} appears twice")]
    DuplicateUser(String),
}

impl PasswordFile {
    /// Reads a password file's text.
    pub fn parse(text: &str) -> Result<PasswordFile, PasswordFileError> {
        let mut users = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let entry = raw.trim_end_matches('\r');
            if entry.trim().is_empty() || entry.trim_start().starts_with('#') {
                continue;
            }
            let error = |kind| PasswordFileError { line, kind };
            let (user, password) = entry
                .split_once(':')
                .ok_or_else(|| error(PasswordFileErrorKind::MissingSeparator))?;
            if user.is_empty() {
                return Err(error(PasswordFileErrorKind::EmptyUser));
            }
            if users.insert(user.to_owned(), password.as_bytes().to_vec()).is_some() {
                return Err(error(PasswordFileErrorKind::DuplicateUser(user.to_owned())));
            }
        }
        Ok(PasswordFile { users })
    }

    /// The number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether the file names no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl Authenticator for PasswordFile {
    fn authenticate(
        &self,
        _client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> AuthDecision {
        let Some(username) = username else {
            return AuthDecision::NotAuthorized;
        };
        match self.users.get(username) {
            Some(expected) if Some(expected.as_slice()) == password => AuthDecision::Allow,
            _ => AuthDecision::BadCredentials,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_file_decisions() {
        let file = PasswordFile::parse("# users\nalice:secret\n\nbob:pa:ss\r\n").unwrap();
        assert_eq!(file.len(), 2);
        type Case<'a> = (Option<&'a str>, Option<&'a [u8]>, AuthDecision);
        let cases: [Case; 6] = [
            (Some("alice"), Some(b"secret"), AuthDecision::Allow),
            (Some("bob"), Some(b"pa:ss"), AuthDecision::Allow),
            (Some("alice"), Some(b"wrong"), AuthDecision::BadCredentials),
            (Some("alice"), None, AuthDecision::BadCredentials),
            (Some("carol"), Some(b"secret"), AuthDecision::BadCredentials),
            (None, None, AuthDecision::NotAuthorized),
        ];
        for (user, password, expected) in cases {
            assert_eq!(file.authenticate("c", user, password), expected, "{user:?} {password:?}");
        }
    }

    #[test]
    fn password_file_errors_name_the_line() {
        let cases = [
            ("alice", 1, PasswordFileErrorKind::MissingSeparator),
            ("a:b\n:pw", 2, PasswordFileErrorKind::EmptyUser),
            ("a:b\n\na:c", 3, PasswordFileErrorKind::DuplicateUser("a".into())),
        ];
        for (text, line, kind) in cases {
            assert_eq!(
                PasswordFile::parse(text),
                Err(PasswordFileError { line, kind }),
                "{text:?}"
            );
        }
    }

    #[test]
    fn password_file_debug_hides_passwords() {
        let file = PasswordFile::parse("alice:secret").unwrap();
        assert!(!format!("{file:?}").contains("secret"));
    }
}
