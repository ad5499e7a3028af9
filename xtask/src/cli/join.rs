//! Build servers on other hosts: join-bundle and revoke on the scheduler's host,
//! join on the other host.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::Env;
use crate::remote::bundle::{self as remote, BundleRequest};
use crate::remote::join::{self, JoinRequest};
use crate::remote::revoke::{self, RevokeRequest};

/// Write a join bundle for a build server on another host (on the scheduler's
/// host): its config with a credential bound to ADDRESS:PORT, the scheduler's URL
/// and the image to run; one file, mode 0600. The server is recorded, so `status`
/// expects it.
#[derive(clap::Args)]
pub struct JoinBundle {
    /// The IP the other host's build server sends from and clients reach it at.
    #[arg(long, value_name = "IP")]
    address: Ipv4Addr,
    /// Its port [default: the profile's server_port].
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,
    /// Its name, also its container's [default: <cluster>-remote-<a>-<b>-<c>-<d>].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Where to write the bundle (it holds a secret: keep it private, move it
    /// over a private channel).
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,
}

impl JoinBundle {
    /// Writes the bundle and prints where, and for which address.
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let req = BundleRequest {
            address: self.address,
            port: self.port,
            name: self.name,
            output: self.output,
        };
        let r = remote::issue(&env.root, &env.state, &req)?;
        println!(
            "wrote the join bundle for {} at {} to {} (mode 0600)",
            r.name,
            r.public_addr(),
            req.output.display()
        );
        println!("on that host: `cargo xtask join {}`", req.output.display());
        Ok(())
    }
}

/// Start the build server of a join bundle on this host (the other host): role
/// `server` on the host network, its config in this host's state directory.
#[derive(clap::Args)]
pub struct Join {
    /// The bundle `join-bundle` wrote.
    bundle: PathBuf,
    /// Run this image instead of the bundle's (it must exist on this engine).
    #[arg(long, value_name = "REF")]
    image: Option<String>,
    /// Seconds to wait for the server to register.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

impl Join {
    /// Starts the server and prints where it registered.
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let req = JoinRequest {
            bundle: self.bundle,
            image: self.image,
            timeout: Duration::from_secs(self.timeout),
        };
        let j = join::join(&env.state, &req)?;
        println!(
            "the build server {} at {} registered with {} in {:.2}s",
            j.name,
            j.public_addr,
            j.scheduler_url,
            j.ready_after.as_secs_f64()
        );
        Ok(())
    }
}

/// Refuse a remote build server from now on (on the scheduler's host): rotates the
/// server key or token, restarts the scheduler and the local builders with new
/// credentials; every other remote builder then needs a new bundle.
#[derive(clap::Args)]
pub struct Revoke {
    /// ADDRESS (every remote builder at that IP) or ADDRESS:PORT.
    target: String,
    /// Seconds to wait for the scheduler and the local builders to come back.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

impl Revoke {
    /// Revokes and prints which remote builders need a new bundle.
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let req = RevokeRequest {
            target: self.target,
            timeout: Duration::from_secs(self.timeout),
        };
        let r = revoke::revoke(&env.root, &env.state, &req)?;
        for s in &r.revoked {
            println!("revoked {} at {}", s.name, s.public_addr());
        }
        match r.restarted {
            Some((took, n)) => println!(
                "rotated the server secret; the scheduler and the local builders restarted in {:.1}s and it counts {n} server(s)",
                took.as_secs_f64()
            ),
            None => println!(
                "rotated the server secret; the cluster is not running: `start` runs it with the new credentials"
            ),
        }
        if r.need_new_bundle.is_empty() {
            println!("no other remote builder was issued a bundle");
        }
        for s in &r.need_new_bundle {
            println!(
                "needs a new bundle: {} at {} (`cargo xtask join-bundle --address {} --port {} --name {} -o FILE`, then `cargo xtask join FILE` there)",
                s.name, s.public_addr(), s.address, s.port, s.name
            );
        }
        Ok(())
    }
}
