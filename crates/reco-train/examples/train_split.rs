//! Trains ALS on a split file and writes every user's top 10: reco's side of the training
//! benchmark (`bench/model/run.sh`), the counterpart of `bench/model/implicit_als.py`.
//!
//! The file is streamed into compact interactions (`read::read_split_interactions`), trained
//! with `als::train` and ranked; each phase's seconds are printed, so the benchmark can compare
//! training alone and the whole process (`/usr/bin/time`) with implicit's script.
//!
//! Usage: `train_split --train FILE --out FILE [--factors N] [--iterations N]
//! [--regularization X] [--alpha X] [--seed N]` (defaults: `AlsConfig::default()`).
//! Threads: rayon's global pool (`RAYON_NUM_THREADS`).

use std::path::PathBuf;
use std::time::Instant;

use reco_train::als::{self, AlsConfig, LANES};
use reco_train::evaluation::{self, TOP_K};
use reco_train::read;

fn parse<T: std::str::FromStr>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or_else(|| format!("{flag} needs a value"))?;
    value
        .parse()
        .map_err(|_| format!("{flag}: cannot parse {value:?}"))
}

fn main() -> Result<(), String> {
    let mut train = None;
    let mut out = None;
    let mut config = AlsConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--train" => train = Some(PathBuf::from(parse::<String>(&flag, args.next())?)),
            "--out" => out = Some(PathBuf::from(parse::<String>(&flag, args.next())?)),
            "--factors" => config.factors = parse(&flag, args.next())?,
            "--iterations" => config.iterations = parse(&flag, args.next())?,
            "--regularization" => config.regularization = parse(&flag, args.next())?,
            "--alpha" => config.alpha = parse(&flag, args.next())?,
            "--seed" => config.seed = parse(&flag, args.next())?,
            other => return Err(format!("unknown argument {other:?} (see the file's doc)")),
        }
    }
    let train = train.ok_or("--train FILE is required")?;
    let out = out.ok_or("--out FILE is required")?;

    let started = Instant::now();
    let (data, rows) = read::read_split_interactions(&train).map_err(|e| e.to_string())?;
    println!(
        "reco: read {rows} rows ({} users x {} items, {} pairs) in {:.2} s",
        data.users.len(),
        data.items.len(),
        data.nnz(),
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let model = als::train(&data, &config, |_, _| {});
    println!(
        "reco: trained in {:.2} s ({} factors, {} iterations, {} threads)",
        started.elapsed().as_secs_f64(),
        config.factors,
        config.iterations,
        rayon::current_num_threads()
    );

    let started = Instant::now();
    // Item rows as f32 padded to a multiple of LANES, scored with LANES partial sums (vectorises).
    let k = model.factors;
    let stride = k.next_multiple_of(LANES);
    let pad = |row: &[f64]| -> Vec<f32> {
        let mut out: Vec<f32> = row.iter().map(|&v| v as f32).collect();
        out.resize(stride, 0.0);
        out
    };
    let items: Vec<f32> = (0..data.items.len())
        .flat_map(|i| pad(model.item(i)))
        .collect();
    let recs = evaluation::recommend_all(&data, |u, seen| {
        let user = pad(model.user(u));
        let scores: Vec<f32> = items
            .chunks_exact(stride)
            .map(|item| {
                let mut acc = [0.0f32; LANES];
                for (x, y) in item.chunks_exact(LANES).zip(user.chunks_exact(LANES)) {
                    for l in 0..LANES {
                        acc[l] += x[l] * y[l];
                    }
                }
                acc.iter().sum()
            })
            .collect();
        evaluation::top_k(&scores, seen, TOP_K)
    });
    let mut writer = csv::Writer::from_path(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let write_error = |e: csv::Error| format!("writing {}: {e}", out.display());
    writer
        .write_record(["user_id", "item_id", "rank"])
        .map_err(write_error)?;
    for (u, list) in recs.iter().enumerate() {
        for (rank, &i) in list.iter().enumerate() {
            let rank = (rank + 1).to_string();
            writer
                .write_record([
                    data.users[u].as_str(),
                    data.items[i as usize].as_str(),
                    &rank,
                ])
                .map_err(write_error)?;
        }
    }
    writer
        .flush()
        .map_err(|e| format!("writing {}: {e}", out.display()))?;
    println!(
        "reco: ranked and wrote the top {TOP_K} of {} users in {:.2} s",
        recs.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
