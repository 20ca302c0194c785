//! API keys (`--api-key-file`): every request but the health probes carries
//! `Authorization: Bearer <key>`, compared in constant time with each configured key.

use sha2::{Digest as _, Sha256};
use std::path::Path;
use subtle::ConstantTimeEq as _;

/// The keys a caller may present. Only their SHA-256 digests are kept: comparing digests
/// of equal length in constant time reveals neither a key's length nor its content through
/// timing, and the keys themselves are not in the process's memory after start-up.
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

/// Why an API key file was refused. The file's content is never part of the message.
#[derive(Debug, thiserror::Error)]
pub enum ApiKeyFileError {
    /// The file could not be read.
    #[error("could not read the API key file {path}: {source}")]
    Read {
        /// The file as given.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no key.
    #[error(
        "the API key file {path} holds no key (one key per line; blank lines and lines starting with # are skipped)"
    )]
    Empty {
        /// The file as given.
        path: std::path::PathBuf,
    },
    /// A key is too short to resist guessing.
    #[error("line {line} of the API key file {path} holds a key of fewer than {MIN_KEY_CHARS} characters")]
    TooShort {
        /// The file as given.
        path: std::path::PathBuf,
        /// The line, from 1.
        line: usize,
    },
}

/// The shortest key accepted: 16 characters of a random key leave no room for guessing
/// over the network.
pub const MIN_KEY_CHARS: usize = 16;

impl ApiKeys {
    /// Reads one key per line (several keys let an operator rotate them without downtime).
    pub fn from_file(path: &Path) -> Result<Self, ApiKeyFileError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ApiKeyFileError::Read { path: path.to_path_buf(), source })?;
        let mut keys = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let key = line.trim();
            if key.is_empty() || key.starts_with('#') {
                continue;
            }
            if key.chars().count() < MIN_KEY_CHARS {
                return Err(ApiKeyFileError::TooShort { path: path.to_path_buf(), line: index + 1 });
            }
            keys.push(key.to_string());
        }
        if keys.is_empty() {
            return Err(ApiKeyFileError::Empty { path: path.to_path_buf() });
        }
        Ok(Self::new(keys))
    }

    /// Accepts exactly these keys.
    pub fn new(keys: impl IntoIterator<Item = String>) -> Self {
        Self { digests: keys.into_iter().map(|key| Sha256::digest(key.as_bytes()).into()).collect() }
    }

    /// Whether an `Authorization` header value is `Bearer <one of the keys>`. Every key is
    /// compared, so the time taken does not tell which one matched.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(presented) = authorization.and_then(bearer_token) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(presented).into();
        let mut accepted = subtle::Choice::from(0);
        for known in &self.digests {
            accepted |= known.as_slice().ct_eq(digest.as_slice());
        }
        accepted.into()
    }
}

/// The token of a `Bearer` authorization (scheme compared case-insensitively).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(7)?;
    (scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bearer_of_a_configured_key_is_accepted() {
        let keys = ApiKeys::new(["first-key-0123456789".to_string(), "second-key-0123456789".to_string()]);
        assert!(keys.accepts(Some(b"Bearer first-key-0123456789")));
        assert!(keys.accepts(Some(b"bearer second-key-0123456789")));
        assert!(!keys.accepts(Some(b"Bearer first-key-012345678")));
        assert!(!keys.accepts(Some(b"Basic first-key-0123456789")));
        assert!(!keys.accepts(Some(b"Bearer ")));
        assert!(!keys.accepts(Some(b"first-key-0123456789")));
        assert!(!keys.accepts(None));
    }
}
