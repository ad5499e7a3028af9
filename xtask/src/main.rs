//! `cargo xtask`: renders, builds and runs sccache-dist (scheduler and build
//! servers) from the declarative profiles in `distros/` and `profiles/`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match xtask::cli::Cli::parse().run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
