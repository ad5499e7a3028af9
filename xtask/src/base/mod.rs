//! Floor 0, the leaf helpers: atomic file writes, where the project's folders are,
//! and escaping values for TOML and shell. They import nothing of the tool.

pub mod atomic;
pub mod escape;
pub mod project;
