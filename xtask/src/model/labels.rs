//! The labels this tool puts on images: what `image` writes and `start`, `join`,
//! `status` and `remove-image` read back.

/// Label holding the full content hash of everything that went into an image.
pub const HASH_LABEL: &str = "io.github.sccache-docker.input-hash";
/// Label naming the distro an image was built from.
pub const DISTRO_LABEL: &str = "io.github.sccache-docker.distro";
/// Label naming the sccache-dist version an image serves, where the build knows
/// it beforehand (a pinned version, or the host binary's); a distro package's is
/// read from the image's binary instead.
pub const VERSION_LABEL: &str = "io.github.sccache-docker.sccache-dist-version";
