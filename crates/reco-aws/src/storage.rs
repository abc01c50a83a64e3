//! The object-store seam: every component reads and writes buckets through [`Bucket`], a named
//! [`ObjectStore`] (S3 or the emulator, a local folder, or memory for unit tests) with one
//! error type, [`StorageError`]. Keys are [`ObjectPath`]s; conditional puts
//! (`If-None-Match` / `If-Match`) are there for newest-wins writers.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt as _, PutOptions};
use object_store::{Certificate, ClientConfigKey, ClientOptions};
use reco_config::AwsArgs;

pub use object_store::path::Path as ObjectPath;

/// The certificate authorities S3's certificates chain to (`certs/amazon-trust-roots.pem`:
/// Amazon Root CA 1-4 of Amazon Trust Services and the Starfield Services Root Certificate
/// Authority - G2 that cross-signs them), built in for [`Bucket::s3_amazon_roots`].
pub const AMAZON_TRUST_ROOTS: &[u8] = include_bytes!("../../../certs/amazon-trust-roots.pem");

/// What kind of failure a [`StorageError`] is, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// The object does not exist.
    NotFound,
    /// The bucket does not exist (not deployed).
    NoBucket,
    /// A conditional put lost: the object exists or changed.
    Conflict,
    /// The bucket could not be opened (configuration).
    Config,
    /// Anything else: network, permissions, service errors.
    Other,
}

/// A storage operation failed: what, where, and why in one line.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {location} failed: {reason}")]
pub struct StorageError {
    /// `open`, `get`, `put`, `list` or `delete`.
    pub operation: &'static str,
    /// `s3://bucket/key`, a path, or `memory://name/key`.
    pub location: String,
    /// What kind of failure.
    pub kind: StorageErrorKind,
    /// The reason, in a line (the store's full error goes to the debug log).
    pub reason: String,
}

impl StorageError {
    /// Whether the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind == StorageErrorKind::NotFound
    }

    /// The seam's error for an `object_store` error of `operation` at `location` (for callers
    /// that use [`Bucket::store`] directly: conditional puts, ETags, streaming reads).
    pub fn from_store(operation: &'static str, location: String, e: object_store::Error) -> Self {
        tracing::debug!(operation, %location, error = ?e, "object store error");
        let text = e.to_string();
        let (kind, reason) = match &e {
            _ if text.contains("NoSuchBucket") => (
                StorageErrorKind::NoBucket,
                "the bucket does not exist: deploy first (`make deploy-etl` / `make \
                 deploy-streaming`, ENV=local for the local stack)"
                    .to_owned(),
            ),
            object_store::Error::NotFound { .. } => {
                (StorageErrorKind::NotFound, "no such object".to_owned())
            }
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. } => (
                StorageErrorKind::Conflict,
                "the object exists or changed".to_owned(),
            ),
            _ if text.contains("AccessDenied") => (
                StorageErrorKind::Other,
                "access denied: check the credentials and the role's S3 permissions".to_owned(),
            ),
            _ => (StorageErrorKind::Other, first_line(&text)),
        };
        Self {
            operation,
            location,
            kind,
            reason,
        }
    }
}

/// The first line of a long error text, at most 300 characters (the rest is in the debug log).
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line.to_owned(),
    }
}

/// A bucket (or a folder standing in for one): an object store and its name for messages.
#[derive(Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket`, `file:///path` or `memory://name`: prefix of every location.
    base: String,
    name: String,
    /// Whether puts carry a content type (a local folder has nowhere to keep one).
    content_types: bool,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket").field("base", &self.base).finish()
    }
}

impl Bucket {
    /// The S3 bucket `bucket`: on the emulator when `aws.endpoint_url` is set (path-style,
    /// plain HTTP allowed), otherwise in `aws.region` with the static keys or, without them,
    /// the environment's credential chain (Lambda, ECS, instance profile).
    pub fn s3(aws: &AwsArgs, bucket: &str) -> Result<Self, StorageError> {
        Self::s3_with(aws, bucket, false)
    }

    /// [`Bucket::s3`] for a cold start's budget: on AWS (no endpoint) the client trusts only
    /// the roots S3's certificates chain to, [`AMAZON_TRUST_ROOTS`], instead of parsing the
    /// system's trust store (~150 certificates, milliseconds of every cold start). In the
    /// China regions (`cn-*`, certificates of other authorities) and on an endpoint (the
    /// emulator, a proxy) it is [`Bucket::s3`]. Not for hosts behind a TLS-inspecting proxy.
    pub fn s3_amazon_roots(aws: &AwsArgs, bucket: &str) -> Result<Self, StorageError> {
        let china = aws.region.as_deref().is_some_and(|r| r.starts_with("cn-"));
        Self::s3_with(aws, bucket, aws.endpoint().is_none() && !china)
    }

    fn s3_with(aws: &AwsArgs, bucket: &str, amazon_roots: bool) -> Result<Self, StorageError> {
        let base = format!("s3://{bucket}");
        let config_error = |e: object_store::Error| StorageError {
            operation: "open",
            location: base.clone(),
            kind: StorageErrorKind::Config,
            reason: first_line(&e.to_string()),
        };
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch);
        if amazon_roots {
            let mut options = ClientOptions::new().with_no_system_certificates(true);
            for root in Certificate::from_pem_bundle(AMAZON_TRUST_ROOTS).map_err(config_error)? {
                options = options.with_root_certificate(root);
            }
            builder = builder.with_client_options(options);
            // The options replaced the client settings `from_env` read (AWS_PROXY_URL, ...):
            // read them again.
            for (name, value) in std::env::vars() {
                // As `from_env` reads them: `AWS_` names, lower-cased.
                let key = name
                    .starts_with("AWS_")
                    .then(|| name.to_ascii_lowercase().parse());
                if let Some(Ok(key @ AmazonS3ConfigKey::Client(_))) = key {
                    builder = builder.with_config(key, value);
                }
            }
        }
        if let Some(region) = aws.region.as_deref().filter(|r| !r.is_empty()) {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = aws.endpoint() {
            let plain_http = endpoint.starts_with("http://");
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(plain_http)
                .with_virtual_hosted_style_request(false);
            if plain_http {
                // No TLS to a plain-HTTP emulator: skip loading the system's trust store
                // (~150 certificates parsed when the client is built, 5-10 ms of a cold start).
                builder = builder.with_config(
                    AmazonS3ConfigKey::Client(ClientConfigKey::NoSystemCertificates),
                    "true",
                );
            }
        }
        if let Some((key, secret, token)) = aws.static_keys() {
            builder = builder
                .with_access_key_id(key)
                .with_secret_access_key(secret);
            if let Some(token) = token {
                builder = builder.with_token(token);
            }
        }
        let store = builder.build().map_err(config_error)?;
        Ok(Self::new(Arc::new(store), base, bucket))
    }

    /// A local folder standing in for a bucket (created if missing); keys are relative paths.
    pub fn local_dir(root: &std::path::Path) -> Result<Self, StorageError> {
        let base = format!("file://{}", root.display());
        let open = |reason: String| StorageError {
            operation: "open",
            location: base.clone(),
            kind: StorageErrorKind::Config,
            reason,
        };
        std::fs::create_dir_all(root).map_err(|e| open(e.to_string()))?;
        let store = LocalFileSystem::new_with_prefix(root).map_err(|e| open(e.to_string()))?;
        let mut bucket = Self::new(Arc::new(store), base, &root.display().to_string());
        bucket.content_types = false;
        Ok(bucket)
    }

    /// An in-memory bucket (unit tests, benchmarks).
    pub fn in_memory(name: &str) -> Self {
        Self::new(Arc::new(InMemory::new()), format!("memory://{name}"), name)
    }

    /// Wraps any object store; `base` prefixes locations in messages (`s3://bucket`).
    pub fn new(store: Arc<dyn ObjectStore>, base: impl Into<String>, name: &str) -> Self {
        Self {
            store,
            base: base.into(),
            name: name.to_owned(),
            content_types: true,
        }
    }

    /// The bucket's name (or the folder's path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The underlying object store (for conditional puts and streaming reads).
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// `s3://bucket/key` (or the folder's equivalent), for messages and reports.
    pub fn location(&self, key: &str) -> String {
        format!("{}/{}", self.base, key.trim_start_matches('/'))
    }

    fn path(&self, operation: &'static str, key: &str) -> Result<ObjectPath, StorageError> {
        ObjectPath::parse(key).map_err(|e| StorageError {
            operation,
            location: self.location(key),
            kind: StorageErrorKind::Other,
            reason: format!("not a valid object key: {e}"),
        })
    }

    /// The object at `key`, `None` when there is none.
    pub async fn get_opt(&self, key: &str) -> Result<Option<Bytes>, StorageError> {
        match self.get(key).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The object at `key`; a missing object is a [`StorageErrorKind::NotFound`] error.
    pub async fn get(&self, key: &str) -> Result<Bytes, StorageError> {
        let path = self.path("get", key)?;
        let error = |e| StorageError::from_store("get", self.location(key), e);
        let result = self.store.get(&path).await.map_err(error)?;
        result.bytes().await.map_err(error)
    }

    /// Writes (replaces) the object at `key` with `content_type`.
    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        let path = self.path("put", key)?;
        let mut attributes = Attributes::new();
        if self.content_types {
            attributes.insert(Attribute::ContentType, content_type.to_owned().into());
        }
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        self.store
            .put_opts(&path, body.into(), options)
            .await
            .map_err(|e| StorageError::from_store("put", self.location(key), e))?;
        Ok(())
    }

    /// Every key under `prefix` (a key prefix, not only a folder), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        // object_store lists by folder: list the folder part, then keep the keys that start
        // with the whole prefix (`training/snapshot=` matches `training/snapshot=2026-01-01/x`).
        let folder = match prefix.rfind('/') {
            Some(i) => &prefix[..i],
            None => "",
        };
        let folder_path = (!folder.is_empty())
            .then(|| self.path("list", folder))
            .transpose()?;
        let mut keys: Vec<String> = self
            .store
            .list(folder_path.as_ref())
            .map_ok(|meta| meta.location.to_string())
            .try_filter(|key| std::future::ready(key.starts_with(prefix)))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_store("list", self.location(prefix), e))?;
        keys.sort();
        Ok(keys)
    }

    /// Deletes `keys` (missing keys are not an error), in bulk where the store supports it.
    pub async fn delete(&self, keys: &[String]) -> Result<(), StorageError> {
        let paths = keys
            .iter()
            .map(|k| self.path("delete", k))
            .collect::<Result<Vec<_>, _>>()?;
        let mut results = self
            .store
            .delete_stream(futures_util::stream::iter(paths.into_iter().map(Ok)).boxed());
        while let Some(result) = results.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(StorageError::from_store("delete", self.location(""), e));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_amazon_roots_parse_and_an_s3_client_trusting_only_them_builds() {
        let roots = Certificate::from_pem_bundle(AMAZON_TRUST_ROOTS).unwrap();
        assert_eq!(
            roots.len(),
            5,
            "Amazon Root CA 1-4 and Starfield Services Root G2"
        );
        let aws = AwsArgs {
            region: Some("eu-west-1".into()),
            ..AwsArgs::default()
        };
        let bucket = Bucket::s3_amazon_roots(&aws, "reco-artifacts").unwrap();
        assert_eq!(
            bucket.location("models/LATEST"),
            "s3://reco-artifacts/models/LATEST"
        );
        let china = AwsArgs {
            region: Some("cn-north-1".into()),
            ..AwsArgs::default()
        };
        Bucket::s3_amazon_roots(&china, "reco-artifacts").unwrap();
    }

    #[tokio::test]
    async fn put_get_list_delete_round_trip_in_memory() {
        let bucket = Bucket::in_memory("lake");
        bucket
            .put(
                "training/snapshot=2026-01-01/part-0.parquet",
                Bytes::from_static(b"a"),
                "x",
            )
            .await
            .unwrap();
        bucket
            .put(
                "training/snapshot=2026-01-02/part-0.parquet",
                Bytes::from_static(b"b"),
                "x",
            )
            .await
            .unwrap();
        bucket
            .put("training/other", Bytes::from_static(b"c"), "x")
            .await
            .unwrap();
        assert_eq!(
            bucket.list("training/snapshot=").await.unwrap(),
            vec![
                "training/snapshot=2026-01-01/part-0.parquet".to_owned(),
                "training/snapshot=2026-01-02/part-0.parquet".to_owned()
            ]
        );
        assert_eq!(bucket.list("").await.unwrap().len(), 3);
        assert_eq!(
            bucket.get_opt("training/other").await.unwrap().as_deref(),
            Some(&b"c"[..])
        );
        assert_eq!(bucket.get_opt("training/none").await.unwrap(), None);
        let err = bucket.get("training/none").await.unwrap_err();
        assert!(err.is_not_found());
        assert_eq!(
            err.to_string(),
            "get memory://lake/training/none failed: no such object"
        );
        bucket
            .delete(&["training/other".to_owned(), "training/none".to_owned()])
            .await
            .unwrap();
        assert_eq!(bucket.list("training/").await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn local_folder_stands_in_for_a_bucket() {
        let root = std::env::temp_dir().join(format!("reco-aws-dir-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let bucket = Bucket::local_dir(&root).unwrap();
        bucket
            .put(
                "models/v1/model.json",
                Bytes::from_static(b"{}"),
                "application/json",
            )
            .await
            .unwrap();
        assert!(root.join("models/v1/model.json").is_file());
        assert_eq!(
            bucket.list("models/").await.unwrap(),
            vec!["models/v1/model.json"]
        );
        assert!(bucket.location("models/v1/").ends_with("models/v1/"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
