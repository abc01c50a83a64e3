//! From scores to latest documents: stable recommendation ids, provenance, the `batch`
//! document of a customer and the `popular` fallback.

use super::*;

/// Hex of the first 128 bits of SHA-256 over `parts` joined by NUL bytes.
pub(super) fn hex_id(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0u8]);
        }
        hasher.update(part);
    }
    let digest = hasher.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(32);
    for b in &digest[..16] {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    id
}

/// The recommendation id of a customer's batch document: the same for the same model version
/// and customer, so a re-run's documents compare equal to the stored ones.
pub fn batch_recommendation_id(model_version: &str, customer_number: i64) -> String {
    hex_id(&[
        b"batch",
        model_version.as_bytes(),
        customer_number.to_string().as_bytes(),
    ])
}

/// The recommendation id of the popular document of a model version.
pub fn popular_recommendation_id(model_version: &str) -> String {
    hex_id(&[b"popular", model_version.as_bytes()])
}

pub(super) fn provenance(
    recommendation_id: String,
    model_version: &str,
    generated_at: &str,
) -> DocumentProvenance {
    DocumentProvenance {
        recommendation_id,
        model_version: model_version.to_owned(),
        // One training run writes both towers' embeddings: the version names both.
        embedding_version: model_version.to_owned(),
        generated_at: generated_at.to_owned(),
        experiment: None,
        variant: None,
    }
}

/// A customer's batch document from its best item rows and scores.
pub fn batch_document(
    customer_number: i64,
    rows: &[u32],
    scores: &[f32],
    inputs: &ShardInputs,
    generated_at: &str,
) -> LatestDocument {
    LatestDocument {
        schema_version: LATEST_DOCUMENT_SCHEMA,
        customer_number: Some(customer_number),
        source: DocumentSource::Batch,
        recommended: rows
            .iter()
            .zip(scores)
            // Rounding can leave a cosine a hair outside [-1, 1], as in the exact search.
            .map(|(&row, &score)| {
                inputs
                    .catalogue
                    .display_one(inputs.items.id(row), score.clamp(-1.0, 1.0))
            })
            .collect(),
        similar_to_session: Vec::new(),
        provenance: DocumentProvenance {
            experiment: inputs.variant.as_ref().map(|v| v.experiment.clone()),
            variant: inputs.variant.as_ref().map(|v| v.variant),
            ..provenance(
                batch_recommendation_id(&inputs.model_version, customer_number),
                &inputs.model_version,
                generated_at,
            )
        },
    }
}

/// The popular document: the `k` most rated products, scored by their share of the top count.
pub fn popular_document(
    popularity: &[(String, u64)],
    k: usize,
    model_version: &str,
    catalogue: &ProductCatalogue,
    generated_at: &str,
) -> LatestDocument {
    let top = popularity.first().map_or(1, |(_, n)| (*n).max(1)) as f64;
    LatestDocument {
        schema_version: LATEST_DOCUMENT_SCHEMA,
        customer_number: None,
        source: DocumentSource::Popular,
        recommended: popularity
            .iter()
            .take(k)
            .map(|(code, n)| catalogue.display_one(code, (*n as f64 / top) as f32))
            .collect(),
        similar_to_session: Vec::new(),
        provenance: provenance(
            popular_recommendation_id(model_version),
            model_version,
            generated_at,
        ),
    }
}

/// One chunk's documents, and its customers left without one.
pub(super) struct ChunkDocuments {
    pub(super) documents: Vec<LatestDocument>,
    pub(super) empty: u64,
}

/// Scores customers `range` of the shard and builds their documents (every core).
pub(super) fn chunk_documents(
    inputs: &ShardInputs,
    range: Range<usize>,
    k: usize,
    generated_at: &str,
) -> Result<ChunkDocuments, ScoringError> {
    let dim = inputs.items.dim();
    let users = &inputs.users[range.start * dim..range.end * dim];
    let top = top_k(
        &inputs.items,
        users,
        inputs.exclusions.slice(range.clone()),
        k,
    )?;
    // Outer `None`: a customer of the other variant (another run of the shard serves it).
    let built: Vec<Option<Option<LatestDocument>>> = (0..top.users())
        .into_par_iter()
        .map(|u| {
            let customer = inputs.customers[range.start + u];
            if let Some(variant) = &inputs.variant
                && !variant.serves(customer)
            {
                return None;
            }
            let (rows, scores) = top.of(u);
            Some(
                (!rows.is_empty())
                    .then(|| batch_document(customer, rows, scores, inputs, generated_at)),
            )
        })
        .collect();
    let empty = built.iter().filter(|d| matches!(d, Some(None))).count() as u64;
    Ok(ChunkDocuments {
        documents: built.into_iter().flatten().flatten().collect(),
        empty,
    })
}
