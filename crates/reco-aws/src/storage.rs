//! The object-store seam: one [`ObjectStore`] per bucket, built from reco's settings, with
//! conditional puts (`If-None-Match` / `If-Match`) that newest-wins writers need. The same
//! trait has an in-memory backend ([`object_store::memory::InMemory`]) for unit tests.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, S3ConditionalPut};
use reco_domain::Settings;
use reco_domain::settings::var;

pub use object_store::path::Path as ObjectPath;

/// A bucket could not be opened as an object store.
#[derive(Debug, thiserror::Error)]
#[error("cannot open s3://{bucket}: {reason}")]
pub struct OpenStoreError {
    /// The bucket.
    pub bucket: String,
    /// Why.
    pub reason: String,
}

/// An object store over `bucket`: the emulator when `AWS_ENDPOINT_URL` is set (path-style,
/// plain HTTP allowed), otherwise S3 in `AWS_REGION` with the static keys of the settings or,
/// without them, the environment's credential chain (Lambda, ECS, instance profile).
pub fn bucket_store(
    settings: &Settings,
    bucket: &str,
) -> Result<Arc<dyn ObjectStore>, OpenStoreError> {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_conditional_put(S3ConditionalPut::ETagMatch);
    if let Some(region) = settings.get(var::AWS_REGION) {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = settings.get(var::AWS_ENDPOINT_URL) {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    if let (Some(key), Some(secret)) = (
        settings.get(var::AWS_ACCESS_KEY_ID),
        settings.get(var::AWS_SECRET_ACCESS_KEY),
    ) {
        builder = builder
            .with_access_key_id(key)
            .with_secret_access_key(secret);
        if let Some(token) = settings.get(var::AWS_SESSION_TOKEN) {
            builder = builder.with_token(token);
        }
    }
    let store = builder.build().map_err(|e| OpenStoreError {
        bucket: bucket.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(Arc::new(store))
}
