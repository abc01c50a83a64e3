//! The publisher Lambda's handler: SQS messages carrying S3 `ObjectCreated` notifications of
//! delivered batch objects; each object is published ([`crate::publisher`]). A message whose
//! objects fail is reported in `batchItemFailures`, so SQS redelivers it (and, after the
//! queue's `maxReceiveCount`, moves it to the dead-letter queue); the others are deleted.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use reco_aws::Bucket;
use serde::Deserialize;

use crate::catalogue::{CatalogueError, CatalogueSource};
use crate::documents::DocumentStore;
use crate::publisher::{PublishReport, publish_object};
use reco_domain::serving::ProductCatalogue;

/// What the handler needs: the recommendations bucket and the catalogue.
#[derive(Debug)]
pub struct Publisher {
    /// The recommendations bucket (delivered objects and latest documents).
    pub recs: Bucket,
    /// Its latest documents.
    pub documents: DocumentStore,
    /// The product catalogue.
    pub catalogue: CatalogueSource,
}

#[derive(Debug, Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<NotificationRecord>,
}

#[derive(Debug, Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: NotificationEntity,
}

#[derive(Debug, Deserialize)]
struct NotificationEntity {
    bucket: NotificationBucket,
    object: NotificationObject,
}

#[derive(Debug, Deserialize)]
struct NotificationBucket {
    name: String,
}

#[derive(Debug, Deserialize)]
struct NotificationObject {
    key: String,
}

/// An object named by a notification: keys arrive form-encoded (`=` as `%3D`, space as `+`).
pub fn decode_key(key: &str) -> String {
    let spaced = key.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The `(bucket, key)` of every created object a message body names; an S3 test event (sent
/// once when the notification is configured) names none.
pub fn created_objects(body: &str) -> Result<Vec<(String, String)>, serde_json::Error> {
    let notification: Notification = serde_json::from_str(body)?;
    Ok(notification
        .records
        .into_iter()
        .filter(|r| r.event_name.starts_with("ObjectCreated:"))
        .map(|r| (r.s3.bucket.name, decode_key(&r.s3.object.key)))
        .collect())
}

impl Publisher {
    /// The publisher of delivered objects in `recs`, with the product catalogue of the data
    /// lake `lake`.
    pub fn new(recs: Bucket, lake: Bucket) -> Self {
        Self {
            documents: DocumentStore::new(recs.clone()),
            recs,
            catalogue: CatalogueSource::new(lake),
        }
    }

    /// Publishes one delivered object of the recommendations bucket.
    pub async fn publish_key(
        &self,
        key: &str,
        catalogue: &ProductCatalogue,
    ) -> Result<PublishReport, String> {
        let body = self.recs.get(key).await.map_err(|e| e.to_string())?;
        publish_object(key, &body, catalogue, &self.documents)
            .await
            .map_err(|e| e.to_string())
    }

    /// The catalogue, or an empty one (documents then carry codes without display fields:
    /// recommendations are still served, and the warning says what to fix).
    pub async fn catalogue(&self) -> Arc<ProductCatalogue> {
        match self.catalogue.current().await {
            Ok(c) => c,
            Err(error @ CatalogueError::Missing { .. }) => {
                tracing::warn!(%error, "publishing without display fields");
                Arc::new(ProductCatalogue::default())
            }
            Err(error) => {
                tracing::warn!(%error, "product catalogue unreadable; publishing without display fields");
                Arc::new(ProductCatalogue::default())
            }
        }
    }

    /// Handles one SQS batch: failed messages are listed for redelivery.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_with_report(event).await.0
    }

    /// As [`Publisher::handle`], with what publishing the batch's objects did (summed over
    /// the objects; [`PublishReport::metrics`] gives the invocation's metrics).
    pub async fn handle_with_report(&self, event: SqsEvent) -> (SqsBatchResponse, PublishReport) {
        let catalogue = self.catalogue().await;
        let mut response = SqsBatchResponse::default();
        let mut total = PublishReport::default();
        for message in event.records {
            let id = message.message_id.clone().unwrap_or_default();
            let outcome = async {
                let objects = created_objects(message.body.as_deref().unwrap_or_default())
                    .map_err(|e| format!("message is not an S3 notification: {e}"))?;
                for (bucket, key) in objects {
                    if bucket != self.recs.name() {
                        return Err(format!(
                            "notification for bucket {bucket}, but this publisher serves {}",
                            self.recs.name()
                        ));
                    }
                    total.add(&self.publish_key(&key, &catalogue).await?);
                }
                Ok::<(), String>(())
            }
            .await;
            if let Err(error) = outcome {
                tracing::error!(message_id = %id, %error, "message not published; SQS will redeliver it");
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id;
                response.batch_item_failures.push(failure);
            }
        }
        tracing::info!(
            records = total.records,
            malformed = total.malformed,
            customers = total.customers,
            written = total.written,
            kept = total.kept,
            max_freshness_ms = total.max_freshness_ms,
            failed_messages = response.batch_item_failures.len(),
            "published"
        );
        (response, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reco_domain::serving::customer_document_key;

    const RECORD: &str = r#"{"session_id":"s","customer_number":42,"browsed_items":["S1"],"recommended_items":[{"id":"P1","score":0.5}],"similar_items":[],"recommendation_id":"r","model_version":"m","embedding_version":"e","generated_at":"2026-12-02T10:00:00.000Z"}"#;

    fn notification(bucket: &str, key: &str) -> String {
        serde_json::json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}
        }]})
        .to_string()
    }

    fn message(id: &str, body: &str) -> serde_json::Value {
        serde_json::json!({"messageId": id, "body": body, "attributes": {}, "messageAttributes": {}})
    }

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(
            decode_key("recommendations/dt%3D2026-12-02/hour%3D10/a+b.ndjson"),
            "recommendations/dt=2026-12-02/hour=10/a b.ndjson"
        );
        assert!(
            created_objects(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#)
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn publishes_notified_objects_and_reports_only_the_failed_messages() {
        let recs = Bucket::in_memory("recs");
        let key = "recommendations/dt=2026-12-02/hour=10/batch-1.ndjson";
        recs.put(
            key,
            format!("{RECORD}\n").into_bytes().into(),
            "application/x-ndjson",
        )
        .await
        .unwrap();
        let publisher = Publisher::new(recs, Bucket::in_memory("lake"));
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            message("ok", &notification("recs", "recommendations/dt%3D2026-12-02/hour%3D10/batch-1.ndjson")),
            message("missing", &notification("recs", "recommendations/nope.ndjson")),
            message("garbage", "not json"),
            message("test-event", r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#),
        ]}))
        .unwrap();
        let (response, report) = publisher.handle_with_report(event).await;
        assert_eq!((report.records, report.written), (1, 1));
        assert!(
            report.max_freshness_ms.is_some(),
            "the document written is measured"
        );
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["missing", "garbage"]);
        let doc = publisher
            .documents
            .get(&customer_document_key(42))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(doc.recommended[0].product_code, "P1");
        assert_eq!(doc.recommended[0].name, None);
    }
}
