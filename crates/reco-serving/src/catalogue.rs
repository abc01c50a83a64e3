//! The product catalogue as the serving side reads it: one JSON object in the data lake
//! ([`CATALOGUE_KEY`]), written by every ETL run, re-read only when its ETag changes.

use std::sync::Arc;

use bytes::Bytes;
use object_store::GetOptions;
use object_store::path::Path;
use reco_aws::{Bucket, StorageError};
use reco_domain::serving::{CATALOGUE_KEY, DocumentError, ProductCatalogue};
use tokio::sync::Mutex;

use crate::documents::storage_error;

/// The catalogue could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// There is none yet.
    #[error("no product catalogue at {location}/{CATALOGUE_KEY}: run the ETL first (`reco etl`)")]
    Missing {
        /// The bucket.
        location: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StorageError),
    /// Not a catalogue file.
    #[error("{location}/{CATALOGUE_KEY}: {source}")]
    Malformed {
        /// The bucket.
        location: String,
        /// What is wrong.
        #[source]
        source: DocumentError,
    },
}

/// Reads the catalogue once and again only when it changed (a conditional GET per refresh).
#[derive(Debug)]
pub struct CatalogueSource {
    lake: Bucket,
    location: String,
    cached: Mutex<Option<(Option<String>, Arc<ProductCatalogue>)>>,
}

impl CatalogueSource {
    /// The catalogue of the data lake `lake`.
    pub fn new(lake: Bucket) -> Self {
        Self {
            location: lake.location("").trim_end_matches('/').to_owned(),
            lake,
            cached: Mutex::new(None),
        }
    }

    /// The current catalogue: the cached one when the stored object has not changed.
    pub async fn current(&self) -> Result<Arc<ProductCatalogue>, CatalogueError> {
        let mut cached = self.cached.lock().await;
        let options = GetOptions {
            if_none_match: cached.as_ref().and_then(|(etag, _)| etag.clone()),
            ..Default::default()
        };
        let path = Path::from(CATALOGUE_KEY);
        let store_error = |source| storage_error("get", self.lake.location(CATALOGUE_KEY), source);
        let result = match self.lake.store().get_opts(&path, options).await {
            Ok(r) => r,
            Err(object_store::Error::NotModified { .. }) => {
                if let Some((_, catalogue)) = cached.as_ref() {
                    return Ok(catalogue.clone());
                }
                return Err(CatalogueError::Missing {
                    location: self.location.clone(),
                });
            }
            Err(object_store::Error::NotFound { .. }) => {
                return Err(CatalogueError::Missing {
                    location: self.location.clone(),
                });
            }
            Err(source) => return Err(store_error(source).into()),
        };
        let etag = result.meta.e_tag.clone();
        let bytes = result.bytes().await.map_err(store_error)?;
        let catalogue = Arc::new(ProductCatalogue::from_json_slice(&bytes).map_err(|source| {
            CatalogueError::Malformed {
                location: self.location.clone(),
                source,
            }
        })?);
        *cached = Some((etag, catalogue.clone()));
        Ok(catalogue)
    }
}

/// Writes `catalogue` at [`CATALOGUE_KEY`] of the data lake `lake` (what the ETL's last step
/// writes; tests and benchmarks use it).
pub async fn write_catalogue(
    lake: &Bucket,
    catalogue: &ProductCatalogue,
) -> Result<(), StorageError> {
    lake.put(
        CATALOGUE_KEY,
        Bytes::from(catalogue.to_json_vec()),
        "application/json",
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use reco_domain::serving::CatalogueProduct;

    fn product(code: &str, name: &str) -> CatalogueProduct {
        CatalogueProduct {
            product_code: code.into(),
            name: name.into(),
            product_line: "Planes".into(),
            msrp_cents: 100,
        }
    }

    #[tokio::test]
    async fn missing_then_read_then_refreshed_when_replaced() {
        let lake = Bucket::in_memory("lake");
        let source = CatalogueSource::new(lake.clone());
        let err = source.current().await.unwrap_err();
        assert!(err.to_string().contains("run the ETL first"), "{err}");

        write_catalogue(&lake, &ProductCatalogue::new([product("A", "one")]))
            .await
            .unwrap();
        let first = source.current().await.unwrap();
        assert_eq!(first.get("A").unwrap().name, "one");
        // Unchanged: the same cached value.
        assert!(Arc::ptr_eq(&first, &source.current().await.unwrap()));

        write_catalogue(&lake, &ProductCatalogue::new([product("A", "two")]))
            .await
            .unwrap();
        assert_eq!(
            source.current().await.unwrap().get("A").unwrap().name,
            "two"
        );
    }
}
