//! Keyed hashes and random tokens for secrets the database keeps only as hashes (API
//! keys, recovery codes, pending second-factor tokens).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;

/// HMAC-SHA256 keyed by the deployment's `SECRET_KEY`.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The HMAC of `value` under `secret`, ready to finalize or verify.
pub(crate) fn mac(secret: &str, value: &str) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(value.as_bytes());
    mac
}

/// Lower-case hex of the HMAC of `value` under `secret` (64 characters).
pub(crate) fn mac_hex(secret: &str, value: &str) -> String {
    mac(secret, value)
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the database keeps of a secret token of kind `domain` (`mfa`, `recovery`,
/// `email`, `invite`): the hex HMAC of `domain:token` under the deployment's `SECRET_KEY`.
pub(crate) fn stored_hash(fv: &crate::Fastvue, domain: &str, token: &str) -> String {
    mac_hex(
        fv.settings().secret_key.expose(),
        &format!("{domain}:{token}"),
    )
}

/// `bytes` random bytes as base64url without padding.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_hashes_depend_on_the_key_and_are_hex() {
        let a = mac_hex("k1", "value");
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, mac_hex("k2", "value"));
        assert_eq!(a, mac_hex("k1", "value"));
    }

    #[test]
    fn random_tokens_are_base64url_of_the_asked_length() {
        let t = random_token(32);
        assert_eq!(t.len(), 43);
        assert_ne!(t, random_token(32));
    }
}
