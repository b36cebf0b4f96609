//! memberlist's AES-GCM payload encryption: `[version][nonce 12][ciphertext ‖ tag 16]`.
//!
//! Version 0 (spoken by protocol-1 nodes) pads the plaintext with PKCS#7 to a multiple
//! of 16 before sealing; version 1 seals it as is. Both are always accepted. The
//! additional data is the packet label (packets) or the frame header plus label
//! (streams), so a label mismatch fails authentication.

use std::fmt;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce, Tag};
use base64::Engine as _;

use super::error::{Result, WireError};

/// AES-GCM nonce length, written in front of every ciphertext.
pub const NONCE_SIZE: usize = 12;
/// AES-GCM authentication tag length, after every ciphertext.
pub const TAG_SIZE: usize = 16;
const BLOCK_SIZE: usize = 16;

/// The encryption format version: the first byte of an encrypted payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EncryptionVersion {
    /// PKCS#7-padded plaintext (nodes speaking protocol version 1).
    V0 = 0,
    /// Unpadded plaintext (protocol version 2 and later).
    V1 = 1,
}

impl EncryptionVersion {
    /// The most bytes encryption adds, as Go budgets it for packet building.
    pub fn overhead(self) -> usize {
        match self {
            EncryptionVersion::V0 => 1 + NONCE_SIZE + BLOCK_SIZE + TAG_SIZE,
            EncryptionVersion::V1 => 1 + NONCE_SIZE + TAG_SIZE,
        }
    }

    /// Go sends version 0 when configured for protocol 1, else version 1.
    pub fn for_protocol_version(protocol: u8) -> Self {
        if protocol <= 1 {
            EncryptionVersion::V0
        } else {
            EncryptionVersion::V1
        }
    }
}

impl TryFrom<u8> for EncryptionVersion {
    type Error = WireError;

    fn try_from(b: u8) -> Result<Self> {
        match b {
            0 => Ok(EncryptionVersion::V0),
            1 => Ok(EncryptionVersion::V1),
            v => Err(WireError::UnsupportedEncryptionVersion(v)),
        }
    }
}

/// Length of the encrypted form of `plain_len` bytes (Go's `encryptedLength`).
pub fn encrypted_length(version: EncryptionVersion, plain_len: usize) -> usize {
    let pad = match version {
        EncryptionVersion::V0 => BLOCK_SIZE - plain_len % BLOCK_SIZE,
        EncryptionVersion::V1 => 0,
    };
    1 + NONCE_SIZE + plain_len + pad + TAG_SIZE
}

#[derive(Clone)]
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes192(Box<AesGcm<Aes192, U12>>),
    Aes256(Box<Aes256Gcm>),
}

/// A gossip key (16, 24 or 32 bytes: AES-128/192/256) with its cipher prepared once,
/// so that sealing a packet does not redo the key schedule.
#[derive(Clone)]
pub struct SecretKey {
    bytes: Vec<u8>,
    cipher: Cipher,
}

impl SecretKey {
    /// A key from its raw bytes: 16, 24 or 32 for AES-128, -192 or -256.
    pub fn new(bytes: &[u8]) -> Result<Self> {
        let cipher = match bytes.len() {
            16 => Cipher::Aes128(Box::new(
                Aes128Gcm::new_from_slice(bytes).expect("16 bytes"),
            )),
            24 => Cipher::Aes192(Box::new(AesGcm::new_from_slice(bytes).expect("24 bytes"))),
            32 => Cipher::Aes256(Box::new(
                Aes256Gcm::new_from_slice(bytes).expect("32 bytes"),
            )),
            n => return Err(WireError::BadKeySize(n)),
        };
        Ok(SecretKey {
            bytes: bytes.to_vec(),
            cipher,
        })
    }

    /// Parses a key as `serf keygen` / `consul keygen` print it (standard base64).
    pub fn from_base64(s: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| WireError::InvalidValue {
                field: "key",
                detail: format!("not base64: {e}"),
            })?;
        SecretKey::new(&bytes)
    }

    /// The key in standard base64, as `serf keygen` prints it.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn seal(&self, nonce: &[u8; NONCE_SIZE], aad: &[u8], buf: &mut [u8]) -> Tag {
        let nonce = Nonce::from_slice(nonce);
        let sealed = match &self.cipher {
            Cipher::Aes128(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            Cipher::Aes192(c) => c.encrypt_in_place_detached(nonce, aad, buf),
            Cipher::Aes256(c) => c.encrypt_in_place_detached(nonce, aad, buf),
        };
        // Sealing fails only for inputs above GCM's 64 GiB bound.
        sealed.expect("plaintext within GCM limits")
    }

    fn open(&self, nonce: &[u8], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        let (nonce, tag) = (Nonce::from_slice(nonce), Tag::from_slice(tag));
        match &self.cipher {
            Cipher::Aes128(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
            Cipher::Aes192(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
            Cipher::Aes256(c) => c.decrypt_in_place_detached(nonce, aad, buf, tag),
        }
        .is_ok()
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    /// Never prints key material: only its size and a short non-reversible tag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SecretKey(AES-{}, crc {:08x})",
            self.bytes.len() * 8,
            crc32fast::hash(&self.bytes)
        )
    }
}

/// Appends `[version][nonce][ciphertext ‖ tag]` for `plain` to `out`.
/// The nonce is a parameter so that tests can reproduce Go's bytes; real senders
/// draw it at random (see [`super::keyring::Keyring::encrypt`]).
pub fn encrypt_payload(
    version: EncryptionVersion,
    key: &SecretKey,
    nonce: &[u8; NONCE_SIZE],
    plain: &[u8],
    aad: &[u8],
    out: &mut Vec<u8>,
) {
    out.reserve(encrypted_length(version, plain.len()));
    out.push(version as u8);
    out.extend_from_slice(nonce);
    let start = out.len();
    out.extend_from_slice(plain);
    if version == EncryptionVersion::V0 {
        let pad = BLOCK_SIZE - plain.len() % BLOCK_SIZE;
        out.extend(std::iter::repeat_n(pad as u8, pad));
    }
    let tag = key.seal(nonce, aad, &mut out[start..]);
    out.extend_from_slice(&tag);
}

/// Checks the framing of an encrypted payload, returning its version.
pub fn check_frame(payload: &[u8]) -> Result<EncryptionVersion> {
    let &v = payload
        .first()
        .ok_or(WireError::Truncated("encrypted payload"))?;
    let version = EncryptionVersion::try_from(v)?;
    if payload.len() < encrypted_length(version, 0) {
        return Err(WireError::Truncated("encrypted payload"));
    }
    Ok(version)
}

/// Tries to open `payload` with `key`, decrypting into `buf` (cleared first). Returns
/// false if the key does not authenticate it. The frame must have passed
/// [`check_frame`].
pub(crate) fn open_into(key: &SecretKey, payload: &[u8], aad: &[u8], buf: &mut Vec<u8>) -> bool {
    let nonce = &payload[1..1 + NONCE_SIZE];
    let (body, tag) = payload[1 + NONCE_SIZE..].split_at(payload.len() - 1 - NONCE_SIZE - TAG_SIZE);
    buf.clear();
    buf.extend_from_slice(body);
    key.open(nonce, aad, buf, tag)
}

/// Strips version 0's PKCS#7 padding. Go trusts the last byte blindly (and panics on
/// a bad one); we require 1..=16 equal pad bytes.
pub(crate) fn unpad(buf: &mut Vec<u8>) -> Result<()> {
    let &pad = buf.last().ok_or(WireError::BadPadding)?;
    let pad = pad as usize;
    if pad == 0 || pad > BLOCK_SIZE || pad > buf.len() {
        return Err(WireError::BadPadding);
    }
    if buf[buf.len() - pad..].iter().any(|&b| b as usize != pad) {
        return Err(WireError::BadPadding);
    }
    buf.truncate(buf.len() - pad);
    Ok(())
}

/// Decrypts a payload with one key.
pub fn decrypt_payload(key: &SecretKey, payload: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let version = check_frame(payload)?;
    let mut buf = Vec::with_capacity(payload.len());
    if !open_into(key, payload, aad, &mut buf) {
        return Err(WireError::NoKeyDecrypts);
    }
    if version == EncryptionVersion::V0 {
        unpad(&mut buf)?;
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SecretKey {
        SecretKey::new(&(0..n).collect::<Vec<u8>>()).unwrap()
    }

    const NONCE: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

    #[test]
    fn go_stdlib_vectors() {
        // PROTOCOL.md §17.12 (Go crypto/aes + crypto/cipher with a fixed nonce); the
        // committed Go fixtures cover every key size and version again.
        let ping = hex::decode("0082a44e6f6465a0a55365714e6f64").unwrap();
        let mut out = Vec::new();
        encrypt_payload(
            EncryptionVersion::V1,
            &key(16),
            &NONCE,
            &ping,
            b"",
            &mut out,
        );
        assert_eq!(
            hex::encode(&out),
            "01000102030405060708090a0b93ee0380097f92f4ee8104fb78cc1437c069264c3f07847f035a6c3c459fd7"
        );
        out.clear();
        encrypt_payload(
            EncryptionVersion::V0,
            &key(16),
            &NONCE,
            &ping,
            b"",
            &mut out,
        );
        assert_eq!(
            hex::encode(&out),
            "00000102030405060708090a0b93ee0380097f92f4ee8104fb78cc1409bde66e05d7741fb90560157062805ba4"
        );
        assert_eq!(decrypt_payload(&key(16), &out, b"").unwrap(), ping);
    }

    #[test]
    fn go_test_lengths_and_errors() {
        let msg = b"this is a plain text message";
        for (v, len) in [(EncryptionVersion::V0, 61), (EncryptionVersion::V1, 57)] {
            let mut out = Vec::new();
            encrypt_payload(v, &key(16), &NONCE, msg, b"random data", &mut out);
            assert_eq!(out.len(), len);
            assert_eq!(
                decrypt_payload(&key(16), &out, b"random data").unwrap(),
                msg
            );
            assert_eq!(
                decrypt_payload(&key(16), &out, b"other"),
                Err(WireError::NoKeyDecrypts)
            );
            assert_eq!(
                decrypt_payload(&key(32), &out, b"random data"),
                Err(WireError::NoKeyDecrypts)
            );
        }
        assert!(matches!(
            decrypt_payload(&key(16), &[], b""),
            Err(WireError::Truncated(_))
        ));
        assert_eq!(
            decrypt_payload(&key(16), &[2; 60], b""),
            Err(WireError::UnsupportedEncryptionVersion(2))
        );
        assert!(matches!(
            decrypt_payload(&key(16), &[1; 28], b""),
            Err(WireError::Truncated(_))
        ));
        assert_eq!(
            SecretKey::new(&[0; 17]).unwrap_err(),
            WireError::BadKeySize(17)
        );
    }

    #[test]
    fn padding_round_trips_every_length() {
        for len in 0..=64 {
            let plain = vec![7u8; len];
            for k in [16, 24, 32] {
                let mut out = Vec::new();
                encrypt_payload(
                    EncryptionVersion::V0,
                    &key(k),
                    &NONCE,
                    &plain,
                    b"x",
                    &mut out,
                );
                assert_eq!(out.len(), encrypted_length(EncryptionVersion::V0, len));
                assert_eq!(decrypt_payload(&key(k), &out, b"x").unwrap(), plain);
            }
        }
        let mut bad = vec![1, 2, 3, 0];
        assert_eq!(unpad(&mut bad), Err(WireError::BadPadding));
        let mut bad = vec![1, 2, 3, 17];
        assert_eq!(unpad(&mut bad), Err(WireError::BadPadding));
    }
}
