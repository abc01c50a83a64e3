//! The publisher Lambda: S3 notifications of delivered batches (through SQS) -> the latest
//! document of every customer in them. `main` only sets up tracing, configuration and stores.

use reco_domain::Settings;
use reco_domain::settings::var;
use reco_serving::catalogue::CatalogueSource;
use reco_serving::documents::DocumentStore;
use reco_serving::lambda::Publisher;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::load()?;
    let bucket = settings.require(var::RECO_RECS_BUCKET)?.to_owned();
    let lake = settings.require(var::RECO_DATA_LAKE_BUCKET)?.to_owned();
    let objects = reco_aws::storage::bucket_store(&settings, &bucket)?;
    let publisher = Publisher {
        documents: DocumentStore::new(objects.clone(), format!("s3://{bucket}")),
        objects,
        catalogue: CatalogueSource::new(
            reco_aws::storage::bucket_store(&settings, &lake)?,
            format!("s3://{lake}"),
        ),
        bucket,
    };
    let publisher = &publisher;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(publisher.handle(event.payload).await)
        },
    ))
    .await
}
