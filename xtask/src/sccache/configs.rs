//! The three configs of one cluster as text, and the values that differ between
//! one cluster (or build server) and the next.

/// The values that differ between one running cluster and the next.
pub struct ConfigInputs {
    /// The IP the build server's packets leave from and clients reach it at.
    pub advertise: String,
    /// The token clients present to the scheduler (client auth is always a token).
    pub client_token: String,
    /// Behind the TLS front: the scheduler's own client token, which the front
    /// passes on for every client whose token it accepted (each client has its
    /// own); without a front the scheduler takes `client_token` itself.
    pub front_client_token: Option<String>,
    /// jwt_hs256: the scheduler's key; token: the shared token; insecure: empty.
    pub server_secret: String,
    /// jwt_hs256: the server's JWT; token: the shared token; insecure: empty.
    pub server_token: String,
    /// The build server's own IP (its `public_addr`): the advertised address for
    /// the first server, its own for every further one.
    pub server_ip: String,
    /// The build server's port (`public_addr` and `bind_address`).
    pub server_port: u16,
    /// The scheduler sits behind its TLS front: it listens on loopback, and
    /// clients and servers use `https://`.
    pub tls: bool,
}

/// The three configs of one cluster.
pub struct Configs {
    /// scheduler.conf: its listen address and its auth for clients and servers.
    pub scheduler: String,
    /// server.conf: its address, scheduler URL, auth and toolchain cache.
    pub server: String,
    /// client.conf: the scheduler URL and the client's token.
    pub client: String,
    /// nginx.conf of the TLS front, when the scheduler has one.
    pub front: Option<String>,
}

impl ConfigInputs {
    /// The token in scheduler.conf: the front's own behind the TLS front (when
    /// the secrets have one), else the clients'.
    pub fn scheduler_client_token(&self) -> &str {
        match (&self.front_client_token, self.tls) {
            (Some(t), true) => t,
            _ => &self.client_token,
        }
    }
}
