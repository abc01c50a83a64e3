//! `reco recs`: a customer's latest recommendations, read as a front end reads them: one GET
//! of `latest/customers/<n>.json` in the recommendations bucket (no listing), and the
//! `popular` document when the customer has none.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use reco_aws::{AwsArgs, Bucket};
use reco_config::{required, var};
use reco_domain::serving::{
    DocumentItem, LatestDocument, POPULAR_DOCUMENT_KEY, customer_document_key,
};
use reco_serving::documents::DocumentStore;

/// Arguments of `reco recs`.
#[derive(Debug, Args)]
pub struct RecsArgs {
    /// Customer number.
    #[arg(long)]
    pub customer: i64,
    /// Print the document's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Do not fall back to the popular document when the customer has none.
    #[arg(long)]
    pub no_fallback: bool,
    /// The recommendations bucket holding the latest documents.
    #[arg(long, env = var::RECO_RECS_BUCKET, value_name = "BUCKET")]
    pub recs_bucket: Option<String>,
    /// AWS endpoint, region and credentials.
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Runs `reco recs`: exit 0 with the customer's document (or the popular fallback), 1 when
/// there is nothing to show.
pub async fn run(args: RecsArgs) -> anyhow::Result<ExitCode> {
    let bucket = required(var::RECO_RECS_BUCKET, &args.recs_bucket)?;
    let store = DocumentStore::new(Bucket::s3(&args.aws, bucket)?);
    let key = customer_document_key(args.customer);
    let mut found = store
        .get(&key)
        .await
        .with_context(|| format!("reading the latest document of customer {}", args.customer))?
        .map(|doc| (key, doc));
    if found.is_none() && !args.no_fallback {
        eprintln!(
            "reco recs: customer {} has no document yet (s3://{bucket}/{}); showing the popular fallback a front end shows",
            args.customer,
            customer_document_key(args.customer)
        );
        found = store
            .get(POPULAR_DOCUMENT_KEY)
            .await
            .context("reading the popular document")?
            .map(|doc| (POPULAR_DOCUMENT_KEY.to_owned(), doc));
    }
    let Some((key, doc)) = found else {
        eprintln!(
            "reco recs: no recommendations for customer {} in s3://{bucket}/ (none for the customer{}): run the stream (`reco firehose-local`) or `reco score-all`",
            args.customer,
            if args.no_fallback {
                ""
            } else {
                ", no popular document"
            }
        );
        return Ok(ExitCode::FAILURE);
    };
    let text = if args.json {
        format!("{}\n", serde_json::to_string(&doc)?)
    } else {
        render_table(bucket, &key, &doc)
    };
    // A reader that stops early (`| head`) is not an error.
    match std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn render_table(bucket: &str, key: &str, doc: &LatestDocument) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let who = doc.customer_number.map_or_else(
        || "popular (fallback)".to_owned(),
        |n| format!("customer {n}"),
    );
    let p = &doc.provenance;
    let _ = writeln!(out, "{who}  source {}", doc.source.as_str());
    let _ = writeln!(
        out,
        "generated {}  model {}  embeddings {}  id {}",
        p.generated_at, p.model_version, p.embedding_version, p.recommendation_id
    );
    let _ = writeln!(out, "from s3://{bucket}/{key}");
    print_table(&mut out, "recommended", &doc.recommended);
    if !doc.similar_to_session.is_empty() {
        print_table(&mut out, "similar to the session", &doc.similar_to_session);
    }
    out
}

fn print_table(out: &mut String, title: &str, items: &[DocumentItem]) {
    use std::fmt::Write as _;
    let _ = writeln!(out, "\n{title}:");
    if items.is_empty() {
        let _ = writeln!(out, "  (none)");
        return;
    }
    let _ = writeln!(
        out,
        "  {:>4}  {:<12}  {:<40}  {:<16}  {:>9}  {:>7}",
        "rank", "product", "name", "line", "price", "score"
    );
    for (rank, item) in items.iter().enumerate() {
        let price = item
            .price
            .map_or_else(|| "-".to_owned(), |p| format!("{p:.2}"));
        let _ = writeln!(
            out,
            "  {:>4}  {:<12}  {:<40}  {:<16}  {:>9}  {:>7.4}",
            rank + 1,
            item.product_code,
            truncate(item.name.as_deref().unwrap_or("-"), 40),
            truncate(item.product_line.as_deref().unwrap_or("-"), 16),
            price,
            item.score
        );
    }
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(chars - 1).collect();
    cut.push('…');
    cut
}
