//! The checks behind the fuzz targets. Each function takes the fuzzer's bytes and panics
//! (a finding) when an invariant breaks; any other outcome, including a rejection, is fine.
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fastvue_core::auth::jwt::{Claims, JwtCodec, TokenKind};
use fastvue_core::config::Settings;
use fastvue_core::domain::{Codename, CompanyCode, Email, Name, Password, Slug, Username};
use fastvue_server::extract::parse_json;
use fastvue_server::routes::{auth, cache, companies, groups, permissions, roles, users};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::de::DeserializeOwned;

/// The key the fuzzed codec signs and verifies with.
pub const JWT_KEY: &str = "fuzzing-jwt-secret-key-of-at-least-32-bytes";

static CODEC: LazyLock<JwtCodec> = LazyLock::new(|| {
    let settings = Settings::from_source(|name| match name {
        "JWT_SECRET_KEY" => Some(JWT_KEY.to_owned()),
        "DATABASE_URL" => Some("sqlite::memory:".to_owned()),
        _ => None,
    })
    .expect("fuzzing settings are valid");
    JwtCodec::from_settings(&settings)
});

/// Token parsing. The first byte picks the shape of the input:
/// - 0: the rest is a bearer token, verbatim;
/// - 1: the rest is `header \0 claims` (or claims under a plain HS256 header), encoded and
///   signed with the real key under HS256: whatever the fuzzer forges in header and claims,
///   an accepted token must name HS256 and carry well-formed, unexpired claims of the kind
///   asked for;
/// - 2: the same, signed with the real key under HS384 / HS512: never accepted (the
///   algorithm is pinned, whatever the header says).
pub fn token(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => verify_all(&String::from_utf8_lossy(rest), None),
        1 => {
            let (header, token) = signed(rest, Algorithm::HS256);
            verify_all(&token, Some(&header));
        }
        _ => {
            let alg = if mode & 0x80 == 0 {
                Algorithm::HS384
            } else {
                Algorithm::HS512
            };
            let (_, token) = signed(rest, alg);
            for kind in [TokenKind::Access, TokenKind::Refresh] {
                assert!(CODEC.verify(&token, kind).is_err(), "{alg:?} token accepted");
                assert!(CODEC.verify_ignoring_expiry(&token, kind).is_err());
            }
        }
    }
}

/// `header.claims.signature` with the real key; returns the header bytes too.
fn signed(rest: &[u8], alg: Algorithm) -> (Vec<u8>, String) {
    let (header, claims) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (rest[..i].to_vec(), &rest[i + 1..]),
        None => (br#"{"alg":"HS256","typ":"JWT"}"#.to_vec(), rest),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let key = EncodingKey::from_secret(JWT_KEY.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, alg).expect("HMAC signs anything");
    (header, format!("{message}.{signature}"))
}

fn verify_all(token: &str, header: Option<&[u8]>) {
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        let now = chrono::Utc::now().timestamp();
        if let Ok(claims) = CODEC.verify(token, kind) {
            assert_accepted(&claims, kind, header);
            assert!(claims.exp >= now, "expired token accepted: {claims:?}");
        }
        if let Ok(claims) = CODEC.verify_ignoring_expiry(token, kind) {
            assert_accepted(&claims, kind, header);
        }
    }
}

fn assert_accepted(claims: &Claims, kind: TokenKind, header: Option<&[u8]>) {
    assert_eq!(claims.kind, kind, "token of the other kind accepted");
    assert!(claims.user_id().is_some(), "bad sub accepted: {claims:?}");
    assert!(!claims.jti.is_empty(), "empty jti accepted");
    if let Some(header) = header {
        let header: serde_json::Value = serde_json::from_slice(header).expect("header is JSON");
        assert_eq!(header["alg"], "HS256", "accepted under another algorithm");
    }
}

/// JSON request bodies. The first byte picks one of the server's 19 write DTOs; the rest
/// is the body. The parser must answer 400 (malformed) or 422 (naming a field, without
/// serde's line/column noise), and a body that parses feeds the core parsers.
pub fn json_body(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 19 {
        0 => parse::<auth::LoginIn>(body, |b| {
            let _ = Username::parse(&b.username);
            let _ = Email::parse(&b.username);
        }),
        1 => parse::<auth::RefreshIn>(body, |b| token(b.refresh_token.as_bytes())),
        2 => parse::<auth::SwitchCompanyIn>(body, |_| {}),
        3 => parse::<auth::ChangePasswordIn>(body, |b| {
            let _ = Password::parse(&b.new_password);
        }),
        4 => parse::<cache::InvalidateRequest>(body, |_| {}),
        5 => parse::<companies::CreateCompany>(body, |b| {
            let _ = (Name::parse(&b.name, 200), CompanyCode::parse(&b.code));
        }),
        6 => parse::<companies::UpdateCompany>(body, |b| {
            b.code.as_deref().map(CompanyCode::parse);
        }),
        7 => parse::<groups::CreateGroup>(body, |b| {
            let _ = Slug::parse(&b.codename);
            codenames(&b.permissions);
        }),
        8 => parse::<groups::UpdateGroup>(body, |b| {
            b.name.as_deref().map(|n| Name::parse(n, 200));
        }),
        9 => parse::<groups::AddMember>(body, |_| {}),
        10 => parse::<permissions::CreatePermission>(body, |b| {
            let _ = Codename::parse(&b.codename);
        }),
        11 => parse::<permissions::UpdatePermission>(body, |_| {}),
        12 => parse::<permissions::CheckRequest>(body, |b| codenames(&b.permissions)),
        13 => parse::<roles::CreateRole>(body, |b| {
            let _ = Slug::parse(&b.codename);
            codenames(&b.permissions);
        }),
        14 => parse::<roles::UpdateRole>(body, |_| {}),
        15 => parse::<roles::PermissionSetIn>(body, |b| codenames(&b.permissions)),
        16 => parse::<users::CreateUser>(body, |b| {
            let _ = (Email::parse(&b.email), Username::parse(&b.username));
            b.password.as_deref().map(Password::parse);
        }),
        17 => parse::<users::UpdateUser>(body, |b| {
            b.email.as_deref().map(Email::parse);
            b.username.as_deref().map(Username::parse);
        }),
        _ => parse::<users::AssignRole>(body, |_| {}),
    }
}

fn codenames(list: &[String]) {
    for c in list {
        if let Ok(code) = Codename::parse(c) {
            assert_eq!(format!("{}.{}", code.resource(), code.action()), code.as_str());
        }
    }
}

/// Whether `message` ends with serde_json's ` at line N column M` (the client's own text,
/// such as an unknown field's name, may contain " at line " anywhere).
fn has_position_suffix(message: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    message
        .rsplit_once(" at line ")
        .and_then(|(_, rest)| rest.split_once(" column "))
        .is_some_and(|(line, column)| digits(line) && digits(column))
}

fn parse<T: DeserializeOwned>(body: &[u8], then: impl FnOnce(T)) {
    match parse_json::<T>(body) {
        Ok(value) => then(value),
        Err(e) => match e.status().as_u16() {
            400 => assert_eq!(e.code(), "bad_request"),
            422 => {
                assert_eq!(e.code(), "validation_error");
                let detail = e.details().first().expect("a 422 names the field");
                assert!(!detail.field.is_empty());
                assert!(!has_position_suffix(&detail.message), "{}", detail.message);
            }
            other => panic!("body parser answered {other}"),
        },
    }
}

#[cfg(test)]
mod tests {
    //! Replays the committed corpus, so `cargo test --manifest-path fuzz/Cargo.toml`
    //! checks every seed and every saved input without libFuzzer.
    use std::path::Path;

    fn replay(target: &str, check: fn(&[u8])) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let path = entry.expect("corpus entry").path();
            check(&std::fs::read(&path).expect("corpus file"));
            n += 1;
        }
        assert!(n > 0, "{} is empty", dir.display());
    }

    #[test]
    fn token_corpus_holds_every_invariant() {
        replay("token", super::token);
    }

    #[test]
    fn json_body_corpus_holds_every_invariant() {
        replay("json_body", super::json_body);
    }
}
