//! `reco eval`: offline metrics of the trainer on a held-out split, next to most-popular.
//!
//! Inputs: a ratings file split by the protocol (`--ratings`, MovieLens `.inter`), or a
//! pre-split pair (`--train`, `--test`: CSV `user_id,item_id,timestamp`).
//!
//! Unless tuning is off (`--no-tuning`), the hyper-parameters are first searched on a
//! validation split of the training events (the protocol's rule applied to them again), and
//! the winner is trained on all training events and scored on the test events.
//!
//! Events are held compactly (`reco_train::split`: u32 user and item indices and the time,
//! 16 bytes an event), the validation split and the held-out items built from that form, so
//! memory follows the interactions, not the text of the files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use reco_train::config::ModelOptions;
use reco_train::evaluation::{self, RankingMetrics, Truth};
use reco_train::offline::{self, EvalReport};
use reco_train::split::SplitEvents;
use reco_train::towers::{TrainConfig, TrainingData};
use reco_train::tuning::{self, TuningReport};
use reco_train::{files, read, train};

/// Arguments of `reco eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Ratings file to split by the protocol (RecBole `.inter`, e.g. MovieLens 100k).
    #[arg(long, conflicts_with_all = ["train", "test", "input"])]
    pub ratings: Option<PathBuf>,
    /// Local training Parquet (file or folder, the ETL's schema): held-out split as `reco
    /// train` does it (per customer, last fifth of ratings >= 4 in a seeded order).
    #[arg(long, conflicts_with_all = ["train", "test"])]
    pub input: Option<PathBuf>,
    /// Pre-split training events (CSV `user_id,item_id,timestamp`).
    #[arg(long, requires = "test")]
    pub train: Option<PathBuf>,
    /// Pre-split test events (CSV `user_id,item_id,timestamp`).
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// With `--ratings`: write the protocol's split as DIR/train.csv and DIR/test.csv.
    #[arg(long, value_name = "DIR")]
    pub write_split: Option<PathBuf>,
    /// Write the model's top 10 per user (CSV `user_id,item_id,rank`).
    #[arg(long, value_name = "FILE")]
    pub recs_out: Option<PathBuf>,
    /// Also score top lists produced by another tool (CSV `user_id,item_id,rank`).
    #[arg(long, value_name = "FILE")]
    pub score_recs: Option<PathBuf>,
    /// Write the metrics as JSON.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,
    /// Exit with code 3 when the model's nDCG@10 is below this.
    #[arg(long)]
    pub min_ndcg: Option<f64>,
    /// Model hyper-parameters.
    #[command(flatten)]
    pub model: ModelOptions,
}

fn print_row(name: &str, m: &RankingMetrics) {
    println!(
        "{name:<14} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>6}",
        m.precision_at_10,
        m.recall_at_10,
        m.ndcg_at_10,
        m.hit_rate_at_10,
        m.coverage_at_10,
        m.users
    );
}

/// Prints a side-by-side table of metrics.
pub fn print_table(rows: &[(&str, &RankingMetrics)]) {
    println!(
        "{:<14} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "ranker", "prec@10", "recall@10", "ndcg@10", "hit@10", "cover@10", "users"
    );
    for (name, m) in rows {
        print_row(name, m);
    }
}

/// Runs `reco eval`.
pub async fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    // Reading, training and ranking are CPU work: off the async workers.
    tokio::task::spawn_blocking(move || evaluate(&args)).await?
}

fn evaluate(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let config = args.model.train_config()?;
    let tuning = args.model.tuning_config()?;
    if let Some(path) = &args.input {
        let snapshot = read::read_local_snapshot(path)?;
        let source = path.display().to_string();
        let holdout = snapshot.holdout(config.als.seed, None);
        let report = train::tune_snapshot(&snapshot, &holdout, &source, &config, &tuning);
        let held = snapshot.indexed(Some(&holdout), &source)?;
        eprintln!(
            "eval: {} rows ({} events rows) -> {} training rows, {} held-out pairs",
            snapshot.len(),
            snapshot.events_rows(),
            held.data.rows,
            held.truth.events()
        );
        drop((holdout, snapshot));
        return finish(args, &config, &report, &held.data, &held.truth);
    }
    let (mut split, source) = match (&args.ratings, &args.train, &args.test) {
        (Some(path), _, _) => {
            let events = files::read_inter(path)?;
            let split = evaluation::protocol_split(&events);
            eprintln!(
                "eval: {} ratings -> {} train / {} test positives (protocol split)",
                events.len(),
                split.train.len(),
                split.test.len()
            );
            if let Some(dir) = &args.write_split {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                files::write_split(&dir.join("train.csv"), &split.train)?;
                files::write_split(&dir.join("test.csv"), &split.test)?;
                eprintln!("eval: wrote {0}/train.csv and {0}/test.csv", dir.display());
            }
            (SplitEvents::from_split(&split), path.display().to_string())
        }
        (None, Some(train), Some(test)) => {
            let split = SplitEvents::read(train, test)?;
            eprintln!(
                "eval: read {} train / {} test events ({} users, {} items)",
                split.train.len(),
                split.test.len(),
                split.users.len(),
                split.items.len()
            );
            (split, train.display().to_string())
        }
        _ => anyhow::bail!("give --ratings FILE, --input PARQUET, or --train FILE --test FILE"),
    };
    // The search's validation split is built from the compact events and dropped before the
    // final model's data is built from them; the events go once both are indexed.
    let report = tuning::tune_split(&mut split, &source, &config, &tuning);
    let held = split.indexed(&source)?;
    drop(split);
    finish(args, &config, &report, &held.data, &held.truth)
}

fn finish(
    args: &EvalArgs,
    base: &TrainConfig,
    tuning: &TuningReport,
    data: &TrainingData,
    test: &Truth,
) -> anyhow::Result<ExitCode> {
    for line in tuning::describe(tuning) {
        println!("{line}");
    }
    let config = &tuning.winner.apply(base);
    eprintln!(
        "eval: training on {} users x {} items ({} pairs)",
        data.interactions.users.len(),
        data.interactions.items.len(),
        data.interactions.nnz()
    );
    let iterations = config.als.iterations;
    let run = offline::evaluate_truth(data, test, config, |iteration, loss| {
        tracing::info!(iteration, iterations, loss, "ALS iteration");
    });
    eprintln!("eval: trained in {:.2} s", run.report.train_seconds);
    let external = match &args.score_recs {
        Some(path) => Some(offline::score_external_truth(
            &data.interactions,
            &files::read_recs(path)?,
            test,
        )),
        None => None,
    };
    let mut rows: Vec<(&str, &RankingMetrics)> = vec![
        ("reco", &run.report.model),
        ("most-popular", &run.report.most_popular),
    ];
    if let Some(m) = &external {
        rows.push(("external", m));
    }
    print_table(&rows);
    if let Some(path) = &args.recs_out {
        files::write_recs(path, &run.named(&data.interactions))?;
        eprintln!("eval: wrote top-10 lists to {}", path.display());
    }
    if let Some(path) = &args.metrics_out {
        let json = metrics_json(&run.report, external.as_ref(), config, tuning);
        std::fs::write(path, serde_json::to_vec_pretty(&json)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(min) = args.min_ndcg
        && run.report.model.ndcg_at_10 < min
    {
        eprintln!(
            "eval: nDCG@10 {:.4} is below --min-ndcg {min}",
            run.report.model.ndcg_at_10
        );
        return Ok(ExitCode::from(3));
    }
    Ok(ExitCode::SUCCESS)
}

fn metrics_json(
    report: &EvalReport,
    external: Option<&RankingMetrics>,
    config: &TrainConfig,
    tuning: &TuningReport,
) -> serde_json::Value {
    serde_json::json!({
        "evaluation": report,
        "external": external,
        "tuning": tuning,
        "config": {
            "factors": config.als.factors,
            "iterations": config.als.iterations,
            "regularization": config.als.regularization,
            "alpha": config.als.alpha,
            "feature_regularization": config.feature_regularization,
            "seed": config.als.seed,
        },
    })
}
