//! Authentication of CONNECT credentials: allow-all and a password file of Argon2id hashes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

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
}

/// Lets every client in, whatever its credentials.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate(&self, _: &str, _: Option<&str>, _: Option<&[u8]>) -> AuthDecision {
        AuthDecision::Allow
    }
}

/// Users and their password hashes, read from a text with one `user:hash` line per user.
///
/// The hash is an Argon2id string in the PHC format (`$argon2id$v=19$m=19456,t=2,p=1$...`),
/// which [`PasswordFile::entry`] (and `mqtt-sim passwd`) writes. A line whose secret is not such
/// a hash is a plain-text password: it is read, and [`PasswordFile::plaintext_lines`] lists it so
/// that a caller can refuse or warn. Empty lines and lines starting with `#` are skipped; the
/// secret is everything after the first `:`. A CONNECT without a user name is not authorized
/// (0x05); an unknown user or a wrong password is refused with bad user name or password (0x04).
///
/// Checking an Argon2id hash costs milliseconds and memory by design; a password that matched
/// once is remembered for its user, so reconnecting clients cost one check each, not one per
/// CONNECT (failed checks are slowed per address by the driver instead).
#[derive(Default)]
pub struct PasswordFile {
    users: BTreeMap<String, Secret>,
    plaintext_lines: Vec<usize>,
    /// Passwords that matched their user's hash, so a reconnect does not hash again.
    verified: Mutex<BTreeMap<String, Vec<u8>>>,
}

#[derive(Clone, PartialEq, Eq)]
enum Secret {
    Plain(Vec<u8>),
    Argon2(String),
}

impl Clone for PasswordFile {
    fn clone(&self) -> PasswordFile {
        PasswordFile {
            users: self.users.clone(),
            plaintext_lines: self.plaintext_lines.clone(),
            verified: Mutex::default(),
        }
    }
}

impl PartialEq for PasswordFile {
    fn eq(&self, other: &PasswordFile) -> bool {
        self.users == other.users
    }
}

impl Eq for PasswordFile {}

impl fmt::Debug for PasswordFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Passwords and hashes stay out of logs.
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
    /// The secret starts like a hash (`$argon2...`) but is not a valid one.
    #[error("malformed password hash: {0}")]
    MalformedHash(String),
}

impl PasswordFile {
    /// Reads a password file's text.
    pub fn parse(text: &str) -> Result<PasswordFile, PasswordFileError> {
        let mut users = BTreeMap::new();
        let mut plaintext_lines = Vec::new();
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
            let secret = if password.starts_with("$argon2") {
                let malformed = |why: String| error(PasswordFileErrorKind::MalformedHash(why));
                let hash = PasswordHash::new(password).map_err(|e| malformed(e.to_string()))?;
                if hash.hash.is_none() || hash.salt.is_none() {
                    return Err(malformed("no salt or hash".into()));
                }
                Secret::Argon2(password.to_owned())
            } else {
                plaintext_lines.push(line);
                Secret::Plain(password.as_bytes().to_vec())
            };
            if users.insert(user.to_owned(), secret).is_some() {
                return Err(error(PasswordFileErrorKind::DuplicateUser(user.to_owned())));
            }
        }
        Ok(PasswordFile { users, plaintext_lines, verified: Mutex::default() })
    }

    /// The lines that hold a plain-text password instead of a hash.
    pub fn plaintext_lines(&self) -> &[usize] {
        &self.plaintext_lines
    }

    /// A password file line `user:hash` for `password`, hashed with Argon2id (the crate's
    /// default parameters, 19 MiB and 2 passes) and `salt` (at least 8 random bytes, which the
    /// caller draws: the broker crate draws no random numbers).
    pub fn entry(user: &str, password: &[u8], salt: &[u8]) -> Result<String, String> {
        let salt = SaltString::encode_b64(salt).map_err(|e| e.to_string())?;
        let hash = Argon2::default().hash_password(password, &salt).map_err(|e| e.to_string())?;
        Ok(format!("{user}:{hash}"))
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
        let (Some(secret), Some(password)) = (self.users.get(username), password) else {
            return AuthDecision::BadCredentials;
        };
        let matches = match secret {
            Secret::Plain(expected) => expected == password,
            Secret::Argon2(hash) => {
                let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                if verified.get(username).is_some_and(|known| known == password) {
                    true
                } else {
                    let hash = PasswordHash::new(hash).expect("checked when the file was read");
                    let ok = Argon2::default().verify_password(password, &hash).is_ok();
                    if ok {
                        verified.insert(username.to_owned(), password.to_vec());
                    }
                    ok
                }
            }
        };
        if matches { AuthDecision::Allow } else { AuthDecision::BadCredentials }
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
    fn hashed_entries_verify_and_plain_ones_are_listed() {
        let entry = PasswordFile::entry("carol", b"s3cret", b"0123456789abcdef").unwrap();
        assert!(entry.starts_with("carol:$argon2id$"), "{entry}");
        let text = format!("{entry}\nalice:plain\n");
        let file = PasswordFile::parse(&text).unwrap();
        assert_eq!(file.plaintext_lines(), [2]);
        for _ in 0..2 {
            // The second time comes from the cache of verified passwords.
            assert_eq!(file.authenticate("c", Some("carol"), Some(b"s3cret")), AuthDecision::Allow);
        }
        let wrong = file.authenticate("c", Some("carol"), Some(b"s3cret!"));
        assert_eq!(wrong, AuthDecision::BadCredentials);
        assert!(!format!("{file:?}").contains("argon2"));
        let bad = PasswordFile::parse("dave:$argon2id$v=19$m=19456,t=2,p=1");
        assert!(matches!(
            bad,
            Err(PasswordFileError { line: 1, kind: PasswordFileErrorKind::MalformedHash(_) })
        ));
    }

    #[test]
    fn password_file_debug_hides_passwords() {
        let file = PasswordFile::parse("alice:secret").unwrap();
        assert!(!format!("{file:?}").contains("secret"));
    }
}
