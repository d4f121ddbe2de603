//! A repository on S3-compatible object storage (AWS S3, SeaweedFS, MinIO,
//! Garage, Cloudflare R2, Backblaze B2), through Apache OpenDAL's S3
//! service.
//!
//! `s3://BUCKET/PREFIX` names the repository: every key is stored as the
//! object `PREFIX/key`. The endpoint comes from [`S3Location::endpoint`]
//! or `AWS_ENDPOINT_URL`, the region from `AWS_REGION` (default
//! `us-east-1`), credentials from the standard AWS variables or
//! `~/.aws/credentials`. Addressing is path-style (what self-hosted stores
//! expect) unless `virtual_host_style` is set.
//!
//! Write-once objects use `If-None-Match: *`, compare-and-swap uses
//! `If-Match: <ETag>`; a store that answers 412 reports
//! [`Error::Conflict`]. Transient failures (timeouts, 5xx, throttling) are
//! retried with exponential backoff and jitter; after the last try the
//! error names the endpoint and the object.
//!
//! The store's API is synchronous; this backend owns a small tokio runtime
//! and blocks on it, so it must not be called from inside another async
//! runtime.

use std::time::Duration;

use opendal::blocking;
use opendal::layers::{RetryLayer, TimeoutLayer};
use opendal::options::{ListOptions, ReadOptions, WriteOptions};
use opendal::{BytesRange, EntryMode, ErrorKind, Operator};

use super::{check_key, short_object, Backend, ObjectInfo, Precondition, Version};
use crate::error::{Error, Result};

/// Attempts per request before an error is reported (1 + retries).
pub const MAX_TRIES: usize = 6;

/// Where a repository on object storage is, parsed from `s3://BUCKET/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The prefix inside the bucket, without leading or trailing `/`
    /// (empty: the bucket's root).
    pub prefix: String,
    /// The endpoint URL (`http://127.0.0.1:8333`); `None`: `AWS_ENDPOINT_URL`,
    /// else AWS.
    pub endpoint: Option<String>,
    /// The region (default: `AWS_REGION`, else `us-east-1`).
    pub region: String,
    /// Virtual-host-style addressing (`BUCKET.endpoint`) instead of path-style.
    pub virtual_host_style: bool,
}

impl S3Location {
    /// True when `repo` names an object-store repository (`s3://…`).
    pub fn is_s3_url(repo: &str) -> bool {
        repo.starts_with("s3://")
    }

    /// Parses `s3://BUCKET[/PREFIX]`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the text is not such a URL.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |detail: &str| Error::Invalid {
            what: "repository URL",
            detail: format!("{url:?}: {detail}"),
        };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| invalid("expected s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("no bucket"));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if !prefix.is_empty() {
            check_key(url, &prefix)
                .map_err(|_| invalid("the prefix has an empty, '.' or '..' segment"))?;
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix,
            endpoint: std::env::var("AWS_ENDPOINT_URL")
                .ok()
                .filter(|e| !e.is_empty()),
            region: std::env::var("AWS_REGION")
                .ok()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "us-east-1".to_string()),
            virtual_host_style: false,
        })
    }

    /// `s3://BUCKET/PREFIX`, as the user wrote it.
    pub fn url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A repository under a prefix of a bucket.
#[derive(Debug)]
pub struct S3Backend {
    // Declared before the runtime so it is dropped first.
    op: blocking::Operator,
    _runtime: tokio::runtime::Runtime,
    location: String,
}

impl S3Backend {
    /// Connects to the bucket (no request is made until the first operation).
    ///
    /// # Errors
    /// [`Error::Remote`] when the settings are not usable (a malformed endpoint).
    pub fn new(loc: &S3Location) -> Result<Self> {
        let location = match &loc.endpoint {
            Some(e) => format!("{} at {e}", loc.url()),
            None => loc.url(),
        };
        let remote = |e: opendal::Error| Error::Remote {
            location: location.clone(),
            key: String::new(),
            detail: e.to_string(),
        };
        // Registers OpenDAL's HTTP transport (reqwest) once per process.
        opendal::install_default();
        let mut builder = opendal::services::S3::default()
            .bucket(&loc.bucket)
            .root(&format!("/{}", loc.prefix))
            .region(&loc.region);
        if let Some(e) = &loc.endpoint {
            builder = builder.endpoint(e);
        }
        if loc.virtual_host_style {
            builder = builder.enable_virtual_host_style();
        }
        let op = Operator::new(builder)
            .map_err(remote)?
            .layer(
                TimeoutLayer::new()
                    .with_timeout(Duration::from_secs(120))
                    .with_io_timeout(Duration::from_secs(30)),
            )
            .layer(
                RetryLayer::new()
                    .with_jitter()
                    .with_max_times(MAX_TRIES - 1)
                    .with_min_delay(Duration::from_millis(100))
                    .with_max_delay(Duration::from_secs(5)),
            );
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Remote {
                location: location.clone(),
                key: String::new(),
                detail: format!("cannot start the I/O runtime: {e}"),
            })?;
        let op = {
            let _guard = runtime.enter();
            blocking::Operator::new(op).map_err(remote)?
        };
        Ok(S3Backend {
            op,
            _runtime: runtime,
            location,
        })
    }

    fn error(&self, key: &str, e: opendal::Error) -> Error {
        match e.kind() {
            ErrorKind::NotFound => Error::NotFound {
                what: "object",
                id: key.to_string(),
            },
            ErrorKind::ConditionNotMatch => Error::Conflict {
                location: self.location.clone(),
                key: key.to_string(),
            },
            _ => Error::Remote {
                location: self.location.clone(),
                key: key.to_string(),
                detail: e.to_string(),
            },
        }
    }

    fn etag(&self, key: &str, meta: &opendal::Metadata) -> Result<Version> {
        match meta.etag() {
            Some(e) => Ok(Version(e.to_string())),
            None => self.version(key)?.ok_or_else(|| Error::NotFound {
                what: "object",
                id: key.to_string(),
            }),
        }
    }
}

impl Backend for S3Backend {
    fn location(&self) -> &str {
        &self.location
    }

    fn read(&self, key: &str) -> Result<Vec<u8>> {
        check_key(&self.location, key)?;
        let buf = self.op.read(key).map_err(|e| self.error(key, e))?;
        Ok(buf.to_vec())
    }

    fn read_range(&self, key: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        check_key(&self.location, key)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let opts = ReadOptions {
            range: BytesRange::new(offset, Some(len)),
            ..Default::default()
        };
        let buf = self
            .op
            .read_options(key, opts)
            .map_err(|e| self.error(key, e))?;
        if (buf.len() as u64) < len {
            return Err(short_object(key, offset, len, offset + buf.len() as u64));
        }
        Ok(buf.to_vec())
    }

    fn version(&self, key: &str) -> Result<Option<Version>> {
        check_key(&self.location, key)?;
        match self.op.stat(key) {
            Ok(meta) => Ok(meta.etag().map(|e| Version(e.to_string()))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.error(key, e)),
        }
    }

    fn write(&self, key: &str, bytes: &[u8], when: Precondition) -> Result<Version> {
        check_key(&self.location, key)?;
        let mut opts = WriteOptions::default();
        match when {
            Precondition::None => {}
            Precondition::Absent => opts.if_not_exists = true,
            Precondition::Matches(v) => opts.if_match = Some(v.0),
        }
        let meta = self
            .op
            .write_options(key, bytes.to_vec(), opts)
            .map_err(|e| self.error(key, e))?;
        self.etag(key, &meta)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        // List the directory holding the prefix, recursively, and keep the
        // keys that start with it (works the same for `snapshots/` and
        // `packs/a`).
        let dir = match prefix.rfind('/') {
            Some(i) => &prefix[..=i],
            None => "",
        };
        let opts = ListOptions {
            recursive: true,
            ..Default::default()
        };
        let entries = self
            .op
            .list_options(if dir.is_empty() { "/" } else { dir }, opts)
            .map_err(|e| self.error(prefix, e))?;
        let mut out: Vec<ObjectInfo> = entries
            .into_iter()
            .filter(|e| e.metadata().mode() == EntryMode::FILE)
            .map(|e| ObjectInfo {
                key: e.path().trim_start_matches('/').to_string(),
                size: e.metadata().content_length(),
            })
            .filter(|o| o.key.starts_with(prefix))
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<()> {
        check_key(&self.location, key)?;
        match self.op.delete(key) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error(key, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repository_urls() {
        let l = S3Location::parse("s3://bucket/some/prefix/").unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("bucket", "some/prefix")
        );
        assert_eq!(l.url(), "s3://bucket/some/prefix");
        let l = S3Location::parse("s3://bucket").unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("bucket", ""));
        for bad in ["s3://", "s3:///x", "/local/path", "s3://b/a/../c"] {
            assert!(S3Location::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(S3Location::is_s3_url("s3://b/p"));
        assert!(!S3Location::is_s3_url("./s3:/b"));
    }
}
