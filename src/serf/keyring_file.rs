//! The serf agent's keyring file (`-keyring-file`): a JSON list of base64 keys, the
//! primary first. Read at start, and rewritten after every key change a key query
//! makes, so a restarted member still holds the rotated keys. Rewrites go through a
//! temporary file and a rename, so a crash never leaves half a keyring behind.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::wire::{Keyring, SecretKey};

/// Why the keyring file could not be read or written (messages like serf's).
#[derive(Debug, thiserror::Error)]
pub enum KeyringFileError {
    /// Reading, writing or renaming the file failed.
    #[error("keyring file {path}: {source}")]
    Io {
        /// The keyring file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The file is not a JSON list of strings.
    #[error("Failed to decode keyring file {path}: {source}")]
    Json {
        /// The keyring file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// An entry is not a base64 AES key.
    #[error("Failed to decode key from keyring {path}: {key:?}: {detail}")]
    Key {
        /// The keyring file.
        path: PathBuf,
        /// The entry as written.
        key: String,
        /// Why it is not a key.
        detail: String,
    },
    /// The list is empty: a member needs a primary key.
    #[error("Keyring file {0} contains no keys")]
    Empty(PathBuf),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyringFileError + '_ {
    move |source| KeyringFileError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the keyring in `path`: every key must decode, and there must be one.
pub fn load(path: &Path) -> Result<Keyring, KeyringFileError> {
    let text = std::fs::read(path).map_err(io_error(path))?;
    let encoded: Vec<String> =
        serde_json::from_slice(&text).map_err(|source| KeyringFileError::Json {
            path: path.to_owned(),
            source,
        })?;
    let mut keys = encoded.iter().map(|k| {
        SecretKey::from_base64(k).map_err(|e| KeyringFileError::Key {
            path: path.to_owned(),
            key: k.clone(),
            detail: e.to_string(),
        })
    });
    let primary = keys
        .next()
        .ok_or_else(|| KeyringFileError::Empty(path.to_owned()))??;
    Ok(Keyring::with_keys(
        primary,
        keys.collect::<Result<Vec<_>, _>>()?,
    ))
}

/// The file's content for `ring`: serf's indented JSON list, primary first.
pub fn encode(ring: &Keyring) -> String {
    let keys: Vec<String> = ring.keys().iter().map(SecretKey::to_base64).collect();
    serde_json::to_string_pretty(&keys).unwrap_or_default()
}

/// Replaces `path` with `ring`, readable by its owner only (the keys are secret).
pub fn write(path: &Path, ring: &Keyring) -> Result<(), KeyringFileError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(encode(ring).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        std::fs::remove_file(&tmp).ok();
    }
    written.map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> SecretKey {
        SecretKey::new(&[b; 32]).unwrap()
    }

    fn dir(test: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("keyring-file-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn written_keyring_reads_back_primary_first() {
        let d = dir("roundtrip");
        let path = d.join("keyring");
        let ring = Keyring::with_keys(key(2), [key(1), key(3)]);
        write(&path, &ring).unwrap();
        assert_eq!(load(&path).unwrap(), ring);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "[\n  \"{}\",\n  \"{}\",\n  \"{}\"\n]",
                key(2).to_base64(),
                key(1).to_base64(),
                key(3).to_base64()
            )
        );
        let mode = std::fs::metadata(&path).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        // Nothing left over from the rename.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn bad_files_are_typed_errors() {
        let d = dir("bad");
        let path = d.join("keyring");
        assert!(matches!(load(&path), Err(KeyringFileError::Io { .. })));
        for (text, want) in [
            ("[]", "contains no keys"),
            ("{\"a\": 1}", "Failed to decode keyring file"),
            ("[\"not base64!\"]", "Failed to decode key"),
            ("[\"AAAA\"]", "Failed to decode key"),
        ] {
            std::fs::write(&path, text).unwrap();
            let err = load(&path).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        // A directory in the way: the write fails and leaves no temporary file.
        let blocked = d.join("sub");
        std::fs::create_dir_all(blocked.join("x")).unwrap();
        assert!(write(&blocked, &Keyring::new(key(1))).is_err());
        assert!(!std::fs::read_dir(&d).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp")));
        std::fs::remove_dir_all(&d).ok();
    }
}
