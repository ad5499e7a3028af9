//! Secrets of a cluster: the client token, the scheduler's jwt_hs256 key and each
//! server's JWT. Random bytes come from the OS; the JWT is computed here with exactly
//! the claims sccache-dist accepts.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

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

const JWT_HEADER: &str = r#"{"typ":"JWT","alg":"HS256"}"#;

/// The HS256 JWT a build server at `server_id` (its public_addr, `IP:PORT`) presents
/// to the scheduler: claims `{"exp":0,"server_id":"IP:PORT"}` and nothing else.
pub fn server_jwt(key_b64: &str, server_id: &str) -> anyhow::Result<String> {
    let key = decode_key(key_b64)?;
    let claims = serde_json::json!({ "exp": 0, "server_id": server_id }).to_string();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(JWT_HEADER),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Ok(format!("{signing_input}.{sig}"))
}

/// Checks a server JWT as the scheduler would; returns its `server_id`.
pub fn verify_server_jwt(key_b64: &str, jwt: &str) -> Result<String, String> {
    let key = decode_key(key_b64).map_err(|e| e.to_string())?;
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT (three dot-separated parts)".into());
    };
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| "signature is not base64url")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{h}.{c}").as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| "signature does not match the scheduler's secret_key")?;
    let header: serde_json::Value = URL_SAFE_NO_PAD
        .decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("header is not base64url JSON")?;
    if header["alg"] != "HS256" {
        return Err(format!("header alg is {}, not HS256", header["alg"]));
    }
    let claims: serde_json::Map<String, serde_json::Value> = URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("claims are not base64url JSON")?;
    let mut keys: Vec<&str> = claims.keys().map(String::as_str).collect();
    keys.sort();
    if keys != ["exp", "server_id"] {
        return Err(format!(
            "claims are {keys:?}; sccache-dist accepts exactly exp and server_id"
        ));
    }
    claims["server_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "server_id is not a string".into())
}

fn decode_key(key_b64: &str) -> anyhow::Result<Vec<u8>> {
    let key = URL_SAFE_NO_PAD
        .decode(key_b64.trim_end_matches('='))
        .map_err(|_| anyhow::anyhow!("the jwt_hs256 secret_key is not base64url"))?;
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

    #[test]
    fn jwt_round_trip_and_claims() {
        let key = jwt_key().unwrap();
        let jwt = server_jwt(&key, "10.0.0.5:10501").unwrap();
        assert_eq!(verify_server_jwt(&key, &jwt).unwrap(), "10.0.0.5:10501");
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
    }

    #[test]
    fn keys_are_random_and_sized() {
        let a = jwt_key().unwrap();
        assert_ne!(a, jwt_key().unwrap());
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert!(server_jwt("c2hvcnQ", "1.2.3.4:1").is_err());
    }
}
