//! An image exported as an OCI tarball (`--output type=oci,dest=FILE`): its
//! manifest digest, and the file tree of any of its layers.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::Value;

use super::tree::{self, Tree};

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// One image manifest of an OCI tarball.
pub struct OciImage {
    path: PathBuf,
    /// `sha256:...` of the image manifest: equal digests, equal images.
    pub manifest_digest: String,
    /// `sha256:...` of the image config.
    pub config_digest: String,
    /// The layers, bottom first: (digest, media type).
    pub layers: Vec<(String, String)>,
}

/// Reads the image manifest of the tarball at `path`: the one index.json names,
/// through nested indexes, skipping attestation manifests (platform unknown/unknown).
pub fn open(path: &Path) -> anyhow::Result<OciImage> {
    let index: Value = serde_json::from_slice(&read_member(path, "index.json")?)
        .with_context(|| format!("{}: index.json is not JSON", path.display()))?;
    let mut descriptor = image_descriptor(&index)
        .with_context(|| format!("{}: index.json names no image manifest", path.display()))?;
    while INDEX_TYPES.contains(&descriptor["mediaType"].as_str().unwrap_or("")) {
        let nested: Value = serde_json::from_slice(&blob(path, &digest_of(&descriptor)?)?)?;
        descriptor = image_descriptor(&nested)
            .with_context(|| format!("{}: an index names no image manifest", path.display()))?;
    }
    let manifest_digest = digest_of(&descriptor)?;
    let manifest: Value = serde_json::from_slice(&blob(path, &manifest_digest)?)
        .with_context(|| format!("{}: the manifest is not JSON", path.display()))?;
    let layers = manifest["layers"]
        .as_array()
        .context("the manifest has no layers")?
        .iter()
        .map(|l| {
            Ok((
                digest_of(l)?,
                l["mediaType"].as_str().unwrap_or("").to_owned(),
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(OciImage {
        path: path.to_owned(),
        config_digest: digest_of(&manifest["config"])?,
        manifest_digest,
        layers,
    })
}

/// The first descriptor of an index that is not an attestation.
fn image_descriptor(index: &Value) -> Option<Value> {
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| m["platform"]["os"].as_str() != Some("unknown"))
        .cloned()
}

fn digest_of(descriptor: &Value) -> anyhow::Result<String> {
    let d = descriptor["digest"]
        .as_str()
        .context("a descriptor has no digest")?;
    anyhow::ensure!(
        d.starts_with("sha256:") && d[7..].chars().all(|c| c.is_ascii_hexdigit()),
        "unexpected digest {d:?}"
    );
    Ok(d.to_owned())
}

/// The bytes of the blob `digest` (sha256:HEX).
fn blob(path: &Path, digest: &str) -> anyhow::Result<Vec<u8>> {
    read_member(path, &format!("blobs/sha256/{}", &digest[7..]))
}

/// The bytes of one member of the tarball at `path`.
fn read_member(path: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    with_member(path, name, |r| {
        r.read_to_end(&mut bytes)?;
        Ok(())
    })?;
    Ok(bytes)
}

/// Streams one member of the tarball at `path` into `f`.
fn with_member<T>(
    path: &Path,
    name: &str,
    f: impl FnOnce(&mut dyn Read) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut archive = tar::Archive::new(file);
    for entry in archive.entries_with_seek()? {
        let mut entry = entry.with_context(|| format!("cannot read {}", path.display()))?;
        if entry.path()?.to_string_lossy().trim_start_matches("./") == name {
            return f(&mut entry).with_context(|| format!("{}: {name}", path.display()));
        }
    }
    anyhow::bail!("{} has no {name}", path.display())
}

impl OciImage {
    /// The file tree of the layer `digest` of `media_type` (tar or tar+gzip).
    pub fn layer_tree(&self, digest: &str, media_type: &str) -> anyhow::Result<Tree> {
        let member = format!("blobs/sha256/{}", &digest[7..]);
        with_member(&self.path, &member, |r| {
            if media_type.ends_with("+gzip") || media_type.ends_with(".gzip") {
                tree::read_tree(flate2::read::GzDecoder::new(r))
            } else if media_type.ends_with("+zstd") {
                anyhow::bail!("layer {digest} is zstd-compressed, which this tool cannot read")
            } else {
                tree::read_tree(r)
            }
        })
    }

    /// The image config, as JSON.
    pub fn config(&self) -> anyhow::Result<Value> {
        Ok(serde_json::from_slice(&blob(
            &self.path,
            &self.config_digest,
        )?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::Write;

    fn digest(bytes: &[u8]) -> String {
        let hex: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256:{hex}")
    }

    /// An OCI layout as BuildKit writes it with attestations: index.json → an
    /// index naming an attestation manifest first, then the image manifest.
    fn layout() -> (tempfile::TempDir, String) {
        let mut layer = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        layer.append_data(&mut h, "built-at", &b"1\n"[..]).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&layer.into_inner().unwrap()).unwrap();
        let layer = gz.finish().unwrap();
        let config = br#"{"architecture":"amd64"}"#.to_vec();
        let manifest = serde_json::to_vec(&serde_json::json!({
            "config": {"digest": digest(&config)},
            "layers": [{"digest": digest(&layer), "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}],
        }))
        .unwrap();
        let nested = serde_json::to_vec(&serde_json::json!({"manifests": [
            {"digest": digest(b"att"), "platform": {"os": "unknown", "architecture": "unknown"}},
            {"digest": digest(&manifest), "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "platform": {"os": "linux", "architecture": "amd64"}},
        ]}))
        .unwrap();
        let index = serde_json::to_vec(&serde_json::json!({"manifests": [
            {"digest": digest(&nested), "mediaType": INDEX_TYPES[0]},
        ]}))
        .unwrap();
        let mut out = tar::Builder::new(Vec::new());
        let mut add = |name: String, bytes: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.append_data(&mut h, name, bytes).unwrap();
        };
        add("index.json".into(), &index);
        for blob in [&layer, &config, &manifest, &nested] {
            add(format!("blobs/sha256/{}", &digest(blob)[7..]), blob);
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.tar"), out.into_inner().unwrap()).unwrap();
        (dir, digest(&manifest))
    }

    #[test]
    fn image_manifest_through_a_nested_index() {
        let (dir, manifest) = layout();
        let img = open(&dir.path().join("x.tar")).unwrap();
        assert_eq!(img.manifest_digest, manifest);
        assert_eq!(img.config().unwrap()["architecture"], "amd64");
        let (d, media) = &img.layers[0];
        let tree = img.layer_tree(d, media).unwrap();
        assert_eq!(tree["/built-at"].size, 2);
    }
}
