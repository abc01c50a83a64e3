//! Shared by the local Firehose's tests: a two-dimensional in-memory transform whose customer
//! vector says whether the customer is in France, over twelve items on a quarter circle.

use reco_domain::event::ClickEvent;
use reco_domain::transform::CustomerEmbedder;
use reco_firehose_local::DeliveryConfig;
use reco_testkit::fakes::{InMemoryIndex, InMemoryModels};
use reco_transform_lambda::ports::IndexVersion;
use reco_transform_lambda::{TransformOptions, Transformer};

/// Embeds a customer as (in France, not in France).
pub struct CountryEmbedder;

impl CustomerEmbedder for CountryEmbedder {
    fn model_version(&self) -> &str {
        "model-v1"
    }
    fn embed_customer(&self, event: &ClickEvent) -> Vec<f32> {
        let france = f32::from(u8::from(event.country.as_deref() == Some("France")));
        vec![france, 1.0 - france]
    }
}

/// The transform over twelve items `S10_0000`..`S10_0011`, `knn_k` items per list, with the
/// default output (one gzip member per record, no partition keys).
pub fn transformer(knn_k: usize) -> Transformer<InMemoryIndex, InMemoryModels<CountryEmbedder>> {
    transformer_with(knn_k, |options| options)
}

/// As [`transformer`], configured as the Lambda deployed for `config`'s stream
/// ([`DeliveryConfig::transform_options`]: partition keys when it partitions dynamically).
pub fn transformer_for(
    knn_k: usize,
    config: &DeliveryConfig,
) -> Transformer<InMemoryIndex, InMemoryModels<CountryEmbedder>> {
    transformer_with(knn_k, |options| config.transform_options(options))
}

/// As [`transformer`], with the options changed by `adapt`.
pub fn transformer_with(
    knn_k: usize,
    adapt: impl FnOnce(TransformOptions) -> TransformOptions,
) -> Transformer<InMemoryIndex, InMemoryModels<CountryEmbedder>> {
    let items = (0..12)
        .map(|i| {
            let angle = i as f32 / 12.0 * std::f32::consts::FRAC_PI_2;
            (format!("S10_{i:04}"), vec![angle.cos(), angle.sin()])
        })
        .collect();
    let index = InMemoryIndex::new(
        IndexVersion {
            model_version: "model-v1".into(),
            embedding_version: "emb-1".into(),
            dim: 2,
        },
        items,
    );
    let options = TransformOptions {
        knn_k,
        exact_knn_max_items: 0,
        model_version_pin: None,
        // A failing index fails the invocation within a fraction of a second (the Lambda's
        // in-handler retries would otherwise wait out the 120 s default on every attempt).
        invocation_timeout: std::time::Duration::from_millis(300),
        retry: reco_transform_lambda::RetryPolicy {
            first_ceiling: std::time::Duration::from_millis(1),
            max_ceiling: std::time::Duration::from_millis(20),
            response_margin: std::time::Duration::from_millis(20),
            cached_version_check: std::time::Duration::from_millis(20),
        },
        ..TransformOptions::default()
    };
    Transformer::new(
        index,
        InMemoryModels::new([(CountryEmbedder, 2)]),
        &adapt(options),
    )
}
