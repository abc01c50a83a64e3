//! The data lake as the ETL sees it: a small object-store capability (put, get, list,
//! delete) with an S3 adapter. Tests wrap it to inject failures.

use std::future::Future;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;

/// Keys per DeleteObjects call (the S3 API limit).
const DELETE_BATCH: usize = 1000;

/// An object-store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} s3://{bucket}/{key} failed: {reason}")]
pub struct StoreError {
    /// The operation (`put`, `get`, `list`, `delete`).
    pub operation: &'static str,
    /// The bucket.
    pub bucket: String,
    /// The key or prefix.
    pub key: String,
    /// The service's message.
    pub reason: String,
}

/// What the ETL needs from the data lake's object store.
pub trait DataLakeStore: Send + Sync + 'static {
    /// The bucket's name (for locations and messages).
    fn bucket(&self) -> &str;
    /// Writes `body` at `key`, replacing any object there.
    fn put(&self, key: &str, body: Bytes) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The object at `key`, or `None` when there is none.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send;
    /// Every key under `prefix`.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    /// Deletes `keys` (missing keys are not an error).
    fn delete(&self, keys: &[String]) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The data lake on S3 (or the emulator).
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    /// A store on `bucket` through `client`.
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    fn error(
        &self,
        operation: &'static str,
        key: &str,
        reason: impl std::fmt::Display,
    ) -> StoreError {
        StoreError {
            operation,
            bucket: self.bucket.clone(),
            key: key.to_owned(),
            reason: reason.to_string(),
        }
    }
}

impl DataLakeStore for S3Store {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn put(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("put", key, DisplayErrorContext(e)))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => {
                let body = output
                    .body
                    .collect()
                    .await
                    .map_err(|e| self.error("get", key, e))?;
                Ok(Some(body.into_bytes()))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(self.error("get", key, DisplayErrorContext(e))),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error("list", prefix, DisplayErrorContext(e)))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
        }
        Ok(keys)
    }

    async fn delete(&self, keys: &[String]) -> Result<(), StoreError> {
        for chunk in keys.chunks(DELETE_BATCH) {
            let objects = chunk
                .iter()
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.error("delete", &chunk[0], e))?;
            let delete = Delete::builder()
                .set_objects(Some(objects))
                .quiet(true)
                .build()
                .map_err(|e| self.error("delete", &chunk[0], e))?;
            let output = self
                .client
                .delete_objects()
                .bucket(&self.bucket)
                .delete(delete)
                .send()
                .await
                .map_err(|e| self.error("delete", &chunk[0], DisplayErrorContext(e)))?;
            if let Some(failed) = output.errors().first() {
                return Err(self.error(
                    "delete",
                    failed.key().unwrap_or_default(),
                    failed.message().unwrap_or("refused"),
                ));
            }
        }
        Ok(())
    }
}
