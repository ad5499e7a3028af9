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

/// Every config file of a cluster.
pub struct ConfigFiles {
    /// The scheduler.conf text.
    pub scheduler: String,
    /// The client config text.
    pub client: String,
    /// Every build server's config.
    pub servers: Vec<ServerConfigFile>,
}
