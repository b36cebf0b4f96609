//! The key-management queries (`_serf_install-key`, `_serf_use-key`,
//! `_serf_remove-key`, `_serf_list-keys`): how a member applies one to its live
//! keyring and what it answers, with Go's messages, since `serf keys` and
//! `consul keyring` show them and count any failure.

use base64::Engine;

use super::messages::{InternalQuery, KeyRequest, KeyResponse, QueryResponse, SerfMessage};
use super::query::QUERY_RESPONSE_SIZE_LIMIT;
use super::LamportTime;
use crate::wire::{GoString, Keyring, SecretKey};

/// Go's `minEncodedKeyLength`: the fewest bytes one base64 key takes in a list.
const MIN_ENCODED_KEY_LENGTH: usize = 25;

/// The answer to a key query, owned (Go's `nodeKeyResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyAnswer {
    /// Whether the node did what was asked.
    pub result: bool,
    /// Why not, in Go's words (empty on success).
    pub message: String,
    /// For a list query: the node's keys, base64.
    pub keys: Option<Vec<String>>,
    /// For a list query: the node's primary key, base64.
    pub primary_key: String,
}

impl KeyAnswer {
    fn failed(message: &str) -> Self {
        KeyAnswer {
            message: message.to_owned(),
            ..Default::default()
        }
    }

    fn to_wire(&self) -> KeyResponse<'_> {
        KeyResponse {
            result: self.result,
            message: GoString::borrowed(self.message.as_bytes()),
            keys: self.keys.as_ref().map(|ks| {
                ks.iter()
                    .map(|k| GoString::borrowed(k.as_bytes()))
                    .collect()
            }),
            primary_key: GoString::borrowed(self.primary_key.as_bytes()),
        }
    }

    /// `08` + the response map: the payload of the query response.
    pub fn encode(&self) -> Vec<u8> {
        SerfMessage::KeyResponse(self.to_wire()).to_bytes()
    }
}

/// Applies a key query to `keyring` (`None`: encryption is off) and says what to
/// answer. The payload is `07` + `{Key}`; an empty or undecodable one fails the query
/// (Go would index past an empty payload).
pub fn apply(kind: InternalQuery, payload: &[u8], keyring: Option<&mut Keyring>) -> KeyAnswer {
    if kind == InternalQuery::ListKeys {
        let Some(ring) = keyring else {
            return KeyAnswer::failed("Keyring is empty (encryption not enabled)");
        };
        return KeyAnswer {
            result: true,
            message: String::new(),
            keys: Some(ring.keys().iter().map(SecretKey::to_base64).collect()),
            primary_key: ring.primary().to_base64(),
        };
    }
    let key = match SerfMessage::decode(payload) {
        Ok(SerfMessage::KeyRequest(r)) => r.key.map(|k| k.into_owned()).unwrap_or_default(),
        _ => return KeyAnswer::failed("Invalid key request payload"),
    };
    let Some(ring) = keyring else {
        return KeyAnswer::failed("No keyring to modify (encryption not enabled)");
    };
    let outcome = match kind {
        InternalQuery::InstallKey => SecretKey::new(&key)
            .map(|k| ring.add(k))
            .map_err(|_| "key size must be 16, 24 or 32 bytes"),
        InternalQuery::UseKey => SecretKey::new(&key)
            .ok()
            .and_then(|k| ring.use_key(&k).ok())
            .ok_or("requested key is not in the keyring"),
        InternalQuery::RemoveKey => match SecretKey::new(&key) {
            Ok(k) if ring.primary() == &k => Err("removing the primary key is not allowed"),
            // Go's RemoveKey succeeds for keys that are not installed.
            Ok(k) => {
                let _ = ring.remove(&k);
                Ok(())
            }
            Err(_) => Ok(()),
        },
        _ => Err("not a key query"),
    };
    match outcome {
        Ok(()) => KeyAnswer {
            result: true,
            ..Default::default()
        },
        Err(m) => KeyAnswer::failed(m),
    }
}

/// The whole query response for `answer`, fitted to the response size limit: a key
/// list that would not fit is cut, saying so in the message, as Go does.
pub fn response(
    kind: InternalQuery,
    mut answer: KeyAnswer,
    ltime: LamportTime,
    id: u32,
    from: &str,
) -> Option<Vec<u8>> {
    let encode = |a: &KeyAnswer| {
        SerfMessage::QueryResponse(QueryResponse {
            ltime,
            id,
            from: GoString::borrowed(from.as_bytes()),
            flags: 0,
            payload: Some(a.encode().into()),
        })
        .to_bytes()
    };
    if kind != InternalQuery::ListKeys {
        return Some(encode(&answer));
    }
    let actual = answer.keys.as_ref().map_or(0, Vec::len);
    let max = (QUERY_RESPONSE_SIZE_LIMIT / MIN_ENCODED_KEY_LENGTH).min(actual);
    for i in (0..=max).rev() {
        let raw = encode(&answer);
        if raw.len() <= QUERY_RESPONSE_SIZE_LIMIT {
            return Some(raw);
        }
        if let Some(keys) = answer.keys.as_mut() {
            keys.truncate(i);
        }
        answer.message = format!("truncated key list response, showing first {i} of {actual} keys");
    }
    None
}

/// `07` + `{Key}`: the payload of a key query we send (empty key for a list).
pub fn request_payload(key: Option<&SecretKey>) -> Vec<u8> {
    request_payload_bytes(key.map_or(&[][..], SecretKey::as_bytes))
}

/// [`request_payload`] for any bytes, as Go sends a key it has not checked.
pub fn request_payload_bytes(key: &[u8]) -> Vec<u8> {
    SerfMessage::KeyRequest(KeyRequest {
        key: Some(key.into()),
    })
    .to_bytes()
}

/// Decodes base64 as Go's `base64.StdEncoding.DecodeString` (which allows non-zero
/// trailing bits), with its error text: what serf's key commands answer.
pub fn go_base64(s: &str) -> Result<Vec<u8>, String> {
    use base64::engine::{general_purpose::GeneralPurpose, DecodePaddingMode};
    use base64::DecodeError;
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    engine.decode(s).map_err(|e| {
        let at = match e {
            DecodeError::InvalidByte(at, _) | DecodeError::InvalidLastSymbol(at, _) => at,
            // Go reports where an incomplete last group starts.
            DecodeError::InvalidLength(n) => n - n % 4,
            DecodeError::InvalidPadding => s.find('=').unwrap_or(s.len() - s.len() % 4),
        };
        format!("illegal base64 data at input byte {at}")
    })
}

/// One node's answer to a key query we sent, decoded; `None` if it is not one.
pub fn decode_answer(payload: &[u8]) -> Option<KeyAnswer> {
    match SerfMessage::decode(payload).ok()? {
        SerfMessage::KeyResponse(r) => Some(KeyAnswer {
            result: r.result,
            message: r.message.to_str_lossy().into_owned(),
            keys: r
                .keys
                .map(|ks| ks.iter().map(|k| k.to_str_lossy().into_owned()).collect()),
            primary_key: r.primary_key.to_str_lossy().into_owned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_errors_read_as_gos() {
        // "illegal base64 data at input byte 0" is serf 0.9.4's answer to `-install=bad`.
        assert_eq!(
            go_base64("bad").unwrap_err(),
            "illegal base64 data at input byte 0"
        );
        assert_eq!(
            go_base64("YWJj!").unwrap_err(),
            "illegal base64 data at input byte 4"
        );
        assert_eq!(go_base64("YWJj").unwrap(), b"abc");
        assert_eq!(go_base64("").unwrap(), b"");
    }

    fn key(b: u8) -> SecretKey {
        SecretKey::new(&[b; 32]).unwrap()
    }

    #[test]
    fn install_use_remove_rotate_the_ring() {
        let mut ring = Keyring::new(key(1));
        let k2 = key(2);
        let req = request_payload(Some(&k2));
        assert!(apply(InternalQuery::InstallKey, &req, Some(&mut ring)).result);
        assert_eq!(ring.keys().len(), 2);
        assert!(apply(InternalQuery::UseKey, &req, Some(&mut ring)).result);
        assert_eq!(ring.primary(), &k2);
        let old = request_payload(Some(&key(1)));
        assert!(apply(InternalQuery::RemoveKey, &old, Some(&mut ring)).result);
        assert_eq!(ring.keys(), std::slice::from_ref(&k2));
        let refused = apply(InternalQuery::RemoveKey, &req, Some(&mut ring));
        assert_eq!(
            refused,
            KeyAnswer::failed("removing the primary key is not allowed")
        );
        let missing = apply(InternalQuery::UseKey, &old, Some(&mut ring));
        assert_eq!(missing.message, "requested key is not in the keyring");
        let list = apply(
            InternalQuery::ListKeys,
            &request_payload(None),
            Some(&mut ring),
        );
        assert_eq!(list.keys, Some(vec![k2.to_base64()]));
        assert_eq!(list.primary_key, k2.to_base64());
    }

    #[test]
    fn without_encryption_and_with_bad_payloads_the_answer_is_a_failure() {
        let req = request_payload(Some(&key(2)));
        assert_eq!(
            apply(InternalQuery::InstallKey, &req, None).message,
            "No keyring to modify (encryption not enabled)"
        );
        assert_eq!(
            apply(InternalQuery::ListKeys, &[], None).message,
            "Keyring is empty (encryption not enabled)"
        );
        let mut ring = Keyring::new(key(1));
        for bad in [&[][..], &[7][..], &[3, 0x80][..]] {
            let a = apply(InternalQuery::InstallKey, bad, Some(&mut ring));
            assert!(!a.result, "{bad:?}");
        }
        let short = request_payload(None);
        assert_eq!(
            apply(InternalQuery::InstallKey, &short, Some(&mut ring)).message,
            "key size must be 16, 24 or 32 bytes"
        );
        assert_eq!(ring.keys().len(), 1);
    }

    #[test]
    fn answers_match_serf_md_bytes_and_round_trip() {
        let a = KeyAnswer::failed("Keyring is empty (encryption not enabled)");
        let enc = a.encode();
        let mut expect = hex::decode("0884a44b657973c0a74d657373616765da0029").unwrap();
        expect.extend_from_slice(b"Keyring is empty (encryption not enabled)");
        expect.extend_from_slice(&hex::decode("aa5072696d6172794b6579a0a6526573756c74c2").unwrap());
        assert_eq!(hex::encode(&enc), hex::encode(&expect));
        assert_eq!(decode_answer(&enc), Some(a));
    }

    #[test]
    fn long_key_lists_are_truncated_to_fit() {
        let keys: Vec<String> = (0..60).map(|i| key(i).to_base64()).collect();
        let answer = KeyAnswer {
            result: true,
            keys: Some(keys),
            ..Default::default()
        };
        let raw = response(InternalQuery::ListKeys, answer, LamportTime(3), 9, "n1").unwrap();
        assert!(raw.len() <= QUERY_RESPONSE_SIZE_LIMIT);
        let SerfMessage::QueryResponse(r) = SerfMessage::decode(&raw).unwrap() else {
            panic!()
        };
        let a = decode_answer(r.payload.as_deref().unwrap()).unwrap();
        let n = a.keys.as_ref().unwrap().len();
        assert!(n > 0 && n < 60);
        assert_eq!(
            a.message,
            format!("truncated key list response, showing first {n} of 60 keys")
        );
    }
}
