//! `client add|list|revoke|rotate`.

use std::path::PathBuf;

use super::Env;
use crate::cluster::clients;

/// One credential per client machine: add, list, revoke and rotate clients of
/// the running cluster; the TLS front checks each client's own token, and a
/// change takes effect at the client's next request with nothing restarted.
#[derive(clap::Subcommand)]
pub enum Client {
    /// Give a new client its own token: writes client.conf, ca-bundle.pem and
    /// env (the lines to source) into DIR, mode 0600, never over a different file.
    Add {
        /// 1 to 32 lower-case letters, digits and '-'.
        name: String,
        /// The directory for the client's files (made 0700 if missing).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
    /// The clients: when made, when last seen and their job requests since the
    /// scheduler started.
    List,
    /// Refuse a client's token from its next request (jobs it holds finish).
    Revoke {
        /// The client's name.
        name: String,
    },
    /// A new token for a client (the old one is refused from then on).
    Rotate {
        /// The client's name.
        name: String,
        /// The directory for the client's new files.
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
    },
}

impl Client {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        match self {
            Client::Add { name, output } => clients::add(&env.root, &env.state, &name, &output),
            Client::List => clients::print_list(&env.state),
            Client::Revoke { name } => clients::revoke(&env.state, &name),
            Client::Rotate { name, output } => {
                clients::rotate(&env.root, &env.state, &name, &output)
            }
        }
    }
}
