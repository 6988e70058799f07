//! Sealing one object: zlib, then AES-256-GCM under a key named in the object's header.
//!
//! Layout: `CLBK`, format byte `1`, key-id length byte, key id, 12-byte nonce, then ciphertext
//! with its 16-byte tag. The associated data is the header (everything before the ciphertext)
//! followed by the object's name, so a changed key id or nonce, an object copied under another
//! name (another run's, another chunk's) and a flipped byte anywhere all fail to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use super::keys::{BackupKeys, Key};

const MAGIC: &[u8; 4] = b"CLBK";
const FORMAT: u8 = 1;
/// zlib's default level: most of the gain for a fraction of the time of level 9.
const LEVEL: u8 = 6;
/// What an object may inflate to: the Worker writes chunks of 8 MB at most; anything far beyond
/// is not ours (a decompression bomb in an altered bucket).
pub const MAX_PLAINTEXT: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// No backup header: not an object this format wrote.
    NotABackup,
    /// Sealed under a key id the keyring does not hold.
    UnknownKey(String),
    /// The tag does not verify: altered, renamed, or sealed under another key with this id.
    Altered(String),
    /// It verified but does not inflate: written by a broken writer.
    Corrupt,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::NotABackup => f.write_str("not a Clientela backup object"),
            OpenError::UnknownKey(id) => write!(
                f,
                "sealed under backup key \"{id}\", which BACKUP_KEYS does not hold"
            ),
            OpenError::Altered(id) => write!(
                f,
                "does not open under backup key \"{id}\": the object was altered or renamed, \
                 or the key with this id is not the one it was sealed with"
            ),
            OpenError::Corrupt => f.write_str("opened, but its content does not inflate"),
        }
    }
}

impl std::error::Error for OpenError {}

/// The error of sealing: only a plaintext beyond what GCM can seal under one nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge;

/// Seals `plaintext` as object `name` under the current key with `nonce` (fresh per object:
/// [`super::nonce`]).
pub fn seal(
    keys: &BackupKeys,
    name: &str,
    plaintext: &[u8],
    nonce: [u8; 12],
) -> Result<Vec<u8>, TooLarge> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(TooLarge);
    }
    let id = keys.current_id();
    let mut out = header(id, &nonce);
    let aad = [out.as_slice(), name.as_bytes()].concat();
    let compressed = miniz_oxide::deflate::compress_to_vec_zlib(plaintext, LEVEL);
    let sealed = cipher(keys.current_key())
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &compressed,
                aad: &aad,
            },
        )
        .map_err(|_| TooLarge)?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens object `name`: its plaintext, or why not.
pub fn open(keys: &BackupKeys, name: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
    let (id, header_len) = parse_header(sealed).ok_or(OpenError::NotABackup)?;
    let key = keys
        .get(id)
        .ok_or_else(|| OpenError::UnknownKey(id.to_string()))?;
    let (header, body) = sealed.split_at(header_len);
    let nonce = &header[header_len - 12..];
    let aad = [header, name.as_bytes()].concat();
    let compressed = cipher(key)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .map_err(|_| OpenError::Altered(id.to_string()))?;
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(&compressed, MAX_PLAINTEXT)
        .map_err(|_| OpenError::Corrupt)
}

/// The key id an object was sealed under, read from its header alone.
pub fn key_id_of(sealed: &[u8]) -> Option<String> {
    parse_header(sealed).map(|(id, _)| id.to_string())
}

fn cipher(key: &Key) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

fn header(id: &str, nonce: &[u8; 12]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + id.len() + 12);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    // Key ids are at most 8 bytes (`valid_key_id`).
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
    out.extend_from_slice(nonce);
    out
}

/// The key id and the header's length, when `sealed` starts with a well-formed header and has
/// room for at least a tag after it.
fn parse_header(sealed: &[u8]) -> Option<(&str, usize)> {
    if sealed.len() < 6 || &sealed[..4] != MAGIC || sealed[4] != FORMAT {
        return None;
    }
    let id_len = sealed[5] as usize;
    let header_len = 6 + id_len + 12;
    if id_len == 0 || id_len > 8 || sealed.len() < header_len + 16 {
        return None;
    }
    let id = std::str::from_utf8(&sealed[6..6 + id_len]).ok()?;
    Some((id, header_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
    const NONCE: [u8; 12] = [7; 12];

    fn keys(list: &str, current: &str) -> BackupKeys {
        BackupKeys::parse(list, current).unwrap()
    }

    /// The primitive against the GCM specification's own vector (McGrew and Viega, "The
    /// Galois/Counter Mode of Operation", test case 16: AES-256, 60-byte plaintext, 20 bytes of
    /// associated data), so a wrong cipher or mode cannot hide behind a round trip.
    #[test]
    fn aes_256_gcm_matches_the_specifications_test_case_16() {
        let key = hex::decode("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
            .unwrap();
        let iv = hex::decode("cafebabefacedbaddecaf888").unwrap();
        let plaintext = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
             1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .unwrap();
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
        let expected = hex::decode(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662\
             76fc6ece0f4e1768cddf8853bb2d551b",
        )
        .unwrap();
        let key: [u8; 32] = key.try_into().unwrap();
        let got = cipher(&key)
            .encrypt(
                Nonce::from_slice(&iv),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(hex::encode(got), hex::encode(expected));
    }

    /// The layout read by hand, as another implementation would: header fields at their
    /// offsets, AES-256-GCM over header ‖ name, then zlib.
    #[test]
    fn an_object_is_the_documented_layout_and_nothing_else() {
        let keys = keys(&format!("k1:{K1}"), "k1");
        let sealed = seal(&keys, "backups/r/000001", b"{\"a\":1}\n", NONCE).unwrap();
        assert_eq!(&sealed[..4], b"CLBK");
        assert_eq!(sealed[4], 1);
        assert_eq!(sealed[5], 2);
        assert_eq!(&sealed[6..8], b"k1");
        assert_eq!(&sealed[8..20], &NONCE);
        let mut key = [0u8; 32];
        hex::decode_to_slice(K1, &mut key).unwrap();
        let aad = [&sealed[..20], b"backups/r/000001".as_slice()].concat();
        let compressed = Aes256Gcm::new(&key.into())
            .decrypt(
                Nonce::from_slice(&NONCE),
                Payload {
                    msg: &sealed[20..],
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(compressed[0], 0x78, "a zlib stream");
        assert_eq!(
            miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).unwrap(),
            b"{\"a\":1}\n"
        );
    }

    #[test]
    fn a_sealed_object_opens_and_hides_its_rows() {
        let keys = keys(&format!("k1:{K1}"), "k1");
        let rows = b"{\"email\":\"ana@example.com\"}\n".repeat(50);
        let sealed = seal(&keys, "n", &rows, NONCE).unwrap();
        assert!(sealed.len() < rows.len() / 4, "compressed before sealing");
        assert!(!sealed.windows(7).any(|w| w == b"example"));
        assert_eq!(open(&keys, "n", &sealed).unwrap(), rows);
        assert_eq!(key_id_of(&sealed).as_deref(), Some("k1"));
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        let keys = keys(&format!("k1:{K1}"), "k1");
        let sealed = seal(&keys, "n", b"rows", NONCE).unwrap();
        for i in 0..sealed.len() {
            let mut altered = sealed.clone();
            altered[i] ^= 0x01;
            assert!(open(&keys, "n", &altered).is_err(), "byte {i}");
        }
        assert_eq!(
            open(&keys, "n", &sealed[..sealed.len() - 1]),
            Err(OpenError::Altered("k1".into()))
        );
    }

    #[test]
    fn an_object_under_another_name_does_not_open() {
        let keys = keys(&format!("k1:{K1}"), "k1");
        let sealed = seal(&keys, "backups/a/000001", b"rows", NONCE).unwrap();
        assert_eq!(
            open(&keys, "backups/b/000001", &sealed),
            Err(OpenError::Altered("k1".into()))
        );
    }

    #[test]
    fn a_wrong_or_missing_key_is_told_apart() {
        let sealed = seal(&keys(&format!("k1:{K1}"), "k1"), "n", b"rows", NONCE).unwrap();
        // Same id, other key: a restore pointed at the wrong secret.
        assert_eq!(
            open(&keys(&format!("k1:{K2}"), "k1"), "n", &sealed),
            Err(OpenError::Altered("k1".into()))
        );
        assert_eq!(
            open(&keys(&format!("k2:{K2}"), "k2"), "n", &sealed),
            Err(OpenError::UnknownKey("k1".into()))
        );
        assert_eq!(
            open(&keys(&format!("k2:{K2}"), "k2"), "n", b"PK\x03\x04 a zip"),
            Err(OpenError::NotABackup)
        );
    }

    #[test]
    fn a_rotated_keyring_still_opens_objects_of_the_old_key() {
        let old = keys(&format!("k1:{K1}"), "k1");
        let sealed = seal(&old, "n", b"rows", NONCE).unwrap();
        let rotated = keys(&format!("k1:{K1},k2:{K2}"), "k2");
        assert_eq!(open(&rotated, "n", &sealed).unwrap(), b"rows");
        let fresh = seal(&rotated, "n", b"rows", NONCE).unwrap();
        assert_eq!(key_id_of(&fresh).as_deref(), Some("k2"));
        assert_eq!(
            open(&old, "n", &fresh),
            Err(OpenError::UnknownKey("k2".into()))
        );
    }

    #[test]
    fn a_sealed_bomb_is_refused_past_the_limit() {
        let keys = keys(&format!("k1:{K1}"), "k1");
        // Sealed by hand past the writer's limit, as an attacker holding the key could.
        let big = vec![0u8; MAX_PLAINTEXT + 1];
        let compressed = miniz_oxide::deflate::compress_to_vec_zlib(&big, 1);
        let mut sealed = header("k1", &NONCE);
        let aad = [sealed.as_slice(), b"n".as_slice()].concat();
        let body = cipher(keys.current_key())
            .encrypt(
                Nonce::from_slice(&NONCE),
                Payload {
                    msg: &compressed,
                    aad: &aad,
                },
            )
            .unwrap();
        sealed.extend_from_slice(&body);
        assert_eq!(open(&keys, "n", &sealed), Err(OpenError::Corrupt));
        assert_eq!(seal(&keys, "n", &big, NONCE), Err(TooLarge));
    }
}
