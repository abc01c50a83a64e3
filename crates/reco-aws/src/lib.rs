//! reco's AWS seam: SDK configuration and the object-store seam, built from typed settings.
//!
//! The same code runs against real AWS and against the local emulator: when
//! [`AwsArgs::endpoint_url`] is set (`AWS_ENDPOINT_URL`), every client is pointed there (and S3
//! uses path-style addressing, which the emulator needs); otherwise the SDK's default chain
//! applies (Lambda role, profile, instance metadata).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
pub use reco_config::AwsArgs;

pub mod emf;
pub mod experiments;
#[cfg(feature = "glue")]
pub mod glue;
pub mod storage;

pub use storage::{Bucket, ObjectPath, StorageError};

/// Shared SDK configuration (region, endpoint, static keys) for every AWS client.
pub async fn sdk_config(aws: &AwsArgs) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = aws.region.as_deref().filter(|r| !r.is_empty()) {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(endpoint) = aws.endpoint() {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some((key, secret, token)) = aws.static_keys() {
        loader = loader.credentials_provider(Credentials::new(
            key,
            secret,
            token.map(str::to_owned),
            None,
            "reco-settings",
        ));
    }
    loader.load().await
}
