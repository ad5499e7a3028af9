//! Secrets of a cluster: the client token, the scheduler's jwt_hs256 key and each
//! server's JWT. Random bytes come from the OS; the JWT is made and checked with
//! `jsonwebtoken`, the crate sccache-dist itself uses, with its claims struct and
//! its validation (`src/bin/sccache-dist/main.rs`, `src/dist/http.rs` of 0.19).

use std::net::SocketAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

/// `n` bytes from the OS random source, base64url without padding (a valid HTTP
/// header value, as sccache's tokens must be).
pub fn random_b64(n: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("the OS random source failed: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// A jwt_hs256 `secret_key` for the scheduler: 32 random bytes, base64url.
pub fn jwt_key() -> anyhow::Result<String> {
    random_b64(32)
}

/// A client or server token.
pub fn token() -> anyhow::Result<String> {
    random_b64(32)
}

/// sccache-dist's `ServerJwt`: exactly these two claims, `server_id` an `IP:PORT`
/// (its `ServerId` wraps a `SocketAddr`); any other claim is refused.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerJwt {
    exp: u64,
    server_id: SocketAddr,
}

/// The scheduler's validation: HS256 only, `exp` required but never checked.
fn validation() -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 0;
    v.validate_exp = false;
    v.validate_nbf = false;
    debug_assert!(v.required_spec_claims.contains("exp"));
    v
}

/// The HS256 JWT a build server at `server_id` (its public_addr, `IP:PORT`) presents
/// to the scheduler: claims `{"exp":0,"server_id":"IP:PORT"}` and nothing else.
pub fn server_jwt(key_b64: &str, server_id: &str) -> anyhow::Result<String> {
    let key = decode_key(key_b64)?;
    let server_id: SocketAddr = server_id.parse().map_err(|_| {
        anyhow::anyhow!("server_id {server_id:?} is not an IP:PORT, as sccache-dist wants")
    })?;
    let claims = ServerJwt { exp: 0, server_id };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&key),
    )
    .map_err(|e| anyhow::anyhow!("signing the server JWT failed: {e}"))
}

/// Checks a server JWT as the scheduler does; returns its `server_id`.
pub fn verify_server_jwt(key_b64: &str, jwt: &str) -> Result<String, String> {
    let key = decode_key(key_b64).map_err(|e| e.to_string())?;
    jsonwebtoken::decode::<ServerJwt>(jwt, &DecodingKey::from_secret(&key), &validation())
        .map(|data| data.claims.server_id.to_string())
        .map_err(|e| format!("the scheduler refuses this JWT: {e}"))
}

/// The scheduler's key as sccache-dist reads it: base64url without padding (a
/// padded key is refused), 32 bytes.
fn decode_key(key_b64: &str) -> anyhow::Result<Vec<u8>> {
    let key = URL_SAFE_NO_PAD.decode(key_b64).map_err(|_| {
        anyhow::anyhow!("the jwt_hs256 secret_key is not base64url without padding")
    })?;
    if key.len() != 32 {
        anyhow::bail!(
            "the jwt_hs256 secret_key holds {} bytes; sccache-dist wants 32",
            key.len()
        );
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "10.0.0.5:10501";

    /// A JWT signed with `key` over a header and claims given as JSON text.
    fn signed(key: &str, header: &str, claims: &str) -> String {
        use hmac::{Hmac, Mac};
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(&URL_SAFE_NO_PAD.decode(key).unwrap()).unwrap();
        mac.update(input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{input}.{sig}")
    }

    const HS256: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

    #[test]
    fn jwt_round_trip_and_claims() {
        let key = jwt_key().unwrap();
        let jwt = server_jwt(&key, ID).unwrap();
        assert_eq!(verify_server_jwt(&key, &jwt).unwrap(), ID);
        let claims = URL_SAFE_NO_PAD
            .decode(jwt.split('.').nth(1).unwrap())
            .unwrap();
        assert_eq!(
            String::from_utf8(claims).unwrap(),
            r#"{"exp":0,"server_id":"10.0.0.5:10501"}"#
        );
        let other = jwt_key().unwrap();
        assert!(verify_server_jwt(&other, &jwt).is_err());
    }

    #[test]
    fn known_vector() {
        // HMAC-SHA256 over the signing input, checked against an independent
        // computation (python3 hmac) for a fixed all-zero key.
        let key = URL_SAFE_NO_PAD.encode([0u8; 32]);
        let jwt = server_jwt(&key, "127.0.0.1:10501").unwrap();
        assert_eq!(
            jwt,
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjAsInNlcnZlcl9pZCI6IjEyNy4wLjAuMToxMDUwMSJ9.Mpp9hRhyLP17ck51UbZYhdeMgYc0_KPI2EqbnqzfW7E"
        );
        // The hand-made signer of these tests agrees, so the refusals below are
        // the verifier's, not a signing mistake.
        let claims = r#"{"exp":0,"server_id":"127.0.0.1:10501"}"#;
        assert_eq!(signed(&key, HS256, claims), jwt);
    }

    #[test]
    fn keys_are_random_and_sized() {
        let a = jwt_key().unwrap();
        assert_ne!(a, jwt_key().unwrap());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(server_jwt("c2hvcnQ", "1.2.3.4:1").is_err());
        assert!(server_jwt(&a, "builder-1:10501").is_err());
    }

    #[test]
    fn a_padded_key_is_refused_as_the_scheduler_does() {
        let key = jwt_key().unwrap();
        let jwt = server_jwt(&key, ID).unwrap();
        let padded = format!("{key}=");
        let e = verify_server_jwt(&padded, &jwt).unwrap_err();
        assert!(e.contains("without padding"), "{e}");
        assert!(server_jwt(&padded, ID).is_err());
    }

    #[test]
    fn a_tampered_claim_is_refused() {
        let key = jwt_key().unwrap();
        let jwt = server_jwt(&key, ID).unwrap();
        let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(r#"{"exp":0,"server_id":"10.0.0.6:10501"}"#);
        let e = verify_server_jwt(&key, &parts.join(".")).unwrap_err();
        assert!(e.contains("InvalidSignature"), "{e}");
    }

    #[test]
    fn claims_other_than_exp_and_server_id_are_refused() {
        let key = jwt_key().unwrap();
        for claims in [
            // An extra claim, even a registered one.
            r#"{"exp":0,"server_id":"10.0.0.5:10501","iss":"me"}"#,
            r#"{"exp":0,"server_id":"10.0.0.5:10501","aud":"x"}"#,
            // exp is required, and a number.
            r#"{"server_id":"10.0.0.5:10501"}"#,
            r#"{"exp":"0","server_id":"10.0.0.5:10501"}"#,
            r#"{"exp":-1,"server_id":"10.0.0.5:10501"}"#,
            // server_id is an IP:PORT.
            r#"{"exp":0}"#,
            r#"{"exp":0,"server_id":"builder-1:10501"}"#,
            r#"{"exp":0,"server_id":"10.0.0.5"}"#,
            r#"{"exp":0,"server_id":5}"#,
        ] {
            let jwt = signed(&key, HS256, claims);
            assert!(verify_server_jwt(&key, &jwt).is_err(), "accepted {claims}");
        }
        // exp is never checked: a past one passes.
        let jwt = signed(&key, HS256, r#"{"exp":1,"server_id":"10.0.0.5:10501"}"#);
        assert_eq!(verify_server_jwt(&key, &jwt).unwrap(), ID);
    }

    #[test]
    fn an_algorithm_other_than_hs256_is_refused() {
        let key = jwt_key().unwrap();
        let claims = r#"{"exp":0,"server_id":"10.0.0.5:10501"}"#;
        for header in [
            r#"{"typ":"JWT","alg":"HS384"}"#,
            r#"{"typ":"JWT","alg":"none"}"#,
            r#"{"typ":"JWT"}"#,
        ] {
            let jwt = signed(&key, header, claims);
            assert!(verify_server_jwt(&key, &jwt).is_err(), "accepted {header}");
        }
        // HS384 signed with HS384: still not what the scheduler takes.
        let hs384 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS384),
            &ServerJwt {
                exp: 0,
                server_id: ID.parse().unwrap(),
            },
            &EncodingKey::from_secret(&URL_SAFE_NO_PAD.decode(&key).unwrap()),
        )
        .unwrap();
        let e = verify_server_jwt(&key, &hs384).unwrap_err();
        assert!(e.contains("InvalidAlgorithm"), "{e}");
    }
}
