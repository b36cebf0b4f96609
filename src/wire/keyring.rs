//! The keyring: the primary key encrypts, every installed key may decrypt. Rotation
//! (install a new key everywhere, make it primary, remove the old one) relies on that.

use rand::RngCore;

use super::crypto::{self, EncryptionVersion, SecretKey, NONCE_SIZE};
use super::error::{Result, WireError};

/// An ordered set of keys; index 0 is the primary. Never empty: a node without keys
/// has no keyring at all (`Option<Keyring>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<SecretKey>,
}

impl Keyring {
    /// A ring holding one key, the primary.
    pub fn new(primary: SecretKey) -> Self {
        Keyring {
            keys: vec![primary],
        }
    }

    /// A ring with `primary` first and `others` after it, duplicates dropped.
    pub fn with_keys(primary: SecretKey, others: impl IntoIterator<Item = SecretKey>) -> Self {
        let mut ring = Keyring::new(primary);
        for k in others {
            ring.add(k);
        }
        ring
    }

    /// Installs a key (no-op if already installed).
    pub fn add(&mut self, key: SecretKey) {
        if !self.keys.contains(&key) {
            self.keys.push(key);
        }
    }

    /// Makes an installed key the primary.
    pub fn use_key(&mut self, key: &SecretKey) -> Result<()> {
        let i = self.position(key)?;
        let k = self.keys.remove(i);
        self.keys.insert(0, k);
        Ok(())
    }

    /// Removes a key; the primary cannot be removed (make another primary first).
    pub fn remove(&mut self, key: &SecretKey) -> Result<()> {
        match self.position(key)? {
            0 => Err(WireError::InvalidValue {
                field: "key",
                detail: "removing the primary key is not allowed".into(),
            }),
            i => {
                self.keys.remove(i);
                Ok(())
            }
        }
    }

    fn position(&self, key: &SecretKey) -> Result<usize> {
        self.keys
            .iter()
            .position(|k| k == key)
            .ok_or_else(|| WireError::InvalidValue {
                field: "key",
                detail: "key is not in the keyring".into(),
            })
    }

    /// The key that encrypts.
    pub fn primary(&self) -> &SecretKey {
        &self.keys[0]
    }

    /// Every key, primary first.
    pub fn keys(&self) -> &[SecretKey] {
        &self.keys
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a keyring holds at least its primary key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Encrypts with the primary key and a fresh random nonce, appending to `out`.
    pub fn encrypt(&self, version: EncryptionVersion, plain: &[u8], aad: &[u8], out: &mut Vec<u8>) {
        let mut nonce = [0u8; NONCE_SIZE];
        rand::thread_rng().fill_bytes(&mut nonce);
        crypto::encrypt_payload(version, self.primary(), &nonce, plain, aad, out);
    }

    /// Decrypts with the first key that authenticates the payload; returns the
    /// plaintext and that key's index (the inspector reports which key opened what).
    pub fn decrypt(&self, payload: &[u8], aad: &[u8]) -> Result<(Vec<u8>, usize)> {
        let version = crypto::check_frame(payload)?;
        let mut buf = Vec::with_capacity(payload.len());
        for (i, key) in self.keys.iter().enumerate() {
            if crypto::open_into(key, payload, aad, &mut buf) {
                if version == EncryptionVersion::V0 {
                    crypto::unpad(&mut buf)?;
                }
                return Ok((buf, i));
            }
        }
        Err(WireError::NoKeyDecrypts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8, n: usize) -> SecretKey {
        SecretKey::new(&vec![b; n]).unwrap()
    }

    #[test]
    fn rotation() {
        let (a, b, c) = (key(1, 16), key(2, 24), key(3, 32));
        let mut ring = Keyring::with_keys(a.clone(), [b.clone(), a.clone()]);
        assert_eq!(ring.len(), 2);
        let mut sealed = Vec::new();
        ring.encrypt(EncryptionVersion::V1, b"hi", b"", &mut sealed);
        ring.add(c.clone());
        ring.use_key(&c).unwrap();
        assert_eq!(ring.primary(), &c);
        assert_eq!(ring.decrypt(&sealed, b"").unwrap(), (b"hi".to_vec(), 1));
        assert!(ring.remove(&c).is_err());
        ring.remove(&a).unwrap();
        assert_eq!(ring.decrypt(&sealed, b""), Err(WireError::NoKeyDecrypts));
        assert!(ring.use_key(&a).is_err());
    }
}
