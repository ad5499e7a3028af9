//! What `bench cluster` measures: the request, sccache-dist's deployment
//! controls, and the scheduler's capacity that decides what fits.

use crate::cluster::StartRequest;
use crate::profile::runtime::LogLevel;

/// What to measure.
pub struct ClusterBench {
    /// How to start the benchmark's own cluster (its own name and state), with
    /// one build server.
    pub start: StartRequest,
    /// The container way runs with 1..=`builders` build servers: first with one
    /// (beside the other ways), then scaled up one server at a time.
    pub builders: usize,
    /// Jobs the scheduler gives one server of this machine (cores + 1 + cores/8).
    pub slots_per_server: usize,
    /// Start → ready measurements.
    pub starts: usize,
    /// C files in the batch.
    pub compiles: usize,
    /// Compiles at once, in every way.
    pub jobs: usize,
    /// Rounds of every way, interleaved; each row shows the median round.
    pub rounds: usize,
    /// sccache-dist's deployment, native and in the container.
    pub setup: Setup,
    /// Also measure each control flipped from `setup`, one at a time.
    pub controls: bool,
}

/// The deployment controls of sccache-dist the benchmark can vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// `SCCACHE_LOG` of the scheduler and the server.
    pub log_level: LogLevel,
    /// The cache root (toolchains and the overlay build dir) on tmpfs (/dev/shm)
    /// instead of a disk directory (native) or the named volume (container).
    pub tmpfs: bool,
}

impl Setup {
    /// The controls flipped one at a time: the log level (info ↔ warn) and tmpfs.
    pub fn controls(self) -> Vec<Setup> {
        let other = match self.log_level {
            LogLevel::Info => LogLevel::Warn,
            _ => LogLevel::Info,
        };
        vec![
            Setup {
                log_level: other,
                ..self
            },
            Setup {
                tmpfs: !self.tmpfs,
                ..self
            },
        ]
    }

    pub(super) fn label(self, disk: &str) -> String {
        let build = if self.tmpfs { "tmpfs" } else { disk };
        format!("log {}, cache {build}", self.log_level.as_str())
    }
}

/// The scheduler gives one server at most this many jobs at once (sccache-dist's
/// load weight); a job beyond it compiles locally.
pub fn scheduler_jobs_per_server(cores: usize) -> usize {
    cores + 1 + cores / 8
}

/// The scheduler's capacity with `builders` servers of `slots_per_server` jobs each:
/// the compiles it distributes at once; a job beyond it compiles locally.
pub fn scheduler_slots(builders: usize, slots_per_server: usize) -> usize {
    builders * slots_per_server
}
