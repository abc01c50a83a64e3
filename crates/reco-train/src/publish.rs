//! Publishing a model version: its files (embeddings as CSV and Parquet, `model.json` and its
//! compact binary copy `model.bin`, `metrics.json`) under `<model prefix><version>/`, then
//! `LATEST` last and only when the quality gate passed, so a reader never follows `LATEST` to
//! a half-written version. Just before `LATEST` moves, the version's `model.bin` is copied to
//! `<model prefix>LATEST.model.bin` ([`live_model_bin`]), what a transform Lambda's cold start
//! reads in one GET.
//!
//! Every catalogue product gets an item embedding: the snapshot's products and the products
//! of the data lake's catalogue ([`read_catalogue`]) that nobody rated. A product without an
//! interaction has no learned id part, so its embedding is the item tower's feature part
//! alone; the item files flag it `cold` ([`reco_domain::artifacts::COLD_COLUMN`]).
//!
//! Encoding is synchronous and tested without storage; [`publish`] only writes.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, FixedSizeListArray, Float32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use reco_aws::Bucket;
use reco_domain::artifacts::{
    COLD_COLUMN, ITEM_EMBEDDINGS_CSV, ITEM_EMBEDDINGS_CSV_HEADER, ITEM_EMBEDDINGS_PARQUET,
    METRICS_FILE, MODEL_BIN_FILE, MODEL_FILE, ModelPrefix, USER_EMBEDDINGS_CSV,
    USER_EMBEDDINGS_PARQUET,
};
use reco_domain::model::{self, CustomerFeatures, ModelArtifact, ProductFeatures};
use reco_domain::serving::{CATALOGUE_KEY, ProductCatalogue};

use crate::TrainError;
use crate::metrics::Metrics;
use crate::snapshot::SnapshotRow;

/// Content type of the CSV files.
const CSV: &str = "text/csv";
/// Content type of the Parquet files.
const PARQUET: &str = "application/vnd.apache.parquet";
/// Content type of `model.json` and `metrics.json`.
const JSON: &str = "application/json";
/// Content type of `model.bin`.
const BINARY: &str = "application/octet-stream";

/// One file of a model version, encoded.
#[derive(Debug, Clone)]
pub struct VersionFile {
    /// File name inside the version folder (`reco_domain::artifacts`).
    pub name: &'static str,
    /// The bytes.
    pub body: Bytes,
    /// Its content type.
    pub content_type: &'static str,
}

/// `id,embedding` CSV with pgvector literals, always quoted (`S10_1678,"[0.1,-0.2]"`): what
/// `sql/embeddings.sql` imports and the vector-store loader reads.
pub fn embeddings_csv(rows: &[(String, Vec<f32>)]) -> Bytes {
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::with_capacity(rows.len() * 64));
    let written = (|| -> csv::Result<Vec<u8>> {
        writer.write_record(["id", "embedding"])?;
        for (id, embedding) in rows {
            // A pgvector literal of two or more values holds a comma, so the writer quotes it;
            // every embedding has at least two (D = factors + 1, factors >= 1).
            writer.write_record([id.as_str(), &model::pgvector_literal(embedding)])?;
        }
        writer.into_inner().map_err(|e| e.into_error().into())
    })();
    Bytes::from(written.expect("writing CSV to memory cannot fail"))
}

/// One row of the item embeddings files.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemEmbedding {
    /// Product code.
    pub id: String,
    /// The embedding (`ModelArtifact::embed_product`).
    pub embedding: Vec<f32>,
    /// No interaction in the training data: embedded from catalogue features alone.
    pub cold: bool,
}

/// `id,embedding,cold` CSV of items (`cold` is `true` or `false`), quoted as
/// [`embeddings_csv`].
pub fn item_embeddings_csv(items: &[ItemEmbedding]) -> Bytes {
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(Vec::with_capacity(items.len() * 64));
    let written = (|| -> csv::Result<Vec<u8>> {
        writer.write_record(ITEM_EMBEDDINGS_CSV_HEADER.split(','))?;
        for item in items {
            let cold = if item.cold { "true" } else { "false" };
            writer.write_record([
                item.id.as_str(),
                &model::pgvector_literal(&item.embedding),
                cold,
            ])?;
        }
        writer.into_inner().map_err(|e| e.into_error().into())
    })();
    Bytes::from(written.expect("writing CSV to memory cannot fail"))
}

/// Parquet with `id` (Int64 for users, Utf8 for items) and `embedding` (FixedSizeList<Float32>).
pub fn embeddings_parquet(ids: ArrayRef, embeddings: &[Vec<f32>], dim: usize) -> Bytes {
    parquet_file(ids, embeddings, dim, None)
}

/// Item Parquet: `id` (Utf8), `embedding` (FixedSizeList<Float32>) and `cold` (Boolean).
pub fn item_embeddings_parquet(items: &[ItemEmbedding], dim: usize) -> Bytes {
    let ids: ArrayRef = Arc::new(StringArray::from_iter_values(
        items.iter().map(|i| i.id.as_str()),
    ));
    let embeddings: Vec<Vec<f32>> = items.iter().map(|i| i.embedding.clone()).collect();
    let cold = BooleanArray::from(items.iter().map(|i| i.cold).collect::<Vec<bool>>());
    parquet_file(ids, &embeddings, dim, Some(Arc::new(cold)))
}

fn parquet_file(
    ids: ArrayRef,
    embeddings: &[Vec<f32>],
    dim: usize,
    cold: Option<ArrayRef>,
) -> Bytes {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let values = Float32Array::from_iter_values(embeddings.iter().flatten().copied());
    let list = FixedSizeListArray::new(item.clone(), dim as i32, Arc::new(values), None);
    let mut fields = vec![
        Field::new("id", ids.data_type().clone(), false),
        Field::new(
            "embedding",
            DataType::FixedSizeList(item, dim as i32),
            false,
        ),
    ];
    let mut columns: Vec<ArrayRef> = vec![ids, Arc::new(list)];
    if let Some(cold) = cold {
        fields.push(Field::new(COLD_COLUMN, DataType::Boolean, false));
        columns.push(cold);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema");
    let mut buffer = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buffer, schema, None).expect("in-memory writer");
    writer.write(&batch).expect("in-memory write");
    writer.close().expect("in-memory close");
    Bytes::from(buffer)
}

/// Embeds every known customer with `embed_customer` (what the Lambda computes), by number.
pub fn user_embeddings(artifact: &ModelArtifact, rows: &[SnapshotRow]) -> Vec<(i64, Vec<f32>)> {
    let mut first: BTreeMap<i64, &SnapshotRow> = BTreeMap::new();
    for r in rows {
        first.entry(r.customer_number).or_insert(r);
    }
    first
        .into_values()
        .map(|r| {
            let features = CustomerFeatures {
                customer_number: Some(r.customer_number),
                city: r.city.clone(),
                country: r.country.clone(),
                credit_limit: r.credit_limit,
            };
            (r.customer_number, artifact.embed_customer(&features))
        })
        .collect()
}

/// Embeds every product of the snapshot with `embed_product`, by code.
pub fn item_embeddings(artifact: &ModelArtifact, rows: &[SnapshotRow]) -> Vec<(String, Vec<f32>)> {
    catalogue_item_embeddings(artifact, rows, &[])
        .into_iter()
        .map(|i| (i.id, i.embedding))
        .collect()
}

/// Embeds every product of the snapshot and of `catalogue` with `embed_product`, by code: a
/// snapshot product with its snapshot features, a catalogue-only product with its catalogue
/// features. `cold` is set for every product the item tower has no id part for (no
/// interaction: never rated, or only rated at or below neutral).
pub fn catalogue_item_embeddings(
    artifact: &ModelArtifact,
    rows: &[SnapshotRow],
    catalogue: &[ProductFeatures],
) -> Vec<ItemEmbedding> {
    let mut products: BTreeMap<String, ProductFeatures> = BTreeMap::new();
    for r in rows {
        products
            .entry(r.product_code.clone())
            .or_insert_with(|| ProductFeatures {
                product_code: Some(r.product_code.clone()),
                product_line: r.product_line.clone(),
                product_scale: r.product_scale.clone(),
                quantity_in_stock: r.quantity_in_stock,
                buy_price: r.buy_price,
                msrp: r.msrp,
            });
    }
    for p in catalogue {
        if let Some(code) = p.product_code.as_deref().filter(|c| !c.is_empty()) {
            products.entry(code.to_owned()).or_insert_with(|| p.clone());
        }
    }
    products
        .into_iter()
        .map(|(id, features)| ItemEmbedding {
            cold: !artifact.item_tower.knows(&id),
            embedding: artifact.embed_product(&features),
            id,
        })
        .collect()
}

/// The products of the data lake's catalogue ([`CATALOGUE_KEY`], written by every ETL run
/// from the whole `products` table) with the features it holds (product line and MSRP);
/// empty, with a warning, when the lake has no catalogue yet.
pub async fn read_catalogue(lake: &Bucket) -> Result<Vec<ProductFeatures>, TrainError> {
    let Some(body) = lake.get_opt(CATALOGUE_KEY).await? else {
        tracing::warn!(
            catalogue = %lake.location(CATALOGUE_KEY),
            "no product catalogue: only the snapshot's products get item embeddings"
        );
        return Ok(Vec::new());
    };
    let catalogue =
        ProductCatalogue::from_json_slice(&body).map_err(|e| TrainError::Malformed {
            source_name: lake.location(CATALOGUE_KEY),
            line: 0,
            reason: e.to_string(),
        })?;
    let mut products: Vec<ProductFeatures> = catalogue
        .products()
        .map(|p| ProductFeatures {
            product_code: Some(p.product_code.clone()),
            product_line: Some(p.product_line.clone()),
            msrp: Some(p.msrp_cents as f64 / 100.0),
            ..ProductFeatures::default()
        })
        .collect();
    products.sort_by(|a, b| a.product_code.cmp(&b.product_code));
    Ok(products)
}

/// The model files of a version from the snapshot's products alone
/// ([`model_files_with_catalogue`] with an empty catalogue).
pub fn model_files(
    artifact: &ModelArtifact,
    rows: &[SnapshotRow],
) -> Result<Vec<VersionFile>, TrainError> {
    model_files_with_catalogue(artifact, rows, &[])
}

/// The model files of a version, in publication order: item and user embeddings as CSV, then
/// as Parquet, then `model.bin` (the towers only,
/// [`ModelArtifact::without_id_parts`]) and `model.json` (CPU work: run it on a blocking thread in
/// async code). Items are the snapshot's products and `catalogue`'s
/// ([`catalogue_item_embeddings`]).
pub fn model_files_with_catalogue(
    artifact: &ModelArtifact,
    rows: &[SnapshotRow],
    catalogue: &[ProductFeatures],
) -> Result<Vec<VersionFile>, TrainError> {
    let users = user_embeddings(artifact, rows);
    let items = catalogue_item_embeddings(artifact, rows, catalogue);
    let dim = artifact.dim;
    let user_ids: ArrayRef = Arc::new(Int64Array::from_iter_values(users.iter().map(|u| u.0)));
    let item_parquet = item_embeddings_parquet(&items, dim);
    let users_text: Vec<(String, Vec<f32>)> = users
        .into_iter()
        .map(|(id, e)| (id.to_string(), e))
        .collect();
    let user_vectors: Vec<Vec<f32>> = users_text.iter().map(|u| u.1.clone()).collect();
    let file = |name, body, content_type| VersionFile {
        name,
        body,
        content_type,
    };
    Ok(vec![
        file(ITEM_EMBEDDINGS_CSV, item_embeddings_csv(&items), CSV),
        file(USER_EMBEDDINGS_CSV, embeddings_csv(&users_text), CSV),
        file(ITEM_EMBEDDINGS_PARQUET, item_parquet, PARQUET),
        file(
            USER_EMBEDDINGS_PARQUET,
            embeddings_parquet(user_ids, &user_vectors, dim),
            PARQUET,
        ),
        file(
            MODEL_BIN_FILE,
            Bytes::from(artifact.without_id_parts().to_bin_vec()?),
            BINARY,
        ),
        file(MODEL_FILE, Bytes::from(artifact.to_json_vec()?), JSON),
    ])
}

/// `metrics.json` of a version.
pub fn metrics_file(metrics: &Metrics) -> VersionFile {
    VersionFile {
        name: METRICS_FILE,
        body: Bytes::from(serde_json::to_vec_pretty(metrics).expect("metrics serialise")),
        content_type: JSON,
    }
}

/// Writes `files` under `prefix`/`version`/ in order, then, when `move_latest`, the live copy
/// of the version's model ([`live_model_bin`], from its `model.bin` or `model.json` among
/// `files`) and `LATEST` (holding `version`). Returns the keys written, `LATEST` last when
/// written.
pub async fn publish(
    artifacts: &Bucket,
    prefix: &ModelPrefix,
    version: &str,
    files: Vec<VersionFile>,
    move_latest: bool,
) -> Result<Vec<String>, TrainError> {
    let body_of = |name: &str| {
        files
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.body.clone())
    };
    // Checked before anything is written: a version that cannot go live is not half-published.
    let live_copy = if move_latest {
        Some(live_model_bin(version, body_of(MODEL_BIN_FILE), body_of(MODEL_FILE)).await?)
    } else {
        None
    };
    let mut keys = Vec::with_capacity(files.len() + 2);
    for file in files {
        let key = prefix.key(version, file.name);
        artifacts.put(&key, file.body, file.content_type).await?;
        keys.push(key);
    }
    if let Some(copy) = live_copy {
        keys.extend(move_latest_to(artifacts, prefix, version, copy).await?);
    }
    Ok(keys)
}

/// The bytes of `LATEST.model.bin` for `version`: its `model.bin` when that reads as
/// `version`'s model, else one encoded from its `model.json` (a version published before the
/// binary copy, or whose copy is damaged); [`TrainError::NotPromotable`] when neither does.
/// Decoding and encoding run on a blocking thread.
pub async fn live_model_bin(
    version: &str,
    bin: Option<Bytes>,
    json: Option<Bytes>,
) -> Result<Bytes, TrainError> {
    let name = version.to_owned();
    crate::on_blocking_thread(move || {
        let named = |model: &ModelArtifact| model.model_version() == name;
        if let Some(bin) = bin
            && ModelArtifact::from_bin_slice(&bin).is_ok_and(|m| named(&m))
        {
            return Ok(bin);
        }
        let refuse = |reason: String| TrainError::NotPromotable {
            version: name.clone(),
            reason,
        };
        let json = json
            .ok_or_else(|| refuse(format!("no readable {MODEL_BIN_FILE} and no {MODEL_FILE}")))?;
        let model = ModelArtifact::from_json_slice(&json)
            .map_err(|e| refuse(format!("{MODEL_FILE} is invalid: {e}")))?;
        if !named(&model) {
            return Err(refuse(format!(
                "{MODEL_FILE} is model {}",
                model.model_version()
            )));
        }
        Ok(Bytes::from(model.without_id_parts().to_bin_vec()?))
    })
    .await
}

/// Writes `LATEST.model.bin` (`copy`, [`live_model_bin`]) then `LATEST` naming `version`;
/// returns both keys. The copy goes first so that once `LATEST` names a version, the copy is
/// that version's (a reader checks the version the copy names anyway: a failed move can leave
/// the copy a version ahead of `LATEST`).
async fn move_latest_to(
    artifacts: &Bucket,
    prefix: &ModelPrefix,
    version: &str,
    copy: Bytes,
) -> Result<[String; 2], TrainError> {
    let copy_key = prefix.latest_model_bin_key();
    artifacts.put(&copy_key, copy, BINARY).await?;
    let latest_key = prefix.latest_key();
    artifacts
        .put(&latest_key, Bytes::from(version.to_owned()), "text/plain")
        .await?;
    Ok([copy_key, latest_key])
}

/// Makes `version` the live one: checks that its `model.json` exists and that its
/// `metrics.json` records a passed quality gate, then writes the live copy of its model
/// ([`live_model_bin`]) and `LATEST`. Returns the version `LATEST` named before (`None` for
/// the first). Writing the same version again is a no-op in effect, so a retried run is safe.
pub async fn promote(
    artifacts: &Bucket,
    prefix: &ModelPrefix,
    version: &str,
) -> Result<Option<String>, TrainError> {
    let refuse = |reason: String| TrainError::NotPromotable {
        version: version.to_owned(),
        reason,
    };
    if version.is_empty() || version.contains('/') || version.trim() != version {
        return Err(refuse("not a version name".to_owned()));
    }
    let model_key = prefix.key(version, MODEL_FILE);
    let Some(model_json) = artifacts.get_opt(&model_key).await? else {
        return Err(refuse(format!(
            "{} does not exist",
            artifacts.location(&model_key)
        )));
    };
    let metrics_key = prefix.key(version, METRICS_FILE);
    let body = artifacts.get_opt(&metrics_key).await?.ok_or_else(|| {
        refuse(format!(
            "{} does not exist",
            artifacts.location(&metrics_key)
        ))
    })?;
    let metrics: Metrics = serde_json::from_slice(&body).map_err(|e| {
        refuse(format!(
            "{} is unreadable: {e}",
            artifacts.location(&metrics_key)
        ))
    })?;
    if !metrics.gate.passed {
        return Err(refuse(format!(
            "the quality gate refused it ({})",
            metrics.gate.reason
        )));
    }
    let model_bin = artifacts
        .get_opt(&prefix.key(version, MODEL_BIN_FILE))
        .await?;
    let copy = live_model_bin(version, model_bin, Some(model_json)).await?;
    let previous = artifacts
        .get_opt(&prefix.latest_key())
        .await?
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned());
    move_latest_to(artifacts, prefix, version, copy).await?;
    Ok(previous)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot;
    use crate::towers::{self, TrainConfig};

    const LINES: [&str; 2] = ["Classic Cars", "Ships"];

    /// Customers of country `c % 2` rate line `c % 2` high (5) and the other line low (1);
    /// product `p` is of line `p % 2`. Product 23 is rated by nobody above neutral.
    fn rows() -> Vec<SnapshotRow> {
        let mut rows = Vec::new();
        for c in 0..30i64 {
            for k in 0..10i64 {
                let p = (c * 7 + k * 5) % 23;
                let line = (p % 2) as usize;
                rows.push(SnapshotRow {
                    customer_number: 100 + c,
                    city: Some(format!("City{}", c % 4)),
                    country: Some(["France", "USA"][(c % 2) as usize].to_owned()),
                    credit_limit: Some(10_000.0 + c as f64 * 500.0),
                    product_code: format!("S{line}_{p:04}"),
                    product_line: Some(LINES[line].to_owned()),
                    product_scale: Some("1:18".to_owned()),
                    quantity_in_stock: Some(1_000.0 + p as f64),
                    buy_price: Some(20.0 + p as f64),
                    msrp: Some(40.0 + 2.0 * p as f64),
                    rating: if line as i64 == c % 2 { 5.0 } else { 1.0 },
                });
            }
        }
        // Product 23 (line 1) appears only with a rating at or below neutral.
        let mut low = rows[0].clone();
        low.product_code = "S1_0023".to_owned();
        low.product_line = Some(LINES[1].to_owned());
        low.rating = 2.0;
        rows.push(low);
        rows
    }

    fn trained(rows: &[SnapshotRow]) -> ModelArtifact {
        let data = snapshot::training_data(rows, "test").unwrap();
        let mut config = TrainConfig::default();
        config.als.factors = 8;
        config.als.iterations = 8;
        towers::fit(&data, &config, "v1", "2026-01-01T00:00:00Z", |_, _| {})
    }

    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
        let norm = |v: &[f32]| v.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
        dot / (norm(a) * norm(b))
    }

    #[test]
    fn model_bin_is_published_before_model_json_and_holds_its_towers_only() {
        let rows = rows();
        let artifact = trained(&rows);
        let files = model_files(&artifact, &rows).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name).collect();
        let at = |name| names.iter().position(|&n| n == name).unwrap();
        assert_eq!(at(MODEL_BIN_FILE) + 1, at(MODEL_FILE), "{names:?}");
        let body = |name| &files[at(name)].body;
        let from_bin = ModelArtifact::from_bin_slice(body(MODEL_BIN_FILE)).unwrap();
        let from_json = ModelArtifact::from_json_slice(body(MODEL_FILE)).unwrap();
        assert_eq!(from_json, artifact);
        assert_eq!(from_bin, from_json.without_id_parts());
        assert!(from_bin.user_tower.ids.is_empty() && from_bin.item_tower.ids.is_empty());
        assert!(!from_json.user_tower.ids.is_empty());
        // The published user embeddings are the full model's (what the function reads for
        // a known customer); model.bin embeds every customer as the full model embeds a
        // stranger with the same features.
        let users = user_embeddings(&artifact, &rows);
        for row in &rows {
            let customer = CustomerFeatures {
                customer_number: Some(row.customer_number),
                city: row.city.clone(),
                country: row.country.clone(),
                credit_limit: row.credit_limit,
            };
            let stored = &users
                .iter()
                .find(|(id, _)| *id == row.customer_number)
                .unwrap()
                .1;
            assert_eq!(stored, &from_json.embed_customer(&customer));
            let as_stranger = CustomerFeatures {
                customer_number: Some(1),
                ..customer.clone()
            };
            assert_eq!(
                from_bin.embed_customer(&customer),
                from_json.embed_customer(&as_stranger)
            );
        }
    }

    #[test]
    fn unrated_catalogue_products_get_a_feature_embedding_flagged_cold() {
        let rows = rows();
        let artifact = trained(&rows);
        let new_car = ProductFeatures {
            product_code: Some("S0_9999".to_owned()),
            product_line: Some(LINES[0].to_owned()),
            msrp: Some(60.0),
            ..ProductFeatures::default()
        };
        // A catalogue entry of a rated product does not replace its snapshot features.
        let rated_again = ProductFeatures {
            product_code: Some("S0_0000".to_owned()),
            product_line: Some(LINES[1].to_owned()),
            ..ProductFeatures::default()
        };
        let items = catalogue_item_embeddings(&artifact, &rows, &[new_car.clone(), rated_again]);
        assert_eq!(items.len(), 25, "24 snapshot products and the new one");
        let by_id = |id: &str| items.iter().find(|i| i.id == id).unwrap();
        let snapshot_only = item_embeddings(&artifact, &rows);
        assert_eq!(snapshot_only.len(), 24);
        for (id, embedding) in &snapshot_only {
            assert_eq!(&by_id(id).embedding, embedding, "{id}");
        }

        let cold: Vec<&str> = items
            .iter()
            .filter(|i| i.cold)
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(cold, ["S0_9999", "S1_0023"]);
        // The unrated product's embedding is the item tower's feature part: what the Lambda
        // computes for an unknown code, unit length, and nearer its own line than the other.
        let new = &by_id("S0_9999").embedding;
        assert_eq!(new, &artifact.embed_product(&new_car));
        let norm: f32 = new.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert!(new[..artifact.factors].iter().any(|v| *v != 0.0));
        let mean_similarity = |line: usize| {
            let same: Vec<f64> = items
                .iter()
                .filter(|i| !i.cold && i.id.starts_with(&format!("S{line}_")))
                .map(|i| cosine(&i.embedding[..artifact.factors], &new[..artifact.factors]))
                .collect();
            same.iter().sum::<f64>() / same.len() as f64
        };
        assert!(
            mean_similarity(0) > mean_similarity(1) + 0.5,
            "own line {} vs other line {}",
            mean_similarity(0),
            mean_similarity(1)
        );
    }

    #[test]
    fn the_cold_flag_round_trips_through_the_item_csv_and_parquet() {
        let items = vec![
            ItemEmbedding {
                id: "S10_1678".to_owned(),
                embedding: vec![0.5, -0.25],
                cold: false,
            },
            ItemEmbedding {
                id: "new, \"quoted\"".to_owned(),
                embedding: vec![0.0, 1.0],
                cold: true,
            },
        ];
        let csv = String::from_utf8(item_embeddings_csv(&items).to_vec()).unwrap();
        assert_eq!(
            csv,
            "id,embedding,cold\n\
             S10_1678,\"[0.5,-0.25]\",false\n\
             \"new, \"\"quoted\"\"\",\"[0,1]\",true\n"
        );
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let read: Vec<ItemEmbedding> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                let inner = r[1].trim_start_matches('[').trim_end_matches(']');
                ItemEmbedding {
                    id: r[0].to_owned(),
                    embedding: inner.split(',').map(|v| v.parse().unwrap()).collect(),
                    cold: r[2].parse().unwrap(),
                }
            })
            .collect();
        assert_eq!(read, items);

        use arrow::array::{Array, AsArray};
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let parquet = item_embeddings_parquet(&items, 2);
        let batch = ParquetRecordBatchReaderBuilder::try_new(parquet)
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
        let cold = batch.column_by_name(COLD_COLUMN).unwrap().as_boolean();
        let vectors = batch
            .column_by_name("embedding")
            .unwrap()
            .as_fixed_size_list();
        for (i, item) in items.iter().enumerate() {
            assert_eq!(ids.value(i), item.id);
            assert_eq!(cold.value(i), item.cold);
            let v = vectors.value(i);
            let v = v.as_primitive::<arrow::datatypes::Float32Type>();
            assert_eq!(v.values().to_vec(), item.embedding);
        }
        assert_eq!(cold.null_count(), 0);
        // User files keep their two columns.
        let users = embeddings_parquet(
            Arc::new(Int64Array::from(vec![1_i64])),
            &[vec![1.0, 0.0]],
            2,
        );
        let batch = ParquetRecordBatchReaderBuilder::try_new(users)
            .unwrap()
            .build()
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert!(batch.column_by_name(COLD_COLUMN).is_none());
    }

    #[test]
    fn embeddings_csv_quotes_the_vector_and_only_ids_that_need_it() {
        let rows = vec![
            ("S10_1678".to_owned(), vec![0.1, -0.25]),
            ("a,b".to_owned(), vec![1.0, 0.0, 1e-8]),
            ("say \"hi\"".to_owned(), vec![2.5, 3.0]),
        ];
        let text = String::from_utf8(embeddings_csv(&rows).to_vec()).unwrap();
        assert_eq!(
            text,
            "id,embedding\n\
             S10_1678,\"[0.1,-0.25]\"\n\
             \"a,b\",\"[1,0,0.00000001]\"\n\
             \"say \"\"hi\"\"\",\"[2.5,3]\"\n"
        );
        assert_eq!(embeddings_csv(&[]).as_ref(), b"id,embedding\n");
    }

    #[tokio::test]
    async fn the_lakes_catalogue_gives_line_and_price_and_its_absence_gives_nothing() {
        use reco_domain::serving::CatalogueProduct;
        let lake = Bucket::in_memory("lake");
        assert_eq!(read_catalogue(&lake).await.unwrap(), []);
        let catalogue = ProductCatalogue::new([
            CatalogueProduct {
                product_code: "S2_0002".to_owned(),
                name: "Two".to_owned(),
                product_line: "Ships".to_owned(),
                msrp_cents: 9_570,
            },
            CatalogueProduct {
                product_code: "S1_0001".to_owned(),
                name: "One".to_owned(),
                product_line: "Planes".to_owned(),
                msrp_cents: 100,
            },
        ]);
        lake.put(CATALOGUE_KEY, Bytes::from(catalogue.to_json_vec()), JSON)
            .await
            .unwrap();
        let products = read_catalogue(&lake).await.unwrap();
        assert_eq!(
            products,
            [
                ProductFeatures {
                    product_code: Some("S1_0001".to_owned()),
                    product_line: Some("Planes".to_owned()),
                    msrp: Some(1.0),
                    ..ProductFeatures::default()
                },
                ProductFeatures {
                    product_code: Some("S2_0002".to_owned()),
                    product_line: Some("Ships".to_owned()),
                    msrp: Some(95.7),
                    ..ProductFeatures::default()
                },
            ]
        );
        lake.put(
            CATALOGUE_KEY,
            Bytes::from_static(b"{\"products\": 3}"),
            JSON,
        )
        .await
        .unwrap();
        let err = read_catalogue(&lake).await.unwrap_err().to_string();
        assert!(
            err.contains("catalogue/products.json") && err.contains("product catalogue"),
            "{err}"
        );
    }

    /// The model `v1` of [`trained`] renamed `version`.
    fn named(version: &str) -> ModelArtifact {
        let mut model = trained(&rows());
        model.model_version = version.to_owned();
        model
    }

    /// `version`'s `model.bin` (when `bin`), `model.json` and a `metrics.json` whose gate
    /// `passed`, as `reco train` publishes them.
    fn version_files(model: &ModelArtifact, bin: bool, passed: bool) -> Vec<VersionFile> {
        let mut files = Vec::new();
        if bin {
            files.push(VersionFile {
                name: MODEL_BIN_FILE,
                body: Bytes::from(model.to_bin_vec().unwrap()),
                content_type: BINARY,
            });
        }
        files.push(VersionFile {
            name: MODEL_FILE,
            body: Bytes::from(model.to_json_vec().unwrap()),
            content_type: JSON,
        });
        files.push(metrics_file(&Metrics {
            model_version: model.model_version.clone(),
            evaluation: crate::offline::EvalReport {
                model: Default::default(),
                most_popular: Default::default(),
                train_events: 0,
                test_events: 0,
                train_seconds: 0.0,
            },
            tuning: None,
            champion: None,
            gate: crate::gate::Gate {
                passed,
                reason: "test".to_owned(),
                reference: "none".to_owned(),
                reference_ndcg_at_10: None,
                champion_version: None,
            },
            training: model.training.clone(),
            full_train_seconds: 0.0,
            peak_memory_kb: None,
        }));
        files
    }

    /// The in-memory store's write sequence number of `key` (its ETag counts every write).
    async fn written_at(bucket: &Bucket, key: &str) -> usize {
        use object_store::ObjectStoreExt as _;
        let meta = bucket.store().head(&key.into()).await.unwrap();
        meta.e_tag.unwrap().trim_matches('"').parse().unwrap()
    }

    /// The version the live copy holds (it must parse as a model).
    async fn live_copy_version(bucket: &Bucket) -> String {
        let copy = bucket.get("models/LATEST.model.bin").await.unwrap();
        let model = ModelArtifact::from_bin_slice(&copy).unwrap();
        model.model_version().to_owned()
    }

    #[tokio::test]
    async fn latest_and_the_live_model_copy_are_written_last_and_only_when_asked() {
        let bucket = Bucket::in_memory("artifacts");
        let prefix = ModelPrefix::new("models");
        let v1 = named("v1");
        let keys = publish(
            &bucket,
            &prefix,
            "v1",
            version_files(&v1, true, true),
            false,
        )
        .await
        .unwrap();
        assert_eq!(
            keys,
            [
                "models/v1/model.bin",
                "models/v1/model.json",
                "models/v1/metrics.json"
            ]
        );
        assert_eq!(bucket.get_opt("models/LATEST").await.unwrap(), None);
        assert_eq!(
            bucket.get_opt("models/LATEST.model.bin").await.unwrap(),
            None
        );

        let v2 = named("v2");
        let keys = publish(&bucket, &prefix, "v2", version_files(&v2, true, true), true)
            .await
            .unwrap();
        assert_eq!(
            keys[3..],
            ["models/LATEST.model.bin", "models/LATEST"],
            "{keys:?}"
        );
        assert_eq!(bucket.get("models/LATEST").await.unwrap().as_ref(), b"v2");
        // The copy is v2's model.bin byte for byte, written after the version and before LATEST.
        assert_eq!(
            bucket.get("models/LATEST.model.bin").await.unwrap(),
            bucket.get("models/v2/model.bin").await.unwrap()
        );
        let copy_at = written_at(&bucket, "models/LATEST.model.bin").await;
        assert!(written_at(&bucket, "models/v2/metrics.json").await < copy_at);
        assert!(copy_at < written_at(&bucket, "models/LATEST").await);

        // LATEST does not move: neither does the copy.
        let v3 = named("v3");
        publish(
            &bucket,
            &prefix,
            "v3",
            version_files(&v3, true, true),
            false,
        )
        .await
        .unwrap();
        assert_eq!(live_copy_version(&bucket).await, "v2");
        assert_eq!(
            written_at(&bucket, "models/LATEST.model.bin").await,
            copy_at
        );
        // A version without model.bin gets a copy encoded from its model.json.
        let v4 = named("v4");
        publish(
            &bucket,
            &prefix,
            "v4",
            version_files(&v4, false, true),
            true,
        )
        .await
        .unwrap();
        assert_eq!(live_copy_version(&bucket).await, "v4");
        assert_eq!(bucket.get("models/LATEST").await.unwrap().as_ref(), b"v4");
        // Nothing readable to copy: nothing is written, LATEST stays.
        let files = vec![VersionFile {
            name: MODEL_FILE,
            body: Bytes::from_static(b"{}"),
            content_type: JSON,
        }];
        let err = publish(&bucket, &prefix, "v5", files, true)
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("v5 cannot go live: model.json is invalid"),
            "{err}"
        );
        assert_eq!(bucket.get_opt("models/v5/model.json").await.unwrap(), None);
        assert_eq!(bucket.get("models/LATEST").await.unwrap().as_ref(), b"v4");
    }

    #[tokio::test]
    async fn promote_writes_the_live_model_copy_before_latest() {
        let bucket = Bucket::in_memory("artifacts");
        let prefix = ModelPrefix::new("models");
        for (version, bin, passed) in [
            ("v1", true, true),
            ("old", false, true),
            ("refused", true, false),
        ] {
            let files = version_files(&named(version), bin, passed);
            publish(&bucket, &prefix, version, files, false)
                .await
                .unwrap();
        }
        // A damaged model.bin: the copy comes from model.json.
        let torn = named("torn");
        let mut files = version_files(&torn, true, true);
        files[0].body = files[0].body.slice(..files[0].body.len() / 2);
        publish(&bucket, &prefix, "torn", files, false)
            .await
            .unwrap();

        assert_eq!(promote(&bucket, &prefix, "v1").await.unwrap(), None);
        assert_eq!(
            bucket.get("models/LATEST.model.bin").await.unwrap(),
            bucket.get("models/v1/model.bin").await.unwrap()
        );
        let copy_at = written_at(&bucket, "models/LATEST.model.bin").await;
        assert!(copy_at < written_at(&bucket, "models/LATEST").await);

        // Refused by the gate: neither moves.
        let err = promote(&bucket, &prefix, "refused").await.unwrap_err();
        assert!(err.to_string().contains("quality gate refused"), "{err}");
        assert_eq!(
            written_at(&bucket, "models/LATEST.model.bin").await,
            copy_at
        );
        assert_eq!(bucket.get("models/LATEST").await.unwrap().as_ref(), b"v1");

        // A version published before model.bin, and one whose model.bin is damaged.
        for version in ["old", "torn"] {
            promote(&bucket, &prefix, version).await.unwrap();
            assert_eq!(live_copy_version(&bucket).await, version);
            let copy = bucket.get("models/LATEST.model.bin").await.unwrap();
            assert_eq!(
                ModelArtifact::from_bin_slice(&copy).unwrap(),
                named(version).without_id_parts()
            );
            assert!(
                written_at(&bucket, "models/LATEST.model.bin").await
                    < written_at(&bucket, "models/LATEST").await
            );
        }
        // Promoting again (a retried run) writes the same again.
        assert_eq!(
            promote(&bucket, &prefix, "torn").await.unwrap().as_deref(),
            Some("torn")
        );
        assert_eq!(live_copy_version(&bucket).await, "torn");
    }
}
