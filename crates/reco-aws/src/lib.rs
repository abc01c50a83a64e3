//! AWS client construction shared by reco's binaries.
//!
//! The same code runs against real AWS and against the local emulator: when the settings
//! carry `AWS_ENDPOINT_URL`, every client is pointed there (and S3 uses path-style
//! addressing, which the emulator needs); otherwise the SDK's default chain applies.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use reco_domain::Settings;
use reco_domain::settings::var;

/// Shared SDK configuration built from reco's settings (region, endpoint, static keys).
pub async fn sdk_config(settings: &Settings) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = settings.get(var::AWS_REGION) {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(endpoint) = settings.get(var::AWS_ENDPOINT_URL) {
        loader = loader.endpoint_url(endpoint);
    }
    if let (Some(key), Some(secret)) = (
        settings.get(var::AWS_ACCESS_KEY_ID),
        settings.get(var::AWS_SECRET_ACCESS_KEY),
    ) {
        let token = settings.get(var::AWS_SESSION_TOKEN).map(str::to_owned);
        loader = loader.credentials_provider(Credentials::new(
            key,
            secret,
            token,
            None,
            "reco-settings",
        ));
    }
    loader.load().await
}

/// An S3 client for `config`; path-style addressing when an explicit endpoint is set.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(config.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

pub mod storage;
