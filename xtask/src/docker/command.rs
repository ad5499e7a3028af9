//! One `docker` command line, built step by step: every call the tool makes to
//! the engine is one of these, so each is shown (`--dry-run`, logs) exactly as it
//! runs, and the usual failure (no client) is explained in one place.

use std::process::Output;

use anyhow::Context;

use crate::base::escape::sh_word;

/// A `docker` command line and the environment it runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerCommand {
    env: Vec<(String, String)>,
    args: Vec<String>,
}

impl DockerCommand {
    /// `docker ARGS`.
    pub fn new<I, S>(args: I) -> DockerCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        DockerCommand {
            env: Vec::new(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// One more argument.
    pub fn arg(mut self, arg: impl Into<String>) -> DockerCommand {
        self.args.push(arg.into());
        self
    }

    /// More arguments.
    pub fn args<I, S>(mut self, args: I) -> DockerCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// `FLAG VALUE`.
    pub fn flag(self, flag: &str, value: impl Into<String>) -> DockerCommand {
        self.arg(flag).arg(value)
    }

    /// Runs with `key=value` in the environment (e.g. `DOCKER_BUILDKIT=0`).
    pub fn env(mut self, key: &str, value: &str) -> DockerCommand {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Runs with each pair in the environment.
    pub fn envs(self, pairs: &[(&str, &str)]) -> DockerCommand {
        pairs.iter().fold(self, |c, (k, v)| c.env(k, v))
    }

    /// The arguments after `docker`.
    pub fn argv(&self) -> &[String] {
        &self.args
    }

    /// Shell-quoted with its environment, exactly as it runs, e.g.
    /// `DOCKER_BUILDKIT=0 docker build ...`.
    pub fn shown(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.env {
            out.push_str(&format!("{k}={} ", sh_word(v)));
        }
        out.push_str("docker");
        for a in &self.args {
            out.push(' ');
            out.push_str(&sh_word(a));
        }
        out
    }

    /// The command as a duct expression, for pipes and custom redirections.
    pub fn expression(&self) -> duct::Expression {
        self.env
            .iter()
            .fold(duct::cmd("docker", &self.args), |e, (k, v)| e.env(k, v))
    }

    /// The command as a `std::process::Command`, for timing it whole.
    pub fn std_command(&self) -> std::process::Command {
        let mut c = std::process::Command::new("docker");
        c.args(&self.args);
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs it, logging it on stderr, with its output on the terminal.
    pub fn run_logged(&self) -> anyhow::Result<()> {
        self.run_shown(false)
    }

    /// Runs it (a build), logging it, with all its output on stderr: stdout
    /// carries only the tool's own report.
    pub fn run_logged_to_stderr(&self) -> anyhow::Result<()> {
        self.run_shown(true)
    }

    fn run_shown(&self, to_stderr: bool) -> anyhow::Result<()> {
        let shown = self.shown();
        eprintln!("$ {shown}");
        let mut e = self.expression().unchecked();
        if to_stderr {
            e = e.stdout_to_stderr();
        }
        let out = e.run().context("cannot run docker")?;
        if !out.status.success() {
            anyhow::bail!("`{shown}` failed ({})", out.status);
        }
        Ok(())
    }

    /// Runs it like [`DockerCommand::run_logged_to_stderr`], passing its stdout and
    /// stderr to this process's stderr line by line; when it fails, the error is a
    /// [`Failed`] that holds its last `keep` lines, so the caller can tell why. (Its
    /// output is a pipe, not a terminal: BuildKit prints plain progress.)
    pub fn run_logged_keeping_tail(&self, keep: usize) -> anyhow::Result<()> {
        use std::io::{BufRead, Write};
        let shown = self.shown();
        eprintln!("$ {shown}");
        let reader = self
            .expression()
            .stderr_to_stdout()
            .unchecked()
            .reader()
            .context("cannot run docker")?;
        let mut tail = std::collections::VecDeque::with_capacity(keep + 1);
        let mut lines = std::io::BufReader::new(&reader);
        let mut line = Vec::new();
        while lines
            .read_until(b'\n', &mut line)
            .context("reading docker's output")?
            > 0
        {
            // A closed stderr must not stop the build.
            let _ = std::io::stderr().write_all(&line);
            tail.push_back(String::from_utf8_lossy(&line).trim_end().to_owned());
            if tail.len() > keep {
                tail.pop_front();
            }
            line.clear();
        }
        let status = reader
            .try_wait()
            .context("waiting for docker")?
            .map(|o| o.status);
        match status {
            Some(s) if s.success() => Ok(()),
            status => Err(Failed {
                message: match status {
                    Some(s) => format!("`{shown}` failed ({s})"),
                    None => format!("`{shown}` did not finish"),
                },
                tail: tail.into(),
            }
            .into()),
        }
    }

    /// Runs it with stdout and stderr captured, whatever its exit status.
    pub fn capture(&self) -> anyhow::Result<Output> {
        self.expression()
            .stdout_capture()
            .stderr_capture()
            .unchecked()
            .run()
            .context("cannot run docker")
    }

    /// Runs it quietly and returns its trimmed stdout; an error carries stderr.
    pub fn output(&self) -> anyhow::Result<String> {
        let out = self.capture()?;
        if !out.status.success() {
            anyhow::bail!(
                "`docker {}` failed: {}",
                self.args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Like [`DockerCommand::output`], but `None` when docker exits non-zero
    /// (e.g. no such object).
    pub fn try_output(&self) -> anyhow::Result<Option<String>> {
        let out = self.capture()?;
        Ok(out
            .status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
    }

    /// Its stdout and stderr together, whatever its exit status; "" when docker
    /// cannot run (for log tails inside error messages).
    pub fn combined_output_lossy(&self) -> String {
        self.expression()
            .stderr_to_stdout()
            .stdout_capture()
            .unchecked()
            .run()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

/// A command that ran and failed, with the last lines of its output.
#[derive(Debug)]
pub struct Failed {
    /// Which command failed and how: `` `docker ...` failed (exit status: 1) ``.
    pub message: String,
    /// Its last lines of output, stdout and stderr together.
    pub tail: Vec<String>,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_as_it_runs() {
        let c = DockerCommand::new(["build", "--label"])
            .arg("a=b c")
            .flag("--tag", "x:y")
            .env("DOCKER_BUILDKIT", "0");
        assert_eq!(
            c.shown(),
            "DOCKER_BUILDKIT=0 docker build --label 'a=b c' --tag x:y"
        );
        assert_eq!(c.argv().len(), 5);
    }
}
