//! `--config-file` / `--config-dir`: the serf agent's JSON configuration, read and
//! merged as serf reads it (`cmd/serf/command/agent/config.go`): files in the order
//! given, a directory's `*.json` files in lexical order, each later file's
//! non-empty values over the earlier ones (tags merged, event handlers and join
//! addresses appended), then the command line over all files. A key serf does not
//! know, or one this agent does not implement, is an error naming file and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// The keys of serf's configuration this agent reads.
const SUPPORTED: &[&str] = &[
    "node_name",
    "bind",
    "advertise",
    "encrypt_key",
    "keyring_file",
    "tags",
    "event_handlers",
    "start_join",
    "rpc_addr",
    "rpc_auth",
    "snapshot_path",
    "retry_join",
    "retry_interval",
    "retry_max_attempts",
    "rejoin_after_leave",
    "protocol",
    "profile",
    "log_level",
];

/// The rest of serf's keys: valid for a serf agent, not implemented here.
const SERF_ONLY: &[&str] = &[
    "role",
    "disable_coordinates",
    "tags_file",
    "replay_on_join",
    "query_response_size_limit",
    "query_size_limit",
    "user_event_size_limit",
    "leave_on_terminate",
    "skip_leave_on_interrupt",
    "discover",
    "mdns",
    "interface",
    "reconnect_interval",
    "reconnect_timeout",
    "tombstone_timeout",
    "disable_name_resolution",
    "enable_syslog",
    "syslog_facility",
    "enable_compression",
    "statsite_addr",
    "statsd_addr",
    "broadcast_timeout",
    "validate_node_names",
];

/// One file's settings, or several merged.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub node_name: Option<String>,
    pub bind: Option<String>,
    pub advertise: Option<String>,
    pub encrypt_key: Option<String>,
    pub keyring_file: Option<PathBuf>,
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub event_handlers: Vec<String>,
    #[serde(default)]
    pub start_join: Vec<String>,
    pub rpc_addr: Option<String>,
    pub rpc_auth: Option<String>,
    pub snapshot_path: Option<PathBuf>,
    #[serde(default)]
    pub retry_join: Vec<String>,
    #[serde(default, deserialize_with = "go_duration")]
    pub retry_interval: Option<Duration>,
    pub retry_max_attempts: Option<u32>,
    #[serde(default)]
    pub rejoin_after_leave: bool,
    pub protocol: Option<u8>,
    pub profile: Option<String>,
    pub log_level: Option<String>,
}

/// A Go `time.ParseDuration` string of the forms serf's examples use
/// (`"30s"`, `"1m30s"`, `"500ms"`, `"1h"`).
fn go_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    super::duration::parse(s.trim())
        .map(Some)
        .map_err(serde::de::Error::custom)
}

impl FileConfig {
    /// serf's `MergeConfig(self, later)`.
    fn merge(&mut self, later: FileConfig) {
        fn over<T>(a: &mut Option<T>, b: Option<T>) {
            if b.is_some() {
                *a = b;
            }
        }
        over(&mut self.node_name, later.node_name);
        over(&mut self.bind, later.bind);
        over(&mut self.advertise, later.advertise);
        over(&mut self.encrypt_key, later.encrypt_key);
        over(&mut self.keyring_file, later.keyring_file);
        if let Some(tags) = later.tags {
            self.tags.get_or_insert_with(BTreeMap::new).extend(tags);
        }
        self.event_handlers.extend(later.event_handlers);
        self.start_join.extend(later.start_join);
        over(&mut self.rpc_addr, later.rpc_addr);
        over(&mut self.rpc_auth, later.rpc_auth);
        over(&mut self.snapshot_path, later.snapshot_path);
        self.retry_join.extend(later.retry_join);
        over(&mut self.retry_interval, later.retry_interval);
        over(&mut self.retry_max_attempts, later.retry_max_attempts);
        self.rejoin_after_leave |= later.rejoin_after_leave;
        over(&mut self.protocol, later.protocol.filter(|&p| p > 0));
        over(&mut self.profile, later.profile);
        over(&mut self.log_level, later.log_level);
    }

    /// The keys set that only a Serf member has a use for.
    pub fn serf_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.keyring_file.is_some() {
            keys.push("keyring_file");
        }
        if self.tags.is_some() {
            keys.push("tags");
        }
        if !self.event_handlers.is_empty() {
            keys.push("event_handlers");
        }
        if self.snapshot_path.is_some() {
            keys.push("snapshot_path");
        }
        if self.rejoin_after_leave {
            keys.push("rejoin_after_leave");
        }
        keys
    }
}

/// Reads one file: the keys are checked first, so the error names the key and
/// says whether serf knows it.
fn read_file(path: &Path) -> Result<FileConfig, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    let raw: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("config file {}: not JSON: {e}", path.display()))?;
    let Some(map) = raw.as_object() else {
        return Err(format!(
            "config file {}: must hold one JSON object",
            path.display()
        ));
    };
    for key in map.keys() {
        if SERF_ONLY.contains(&key.as_str()) {
            return Err(format!(
                "config file {}: key {key:?} is a serf agent setting this agent does not support",
                path.display()
            ));
        }
        if !SUPPORTED.contains(&key.as_str()) {
            return Err(format!(
                "config file {}: unknown key {key:?} (serf's keys: {})",
                path.display(),
                SUPPORTED.join(", ")
            ));
        }
    }
    serde_json::from_value(raw).map_err(|e| format!("config file {}: {e}", path.display()))
}

/// Reads `paths` in order (a directory: its `*.json` files, in lexical order, not
/// recursing) and merges them.
pub fn read_paths(paths: &[PathBuf]) -> Result<FileConfig, String> {
    let mut merged = FileConfig::default();
    for path in paths {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("config path {}: {e}", path.display()))?;
        if !meta.is_dir() {
            merged.merge(read_file(path)?);
            continue;
        }
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("config dir {}: {e}", path.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for f in files {
            merged.merge(read_file(&f)?);
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn files_merge_as_serf_merges_them() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(
            d,
            "b.json",
            r#"{"node_name": "b", "tags": {"role": "db", "dc": "1"}, "retry_join": ["x:1"]}"#,
        );
        write(
            d,
            "a.json",
            r#"{"node_name": "a", "tags": {"role": "web"}, "retry_join": ["y:2"], "rejoin_after_leave": true}"#,
        );
        write(d, "ignored.txt", r#"{"nonsense": 1}"#);
        let last = write(
            d,
            "last.conf",
            r#"{"retry_interval": "1m30s", "protocol": 0, "log_level": "warn"}"#,
        );
        let c = read_paths(&[d.to_path_buf(), last]).unwrap();
        // a.json then b.json: b's name wins, tags merge with b's over a's.
        assert_eq!(c.node_name.as_deref(), Some("b"));
        let tags = c.tags.unwrap();
        assert_eq!(tags["role"], "db");
        assert_eq!(tags["dc"], "1");
        assert_eq!(c.retry_join, ["y:2", "x:1"]);
        assert!(c.rejoin_after_leave, "a later file cannot unset a true");
        assert_eq!(c.retry_interval, Some(Duration::from_secs(90)));
        assert_eq!(c.protocol, None, "protocol 0 is serf's unset");
        assert_eq!(c.log_level.as_deref(), Some("warn"));
    }

    #[test]
    fn unknown_and_unsupported_keys_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "c.json",
            r#"{"node_name": "a", "nod_name": "b"}"#,
        );
        let e = read_paths(&[p]).unwrap_err();
        assert!(
            e.contains("c.json") && e.contains("unknown key \"nod_name\""),
            "{e}"
        );
        let p = write(dir.path(), "d.json", r#"{"replay_on_join": true}"#);
        let e = read_paths(&[p]).unwrap_err();
        assert!(
            e.contains("d.json") && e.contains("\"replay_on_join\" is a serf agent setting"),
            "{e}"
        );
        let p = write(dir.path(), "e.json", r#"{"retry_interval": "soon"}"#);
        let e = read_paths(&[p]).unwrap_err();
        assert!(
            e.contains("e.json") && e.contains("\"soon\" is not a duration"),
            "{e}"
        );
    }
}
