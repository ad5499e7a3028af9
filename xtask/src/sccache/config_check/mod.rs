//! Checks scheduler, server and client configs the way sccache-dist reads them
//! (TOML, only the keys it accepts, types it can parse) and that the three agree
//! with each other (ports, URLs, auth types, tokens, JWT).

mod agreement;
mod checker;

pub use checker::{check, check_server, get_str, parse_url};
