//! Reading one shard's inputs: the model version's embeddings (Parquet, the shard's users
//! only) and the training snapshot's (customer, product) pairs, two columns at a time.

use super::*;

/// Reads everything the shard is scored from. Returns the inputs, the snapshot rows read and
/// the zero item embeddings left out.
pub(super) async fn load_shard(
    config: &ScoreAllConfig,
    artifacts: &Bucket,
    lake: &Bucket,
) -> Result<(ShardInputs, u64, u64), ScoreAllError> {
    let version = resolve_version(config, artifacts).await?;
    let prefix = &config.model_prefix;
    let model_key = prefix.key(&version, MODEL_FILE);
    let model_location = artifacts.location(&model_key);
    let model = artifacts
        .get_opt(&model_key)
        .await?
        .ok_or_else(|| ScoreAllError::NoModel {
            version: version.clone(),
            location: model_location.clone(),
        })?;
    let header: ModelHeader = serde_json::from_slice(&model)
        .map_err(|e| malformed(&model_location, format!("not a model artifact: {e}")))?;
    drop(model);
    if header.format_version != MODEL_FORMAT_VERSION {
        return Err(malformed(
            &model_location,
            format!(
                "model format {} is not {MODEL_FORMAT_VERSION}; upgrade reco",
                header.format_version
            ),
        ));
    }
    // The catalogue first: a missing one fails before the large reads.
    let catalogue = CatalogueSource::new(lake.clone()).current().await?;

    let items_key = prefix.key(&version, ITEM_EMBEDDINGS_PARQUET);
    let items_location = artifacts.location(&items_key);
    let bytes =
        artifacts
            .get_opt(&items_key)
            .await?
            .ok_or_else(|| ScoreAllError::MissingEmbeddings {
                location: items_location.clone(),
            })?;
    let (items, item_rows, zero_items) = read_items(bytes, &items_location)?;
    let users_key = prefix.key(&version, USER_EMBEDDINGS_PARQUET);
    let users_location = artifacts.location(&users_key);
    let bytes =
        artifacts
            .get_opt(&users_key)
            .await?
            .ok_or_else(|| ScoreAllError::MissingEmbeddings {
                location: users_location.clone(),
            })?;
    let users = read_users(bytes, &users_location, config.shard)?;
    if let Some(users_dim) = users.dim
        && users_dim != items.dim()
    {
        return Err(ScoreAllError::DimensionMismatch {
            users: users_dim,
            items: items.dim(),
            users_location,
            items_location,
        });
    }
    if header.dim != items.dim() {
        return Err(malformed(
            &model_location,
            format!(
                "the model's dimension is {}, its item embeddings' ({items_location}) {}",
                header.dim,
                items.dim()
            ),
        ));
    }
    tracing::info!(
        model_version = %version,
        items = items.len(),
        dim = items.dim(),
        customers = users.total,
        shard = %config.shard,
        shard_customers = users.customers.len(),
        "embeddings read"
    );

    let snapshot = match &config.snapshot {
        Some(s) => s.clone(),
        None => match snapshot_of_source(&header.training.source) {
            Some(s) => s,
            None => {
                let newest = newest_snapshot(lake).await?;
                tracing::info!(
                    source = %header.training.source,
                    snapshot = %newest,
                    "the model was not trained on a data-lake snapshot: excluding the newest snapshot"
                );
                newest
            }
        },
    };
    let pairs = read_snapshot_pairs(
        lake,
        &snapshot,
        &users.customers,
        &item_rows,
        config.shard.index == 0,
    )
    .await?;
    drop(item_rows);
    let exclusions = Exclusions::from_pairs(users.customers.len(), pairs.pairs)?;
    tracing::info!(
        snapshot = %snapshot,
        rows = pairs.rows,
        excluded_pairs = exclusions.total(),
        pairs_without_embedding = pairs.without_item,
        "snapshot read"
    );
    let popularity = pairs.counts.map(|(known, unknown)| {
        let mut all: Vec<(String, u64)> = known
            .into_iter()
            .enumerate()
            .filter(|(_, n)| *n > 0)
            .map(|(row, n)| (items.id(row as u32).to_owned(), n))
            .chain(unknown)
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all
    });
    Ok((
        ShardInputs {
            model_version: version,
            snapshot,
            items,
            customers_total: users.total,
            customers: users.customers,
            users: users.vectors,
            exclusions,
            popularity,
            catalogue,
            variant: None,
        },
        pairs.rows,
        zero_items,
    ))
}

/// A Parquet reader of `columns` only (each must exist), `location` naming it in errors.
pub(super) fn parquet_columns(
    bytes: Bytes,
    columns: &[&str],
    location: &str,
) -> Result<ParquetRecordBatchReader, ScoreAllError> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| malformed(location, format!("not a readable Parquet file: {e}")))?;
    let schema = builder.schema().clone();
    for name in columns {
        if schema.field_with_name(name).is_err() {
            let present: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(malformed(
                location,
                format!("missing column {name:?} (columns: {})", present.join(", ")),
            ));
        }
    }
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    builder
        .with_projection(mask)
        .with_batch_size(PARQUET_BATCH_ROWS)
        .build()
        .map_err(|e| malformed(location, format!("not a readable Parquet file: {e}")))
}

pub(super) fn next_batch(
    batch: Option<Result<RecordBatch, arrow::error::ArrowError>>,
    location: &str,
) -> Result<Option<RecordBatch>, ScoreAllError> {
    batch
        .transpose()
        .map_err(|e| malformed(location, format!("cannot decode a row group: {e}")))
}

/// Column `name` of `batch` cast to `to` (any integer type for ids, any string type for codes).
pub(super) fn column_as(
    batch: &RecordBatch,
    name: &str,
    to: &DataType,
    location: &str,
) -> Result<Arc<dyn Array>, ScoreAllError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| malformed(location, format!("missing column {name:?}")))?;
    if array.null_count() > 0 {
        return Err(malformed(location, format!("column {name:?} has nulls")));
    }
    cast(array, to).map_err(|e| {
        malformed(
            location,
            format!(
                "column {name:?} of type {} cannot be read as {to}: {e}",
                array.data_type()
            ),
        )
    })
}

/// The embedding column of `batch`: its values and dimension.
pub(super) fn embeddings<'a>(
    batch: &'a RecordBatch,
    location: &str,
) -> Result<(&'a [f32], usize), ScoreAllError> {
    let column = batch
        .column_by_name(COL_EMBEDDING)
        .ok_or_else(|| malformed(location, format!("missing column {COL_EMBEDDING:?}")))?;
    let expected = || {
        malformed(
            location,
            format!(
                "column {COL_EMBEDDING:?} of type {}: expected FixedSizeList<Float32, D>",
                column.data_type()
            ),
        )
    };
    let list = column.as_fixed_size_list_opt().ok_or_else(expected)?;
    let values = list
        .values()
        .as_primitive_opt::<Float32Type>()
        .ok_or_else(expected)?;
    if list.null_count() > 0 || values.null_count() > 0 {
        return Err(malformed(
            location,
            format!("column {COL_EMBEDDING:?} has nulls"),
        ));
    }
    let dim = list.value_length() as usize;
    let start = if list.is_empty() {
        0
    } else {
        list.value_offset_at(0)
    };
    let values = &values.values()[start..start + list.len() * dim];
    Ok((values, dim))
}

/// `v` scaled to unit length (zero stays zero); `false` when it has a non-finite value.
pub(super) fn normalise_into(v: &[f32], out: &mut [f32]) -> bool {
    if v.iter().any(|x| !x.is_finite()) {
        return false;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    for (o, x) in out.iter_mut().zip(v) {
        *o = if norm > 0.0 { x / norm } else { 0.0 };
    }
    true
}

/// The item embeddings: the matrix (zero vectors left out), product code -> row, and how
/// many zero vectors were left out.
pub(super) fn read_items(
    bytes: Bytes,
    location: &str,
) -> Result<(ItemMatrix, HashMap<String, u32>, u64), ScoreAllError> {
    let mut reader = parquet_columns(bytes, &[COL_ID, COL_EMBEDDING], location)?;
    let mut ids = Vec::new();
    let mut unit = Vec::new();
    let mut rows: HashMap<String, u32> = HashMap::new();
    let mut dim = None;
    let mut zero = 0u64;
    let mut row_number = 0usize;
    while let Some(batch) = next_batch(reader.next(), location)? {
        let id_column = column_as(&batch, COL_ID, &DataType::Utf8, location)?;
        let id_column: &StringArray = id_column.as_string();
        let (values, d) = embeddings(&batch, location)?;
        if *dim.get_or_insert(d) != d || d == 0 {
            return Err(malformed(location, format!("embeddings of dimension {d}")));
        }
        let mut scratch = vec![0.0f32; d];
        for (i, v) in values.chunks_exact(d).enumerate() {
            let id = id_column.value(i);
            row_number += 1;
            if id.is_empty() {
                return Err(malformed(location, format!("row {row_number}: empty id")));
            }
            if !normalise_into(v, &mut scratch) {
                return Err(malformed(
                    location,
                    format!("item {id:?} has a non-finite value"),
                ));
            }
            if scratch.iter().all(|&x| x == 0.0) {
                zero += 1;
                continue;
            }
            if rows.insert(id.to_owned(), ids.len() as u32).is_some() {
                return Err(malformed(location, format!("duplicate item id {id:?}")));
            }
            ids.push(id.to_owned());
            unit.extend_from_slice(&scratch);
        }
    }
    let dim = dim.unwrap_or(0);
    if dim == 0 {
        return Err(malformed(location, "no item embeddings"));
    }
    Ok((ItemMatrix::new(ids, unit, dim)?, rows, zero))
}

/// The shard's customers and their unit embeddings.
pub(super) struct ShardUsers {
    /// Customers in the whole file.
    pub(super) total: usize,
    pub(super) customers: Vec<i64>,
    pub(super) vectors: Vec<f32>,
    /// `None` when the file has no rows.
    pub(super) dim: Option<usize>,
}

/// The user embeddings of `shard`: a pass over the ids finds the shard's customers, a second
/// pass keeps only their vectors, so memory holds the shard's vectors, not the whole file's.
pub(super) fn read_users(
    bytes: Bytes,
    location: &str,
    shard: Shard,
) -> Result<ShardUsers, ScoreAllError> {
    let mut ids: Vec<i64> = Vec::new();
    let mut reader = parquet_columns(bytes.clone(), &[COL_ID], location)?;
    while let Some(batch) = next_batch(reader.next(), location)? {
        let column = column_as(&batch, COL_ID, &DataType::Int64, location)?;
        let column: &Int64Array = column.as_primitive();
        ids.extend_from_slice(column.values());
    }
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(malformed(location, format!("duplicate customer {}", w[0])));
    }
    let total = ids.len();
    let range = shard.range(total);
    let customers = ids[range].to_vec();
    drop(ids);
    let (Some(&lo), Some(&hi)) = (customers.first(), customers.last()) else {
        return Ok(ShardUsers {
            total,
            customers,
            vectors: Vec::new(),
            dim: None,
        });
    };
    let mut vectors = Vec::new();
    let mut dim = None;
    let mut reader = parquet_columns(bytes, &[COL_ID, COL_EMBEDDING], location)?;
    while let Some(batch) = next_batch(reader.next(), location)? {
        let column = column_as(&batch, COL_ID, &DataType::Int64, location)?;
        let column: &Int64Array = column.as_primitive();
        let (values, d) = embeddings(&batch, location)?;
        if d == 0 || *dim.get_or_insert(d) != d {
            return Err(malformed(location, format!("embeddings of dimension {d}")));
        }
        if vectors.is_empty() {
            vectors = vec![0.0f32; customers.len() * d];
        }
        for (&customer, v) in column.values().iter().zip(values.chunks_exact(d)) {
            if customer < lo || customer > hi {
                continue;
            }
            let at = customers
                .binary_search(&customer)
                .expect("every id of the range was read in the first pass");
            if !normalise_into(v, &mut vectors[at * d..(at + 1) * d]) {
                return Err(malformed(
                    location,
                    format!("customer {customer} has a non-finite embedding value"),
                ));
            }
        }
    }
    Ok(ShardUsers {
        total,
        customers,
        vectors,
        dim,
    })
}

/// The newest readable snapshot (published by the ETL, or written by hand) of the data lake.
pub(super) async fn newest_snapshot(lake: &Bucket) -> Result<String, ScoreAllError> {
    let keys = lake.list(&training::snapshots_listing_prefix()).await?;
    training::newest_readable_snapshot(keys.iter().map(String::as_str))
        .map(|d| d.to_string())
        .ok_or_else(|| ScoreAllError::NoSnapshot {
            location: lake.location(&format!("{TRAINING_PREFIX}/")),
        })
}

/// What the snapshot gives the shard.
pub(super) struct SnapshotPairs {
    /// (shard customer position, item row) of every rating of the shard's customers.
    pub(super) pairs: Vec<(u32, u32)>,
    /// Ratings per item row and per code without an embedding (when counting).
    pub(super) counts: Option<(Vec<u64>, HashMap<String, u64>)>,
    pub(super) rows: u64,
    /// Pairs of the shard whose product has no embedding (nothing to exclude).
    pub(super) without_item: u64,
}

/// Reads the snapshot's parts, two columns, one part at a time.
pub(super) async fn read_snapshot_pairs(
    lake: &Bucket,
    snapshot: &str,
    customers: &[i64],
    item_rows: &HashMap<String, u32>,
    count_popularity: bool,
) -> Result<SnapshotPairs, ScoreAllError> {
    let date: SnapshotDate = snapshot.parse().map_err(|e: SnapshotDateError| {
        malformed(&lake.location(TRAINING_PREFIX), e.to_string())
    })?;
    let prefix = training::snapshot_prefix(date);
    let manifest = lake.get_opt(&training::manifest_key(date)).await?;
    let listing = match manifest {
        Some(_) => Vec::new(),
        None => lake.list(&prefix).await?,
    };
    let files = training::snapshot_parts(
        date,
        manifest.as_deref(),
        listing.iter().map(String::as_str),
    )
    .map_err(|e| match e {
        SnapshotError::BadManifest { key, reason } => malformed(
            &lake.location(&key),
            format!("not a snapshot manifest: {reason}"),
        ),
        SnapshotError::NoParts { .. } => ScoreAllError::NoSnapshot {
            location: lake.location(&prefix),
        },
    })?;
    let range = (customers.first().copied(), customers.last().copied());
    let mut out = SnapshotPairs {
        pairs: Vec::new(),
        counts: count_popularity.then(|| (vec![0u64; item_rows.len()], HashMap::new())),
        rows: 0,
        without_item: 0,
    };
    for key in &files {
        let location = lake.location(key);
        let bytes = lake
            .get_opt(key)
            .await?
            .ok_or_else(|| malformed(&location, "listed by the snapshot but missing"))?;
        let mut reader =
            parquet_columns(bytes, &[COL_CUSTOMER_NUMBER, COL_PRODUCT_CODE], &location)?;
        while let Some(batch) = next_batch(reader.next(), &location)? {
            let numbers = column_as(&batch, COL_CUSTOMER_NUMBER, &DataType::Int64, &location)?;
            let numbers: &Int64Array = numbers.as_primitive();
            let codes = column_as(&batch, COL_PRODUCT_CODE, &DataType::Utf8, &location)?;
            let codes: &StringArray = codes.as_string();
            out.rows += batch.num_rows() as u64;
            for (i, &customer) in numbers.values().iter().enumerate() {
                let in_shard =
                    matches!(range, (Some(lo), Some(hi)) if customer >= lo && customer <= hi);
                if !in_shard && out.counts.is_none() {
                    continue;
                }
                let code = codes.value(i);
                let item = item_rows.get(code).copied();
                if let Some((known, unknown)) = &mut out.counts {
                    match item {
                        Some(row) => known[row as usize] += 1,
                        None => match unknown.get_mut(code) {
                            Some(n) => *n += 1,
                            None => {
                                unknown.insert(code.to_owned(), 1);
                            }
                        },
                    }
                }
                if in_shard && let Ok(at) = customers.binary_search(&customer) {
                    match item {
                        Some(row) => out.pairs.push((at as u32, row)),
                        None => out.without_item += 1,
                    }
                }
            }
        }
    }
    Ok(out)
}
