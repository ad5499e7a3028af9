//! A cluster's secrets: the client token, the scheduler's jwt_hs256 key or the
//! shared server token, made from the OS random source on first start.

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::configs::ConfigInputs;
use super::jwt;
use crate::profile::runtime::{RuntimeProfile, ServerAuth};

/// The secrets of one cluster, generated on its first start.
#[derive(Clone, Serialize, Deserialize)]
pub struct Secrets {
    /// The token clients present to the scheduler.
    pub client_token: String,
    /// jwt_hs256: the scheduler's `secret_key`.
    #[serde(default)]
    pub jwt_key: Option<String>,
    /// token server auth: the shared server token.
    #[serde(default)]
    pub server_token: Option<String>,
    /// The bearer token of the metrics endpoint: its own, neither a client's
    /// nor a server's credential (a state from before metrics gets one).
    #[serde(default)]
    pub metrics_token: Option<String>,
    /// Behind the TLS front: the token the front passes the scheduler for a
    /// client whose own token it accepted. No client holds it.
    #[serde(default)]
    pub front_client_token: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }") // never in a log, not even a debug one
    }
}

impl Secrets {
    /// New secrets from the OS random source, with what `auth` needs.
    pub fn generate(auth: ServerAuth) -> anyhow::Result<Secrets> {
        Ok(Secrets {
            client_token: jwt::token()?,
            jwt_key: matches!(auth, ServerAuth::JwtHs256)
                .then(jwt::jwt_key)
                .transpose()?,
            server_token: matches!(auth, ServerAuth::Token)
                .then(jwt::token)
                .transpose()?,
            metrics_token: Some(jwt::token()?),
            front_client_token: Some(jwt::token()?),
        })
    }

    /// The metrics token and its SHA-256 (hex), which is all the scheduler's
    /// container is given of it.
    pub fn metrics_token_and_hash(&self) -> anyhow::Result<(String, String)> {
        use sha2::Digest as _;
        let token = self
            .metrics_token
            .clone()
            .context("the secrets hold no metrics token")?;
        let hash = sha2::Sha256::digest(token.as_bytes());
        let hex = hash.iter().map(|b| format!("{b:02x}")).collect();
        Ok((token, hex))
    }

    /// Fills in what the profile's server auth needs but an older state lacks.
    pub(crate) fn complete(mut self, auth: ServerAuth) -> anyhow::Result<(Secrets, bool)> {
        let mut changed = false;
        if auth == ServerAuth::JwtHs256 && self.jwt_key.is_none() {
            self.jwt_key = Some(jwt::jwt_key()?);
            changed = true;
        }
        if self.metrics_token.is_none() {
            self.metrics_token = Some(jwt::token()?);
            changed = true;
        }
        if self.front_client_token.is_none() {
            self.front_client_token = Some(jwt::token()?);
            changed = true;
        }
        if auth == ServerAuth::Token && self.server_token.is_none() {
            self.server_token = Some(jwt::token()?);
            changed = true;
        }
        Ok((self, changed))
    }

    /// A new scheduler key (jwt_hs256) or shared server token (token): every build
    /// server credential issued before stops working. Fails for
    /// DANGEROUSLY_INSECURE, which has nothing to rotate and refuses no server.
    pub fn rotate_server_secret(&mut self, auth: ServerAuth) -> anyhow::Result<()> {
        match auth {
            ServerAuth::JwtHs256 => self.jwt_key = Some(jwt::jwt_key()?),
            ServerAuth::Token => self.server_token = Some(jwt::token()?),
            ServerAuth::DangerouslyInsecure => anyhow::bail!(
                "server_auth is DANGEROUSLY_INSECURE: the scheduler admits any build server, so none can be refused; use jwt_hs256 or token"
            ),
        }
        Ok(())
    }

    /// A short fingerprint of the server secret in force (a SHA-256 prefix, which
    /// reveals nothing of it): a credential issued under another one is stale.
    pub fn server_secret_id(&self, auth: ServerAuth) -> String {
        use sha2::{Digest, Sha256};
        let secret = match auth {
            ServerAuth::JwtHs256 => self.jwt_key.as_deref(),
            ServerAuth::Token => self.server_token.as_deref(),
            ServerAuth::DangerouslyInsecure => None,
        };
        let digest = Sha256::digest(secret.unwrap_or_default().as_bytes());
        digest[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The template inputs for a cluster advertised at `advertise` whose build
    /// server listens at the profile's server port on that address.
    pub fn config_inputs(
        &self,
        profile: &RuntimeProfile,
        advertise: &str,
    ) -> anyhow::Result<ConfigInputs> {
        self.server_inputs(profile, advertise, advertise, profile.settings.server_port)
    }

    /// The template inputs for the build server at `server_ip:server_port` of a
    /// cluster whose scheduler is at `scheduler_ip`: its JWT is bound to that address.
    pub fn server_inputs(
        &self,
        profile: &RuntimeProfile,
        scheduler_ip: &str,
        server_ip: &str,
        server_port: u16,
    ) -> anyhow::Result<ConfigInputs> {
        let server_id = format!("{server_ip}:{server_port}");
        let (server_secret, server_token) = match profile.settings.server_auth {
            ServerAuth::JwtHs256 => {
                let key = self
                    .jwt_key
                    .clone()
                    .context("the state has no jwt_hs256 key")?;
                let jwt = jwt::server_jwt(&key, &server_id)?;
                (key, jwt)
            }
            ServerAuth::Token => {
                let t = self
                    .server_token
                    .clone()
                    .context("the state has no server token")?;
                (t.clone(), t)
            }
            ServerAuth::DangerouslyInsecure => (String::new(), String::new()),
        };
        Ok(ConfigInputs {
            advertise: scheduler_ip.to_owned(),
            client_token: self.client_token.clone(),
            front_client_token: self.front_client_token.clone(),
            server_secret,
            server_token,
            server_ip: server_ip.to_owned(),
            server_port,
            tls: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_changes_only_the_server_secret() {
        for auth in [ServerAuth::JwtHs256, ServerAuth::Token] {
            let mut s = Secrets::generate(auth).unwrap();
            let (client, id) = (s.client_token.clone(), s.server_secret_id(auth));
            s.rotate_server_secret(auth).unwrap();
            assert_eq!(s.client_token, client);
            assert_ne!(s.server_secret_id(auth), id);
            assert_eq!(s.server_secret_id(auth).len(), 16);
        }
        let insecure = ServerAuth::DangerouslyInsecure;
        let mut s = Secrets::generate(insecure).unwrap();
        assert!(s.rotate_server_secret(insecure).is_err());
    }
}
