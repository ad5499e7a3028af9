//! The config files of one cluster as the store writes them: plain text, one
//! scheduler.conf, one client.conf and a server.conf per build server.

/// One build server's config file.
pub struct ServerConfigFile {
    /// The server's name (its directory in the state, when it has a container of
    /// its own).
    pub name: String,
    /// It runs in the scheduler's container (role `all`).
    pub in_scheduler_container: bool,
    /// The server.conf text.
    pub text: String,
}

/// The TLS front's files: the leaf and its key go to the scheduler's container
/// only; the CA's certificate (never its key) to every container.
pub struct TlsFiles {
    /// The CA's certificate the build servers trust the front with (PEM); None
    /// for a certificate their system store trusts.
    pub ca_cert: Option<String>,
    /// The scheduler's leaf certificate (PEM).
    pub leaf_cert: String,
    /// The leaf's private key (PEM).
    pub leaf_key: String,
}

/// Every config file of a cluster.
pub struct ConfigFiles {
    /// The scheduler.conf text.
    pub scheduler: String,
    /// The client config text.
    pub client: String,
    /// nginx.conf of the scheduler's TLS front, when it has one.
    pub front: Option<String>,
    /// The TLS front's certificates and key, when it has one.
    pub tls: Option<TlsFiles>,
    /// Every build server's config.
    pub servers: Vec<ServerConfigFile>,
    /// The metrics token (for scrapers, in the state directory) and its
    /// SHA-256 (for the exporter, in the scheduler's container).
    pub metrics: Option<MetricsFiles>,
}

/// The metrics endpoint's token files.
pub struct MetricsFiles {
    /// The token: `metrics-token` in the state directory, never mounted.
    pub token: String,
    /// Its SHA-256, hex: `container/metrics-token.sha256`.
    pub token_sha256: String,
}
