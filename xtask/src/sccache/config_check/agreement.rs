//! The three configs agree: ports, the server's address, client and server auth.

use std::net::SocketAddr;

use toml::Table;

use super::checker::{get_str, parse_url, Checker, Front};
use crate::sccache::jwt;

impl Checker {
    pub(super) fn agreement(
        &mut self,
        sched: &Table,
        server: &Table,
        client: &Table,
        front: Option<&Front>,
    ) {
        match front {
            None => self.ports_agree(sched, server, client),
            Some(f) => self.front_agrees(sched, server, client, f),
        }
        self.addresses_agree(server);
        match front {
            // The front checks each client's own token and passes its own on.
            Some(f) => self.front_passes_the_schedulers_token(sched, f),
            None => self.client_auth_agrees(sched, client),
        }
        self.server_auth_agrees(sched, server);
    }

    /// Server and client reach the scheduler on the port it listens on.
    fn ports_agree(&mut self, sched: &Table, server: &Table, client: &Table) {
        let Some(port) = get_str(sched, "public_addr")
            .and_then(|s| s.parse::<SocketAddr>().ok())
            .map(|a| a.port())
        else {
            return;
        };
        for (file, t, key) in [
            ("server.conf", server, "scheduler_url"),
            ("client.conf", client, "dist.scheduler_url"),
        ] {
            if let Some((scheme, _, p)) = get_str(t, key).and_then(|u| parse_url(u).ok()) {
                if scheme == "https" {
                    self.err(
                        file,
                        key,
                        "https, but the scheduler has no TLS front (nginx.conf) and speaks plain HTTP",
                    );
                } else if p != port {
                    self.err(
                        file,
                        key,
                        format!("port {p} is not the scheduler's port {port}"),
                    );
                }
            }
        }
    }

    /// Behind the TLS front: server and client use https to the front's port, and
    /// the scheduler listens on loopback, on the port the front passes to.
    fn front_agrees(&mut self, sched: &Table, server: &Table, client: &Table, f: &Front) {
        let (Some(listen), Some(upstream)) = (f.listen, f.upstream) else {
            self.err(
                "nginx.conf",
                "listen",
                "no `listen PORT ssl;` or upstream `server 127.0.0.1:PORT;`",
            );
            return;
        };
        match get_str(sched, "public_addr").and_then(|s| s.parse::<SocketAddr>().ok()) {
            Some(a) if a.ip().is_loopback() && a.port() == upstream => {}
            Some(a) => self.err(
                "scheduler.conf",
                "public_addr",
                format!("{a} is not 127.0.0.1:{upstream}, where the TLS front passes requests: behind the front the scheduler listens on loopback only"),
            ),
            None => {}
        }
        for (file, t, key) in [
            ("server.conf", server, "scheduler_url"),
            ("client.conf", client, "dist.scheduler_url"),
        ] {
            if let Some((scheme, _, p)) = get_str(t, key).and_then(|u| parse_url(u).ok()) {
                if scheme != "https" || p != listen {
                    self.err(
                        file,
                        key,
                        format!("{scheme}://...:{p} is not the TLS front (https, port {listen})"),
                    );
                }
            }
        }
    }

    /// The server's heartbeats must leave from the IP in its public_addr. Sent to a
    /// loopback scheduler URL they leave from loopback, so the two must be both
    /// loopback or both not: the mismatch that can be seen in the files alone.
    fn addresses_agree(&mut self, server: &Table) {
        let public = get_str(server, "public_addr").and_then(|s| s.parse::<SocketAddr>().ok());
        let url = get_str(server, "scheduler_url").and_then(|u| parse_url(u).ok());
        let (Some(public), Some((_, host, _))) = (public, url) else {
            return;
        };
        let Ok(host_ip) = host.parse::<std::net::IpAddr>() else {
            return; // a host name: where it resolves is not in the files
        };
        if host_ip.is_loopback() != public.ip().is_loopback() {
            self.err(
                "server.conf",
                "scheduler_url",
                format!(
                    "host {host} and public_addr's IP {} are not both loopback: the heartbeats would leave from another address and the scheduler would refuse them with invalid_bearer_token_mismatched_address",
                    public.ip()
                ),
            );
        }
    }

    fn client_auth_agrees(&mut self, sched: &Table, client: &Table) {
        if get_str(sched, "client_auth.type") == Some("token")
            && get_str(sched, "client_auth.token") != get_str(client, "dist.auth.token")
        {
            self.err(
                "client.conf",
                "dist.auth.token",
                "differs from scheduler.conf's client_auth.token",
            );
        }
    }

    fn front_passes_the_schedulers_token(&mut self, sched: &Table, f: &Front) {
        if get_str(sched, "client_auth.type") == Some("token")
            && get_str(sched, "client_auth.token") != f.passes_token.as_deref()
        {
            self.err(
                "nginx.conf",
                "proxy_set_header Authorization",
                "the TLS front does not pass the scheduler's client_auth.token: every job request would be refused",
            );
        }
    }

    fn server_auth_agrees(&mut self, sched: &Table, server: &Table) {
        let server_ty = get_str(sched, "server_auth.type");
        let sched_auth_ty = get_str(server, "scheduler_auth.type");
        let expected = match server_ty {
            Some("jwt_hs256") => Some("jwt_token"),
            other => other,
        };
        if expected.is_some() && sched_auth_ty.is_some() && expected != sched_auth_ty {
            self.err(
                "server.conf",
                "scheduler_auth.type",
                format!("{sched_auth_ty:?} does not match the scheduler's server_auth {server_ty:?} (wants {expected:?})"),
            );
            return;
        }
        let token = get_str(server, "scheduler_auth.token");
        match server_ty {
            Some("jwt_hs256") => self.jwt_agrees(sched, server),
            Some("token") if get_str(sched, "server_auth.token") != token => self.err(
                "server.conf",
                "scheduler_auth.token",
                "differs from scheduler.conf's server_auth.token",
            ),
            _ => {}
        }
    }

    /// The server's JWT verifies with the scheduler's key and names its public_addr.
    fn jwt_agrees(&mut self, sched: &Table, server: &Table) {
        let key = get_str(sched, "server_auth.secret_key").unwrap_or_default();
        let jwt = get_str(server, "scheduler_auth.token").unwrap_or_default();
        let public = get_str(server, "public_addr").and_then(|s| s.parse::<SocketAddr>().ok());
        match jwt::verify_server_jwt(key, jwt) {
            Err(e) => self.err("server.conf", "scheduler_auth.token", e),
            Ok(id) => {
                if let Some(public) = public.filter(|p| id != p.to_string()) {
                    self.err(
                        "server.conf",
                        "scheduler_auth.token",
                        format!("the JWT's server_id {id} is not public_addr {public}: the server refuses to start"),
                    );
                }
            }
        }
    }
}
