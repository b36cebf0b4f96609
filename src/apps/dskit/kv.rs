//! A member's side of dskit's memberlist KV store that only listens: it keeps every key
//! the cluster gossips (rings merged as dskit merges them) and offers nothing of its own.
//! Its push/pull state is empty and it never broadcasts, so nothing of ours can ever be
//! merged into the cluster's store: joining a Loki or Mimir cluster with it to read the
//! ring leaves the ring as it was.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prost::Message as _;

use super::ring::Ring;
use super::{KeyValuePair, RING_CODEC};
use crate::node::Delegate;

/// What the cluster's KV store held, as far as we heard.
#[derive(Debug, Default)]
pub struct Store {
    /// Ring keys (codec `ringDesc`), merged.
    pub rings: BTreeMap<String, Ring>,
    /// Other keys, by their codec: dskit only merges values whose codec it knows, and
    /// we know the ring's.
    pub other: BTreeMap<String, String>,
    /// Pairs that were received (broadcasts and push/pull entries).
    pub pairs: u64,
    /// Payloads that were not KV pairs, or ring values that did not decode (dskit
    /// counts these as invalid messages too).
    pub invalid: u64,
}

impl Store {
    fn take(&mut self, bytes: &[u8]) {
        let Ok(kv) = KeyValuePair::decode(bytes) else {
            self.invalid += 1;
            return;
        };
        if kv.key.is_empty() {
            self.invalid += 1;
            return;
        }
        self.pairs += 1;
        if kv.codec != RING_CODEC {
            self.other.insert(kv.key, kv.codec);
            return;
        }
        let ring = self.rings.entry(kv.key).or_default();
        if ring.merge_value(&kv.value).is_err() {
            self.invalid += 1;
        }
    }

    fn take_state(&mut self, mut state: &[u8]) {
        while let Some((len, rest)) = state.split_first_chunk::<4>() {
            let len = u32::from_be_bytes(*len) as usize;
            let Some((pair, rest)) = rest.split_at_checked(len) else {
                break;
            };
            self.take(pair);
            state = rest;
        }
        if !state.is_empty() {
            // A state cut inside a pair: dskit stops there too.
            self.invalid += 1;
        }
    }
}

/// The delegate; the [`SharedStore`] it fills is read while the member runs.
#[derive(Debug, Clone, Default)]
pub struct KvListener {
    store: SharedStore,
}

/// The store a [`KvListener`] fills, shared with whoever reads it.
#[derive(Debug, Clone, Default)]
pub struct SharedStore(Arc<Mutex<Store>>);

impl SharedStore {
    /// The store as it is now.
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic elsewhere leaves the maps whole: each update is one insert.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl KvListener {
    /// A listener and the store it fills.
    pub fn new() -> (Self, SharedStore) {
        let store = SharedStore::default();
        (
            KvListener {
                store: store.clone(),
            },
            store,
        )
    }
}

impl Delegate for KvListener {
    fn notify_msg(&mut self, msg: &[u8]) {
        self.store.lock().take(msg);
    }

    fn has_broadcasts(&self) -> bool {
        false
    }

    fn merge_remote_state(&mut self, state: &[u8], _join: bool) {
        self.store.lock().take_state(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_of_unknown_codecs_are_kept_by_name_and_garbage_is_counted() {
        let pair = KeyValuePair {
            key: "collectors/distributor".into(),
            codec: "usage".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let mut state = (pair.len() as u32).to_be_bytes().to_vec();
        state.extend_from_slice(&pair);
        state.extend_from_slice(&[0, 0, 0, 9, 1]);
        let (mut d, store) = KvListener::new();
        d.merge_remote_state(&state, true);
        d.notify_msg(b"\xff\xff");
        let s = store.lock();
        assert_eq!(s.other["collectors/distributor"], "usage");
        assert_eq!((s.pairs, s.invalid), (1, 2));
        assert!(d.local_state(true).is_empty(), "we never offer state");
    }
}
