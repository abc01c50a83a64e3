//! Object storage behind a small trait: S3 (real or the emulator) and a local folder.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;

/// A failed storage operation, naming the object.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {location}: {reason}")]
pub struct StoreError {
    /// `get`, `put` or `list`.
    pub operation: &'static str,
    /// `s3://bucket/key` or a path.
    pub location: String,
    /// The underlying error, rendered.
    pub reason: String,
}

/// Boxed future of a store call.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Keys and bytes: what the trainer needs from S3.
pub trait ObjectStore: Send + Sync {
    /// The object's bytes, `None` when it does not exist.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>>;
    /// Writes (replaces) an object.
    fn put<'a>(&'a self, key: &'a str, body: Bytes, content_type: &'a str) -> StoreFuture<'a, ()>;
    /// Keys under `prefix`, sorted.
    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>>;
    /// `s3://bucket/key` or the path of `key`, for messages.
    fn location(&self, key: &str) -> String;
}

/// An S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    /// The store of `bucket`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

fn error(operation: &'static str, location: String, e: impl std::fmt::Display) -> StoreError {
    StoreError {
        operation,
        location,
        reason: e.to_string(),
    }
}

impl ObjectStore for S3Store {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            let result = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await;
            match result {
                Ok(out) => {
                    let body = out
                        .body
                        .collect()
                        .await
                        .map_err(|e| error("get", self.location(key), e))?;
                    Ok(Some(body.into_bytes()))
                }
                Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
                Err(e) => Err(error(
                    "get",
                    self.location(key),
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )),
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, body: Bytes, content_type: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .content_type(content_type)
                .body(body.into())
                .send()
                .await
                .map_err(|e| {
                    error(
                        "put",
                        self.location(key),
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
            Ok(())
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut keys = Vec::new();
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    error(
                        "list",
                        self.location(prefix),
                        aws_sdk_s3::error::DisplayErrorContext(e),
                    )
                })?;
                keys.extend(
                    page.contents()
                        .iter()
                        .filter_map(|o| o.key().map(str::to_owned)),
                );
            }
            keys.sort();
            Ok(keys)
        })
    }

    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

/// A local folder standing in for a bucket (keys are relative paths).
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// The store rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

impl ObjectStore for DirStore {
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            match std::fs::read(self.root.join(key)) {
                Ok(b) => Ok(Some(Bytes::from(b))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(error("get", self.location(key), e)),
            }
        })
    }

    fn put<'a>(&'a self, key: &'a str, body: Bytes, _: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let path = self.root.join(key);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| error("put", self.location(key), e))?;
            }
            // Write then rename, so a reader never sees half a file.
            let tmp = path.with_extension("partial");
            std::fs::write(&tmp, &body).map_err(|e| error("put", self.location(key), e))?;
            std::fs::rename(&tmp, &path).map_err(|e| error("put", self.location(key), e))
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<String>> {
        Box::pin(async move {
            let mut keys = Vec::new();
            let mut stack = vec![self.root.clone()];
            while let Some(dir) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&dir) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if let Ok(rel) = path.strip_prefix(&self.root) {
                        let key = rel.to_string_lossy().replace('\\', "/");
                        if key.starts_with(prefix) {
                            keys.push(key);
                        }
                    }
                }
            }
            keys.sort();
            Ok(keys)
        })
    }

    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}
