//! Role passwords: random from the operating system's generator, and for PostgreSQL the
//! SCRAM-SHA-256 verifier the server stores, computed here so the password itself never
//! reaches the server (`ALTER ROLE ... PASSWORD 'plain'` lands in the statement log:
//! the vector database logs DDL).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::distr::{Alphanumeric, Distribution as _};
use rand::rngs::OsRng;
use rand::{RngCore as _, TryRngCore as _};
use sha2::{Digest as _, Sha256};

/// Length of generated passwords: 40 characters of 62 is 238 bits. Letters and digits
/// only, so a password needs no quoting in SQL, URLs or JSON.
pub const PASSWORD_LEN: usize = 40;

/// PBKDF2 iterations of the SCRAM verifier: PostgreSQL's default (`scram_iterations`).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// Salt length of the SCRAM verifier, as PostgreSQL generates it.
const SCRAM_SALT_LEN: usize = 16;

/// A new random password of [`PASSWORD_LEN`] letters and digits from the OS generator.
pub fn generate() -> String {
    let mut rng = OsRng.unwrap_err();
    Alphanumeric
        .sample_iter(&mut rng)
        .take(PASSWORD_LEN)
        .map(char::from)
        .collect()
}

/// The SCRAM-SHA-256 verifier of `password` with a fresh random salt, in the form
/// PostgreSQL stores and accepts in `ALTER ROLE ... PASSWORD` (RFC 5802, RFC 7677).
pub fn scram_sha256_verifier(password: &str) -> String {
    let mut salt = [0u8; SCRAM_SALT_LEN];
    OsRng.unwrap_err().fill_bytes(&mut salt);
    scram_sha256_verifier_with(password, &salt, SCRAM_ITERATIONS)
}

/// The verifier with the given salt and iteration count. The password is used as is:
/// SASLprep leaves the ASCII letters and digits of [`generate`] unchanged.
fn scram_sha256_verifier_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let salted = pbkdf2_hmac_sha256(password.as_bytes(), salt, iterations);
    let client_key = hmac_sha256(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac_sha256(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

/// HMAC-SHA-256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(block.map(|b| b ^ 0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(block.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The first 32-byte block of PBKDF2-HMAC-SHA-256 (RFC 8018), all SCRAM-SHA-256 needs.
fn pbkdf2_hmac_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac_sha256(password, &first);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac_sha256(password, &u);
        out.iter_mut().zip(u).for_each(|(o, b)| *o ^= b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn passwords_are_long_alphanumeric_and_different() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn pbkdf2_matches_published_vectors() {
        assert_eq!(
            hex(&pbkdf2_hmac_sha256(b"password", b"salt", 1)),
            "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"
        );
        assert_eq!(
            hex(&pbkdf2_hmac_sha256(b"password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
    }

    #[test]
    fn the_verifier_has_postgresql_s_form_and_a_fresh_salt() {
        let verifier = scram_sha256_verifier_with("pencil", &[7; 16], 4096);
        let (head, keys) = verifier.split_once('$').unwrap().1.split_once('$').unwrap();
        assert_eq!(head, format!("4096:{}", STANDARD.encode([7u8; 16])));
        let (stored, server) = keys.split_once(':').unwrap();
        assert_eq!(STANDARD.decode(stored).unwrap().len(), 32);
        assert_eq!(STANDARD.decode(server).unwrap().len(), 32);
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"));
        assert_ne!(
            scram_sha256_verifier("pencil"),
            scram_sha256_verifier("pencil")
        );
    }
}
