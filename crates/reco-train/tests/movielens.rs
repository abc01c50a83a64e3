//! MovieLens 100k with the issue-4 protocol: the split reproduces the most-popular
//! figure (nDCG@10 0.080) and the default model beats it clearly.
//!
//! The data is fetched on first use from the PyPI wheel `recbole==1.2.1` into
//! `.local/cache/recbole/` (its licence forbids redistribution, so it is never committed).

use std::path::{Path, PathBuf};
use std::process::Command;

use reco_train::evaluation::protocol_split;
use reco_train::offline;
use reco_train::towers::TrainConfig;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn movielens() -> PathBuf {
    let cache = repo_root().join(".local/cache/recbole");
    let inter = cache.join("ml-100k/ml-100k.inter");
    if inter.is_file() {
        return inter;
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "-q",
            "recbole==1.2.1",
            "--no-deps",
            "-d",
        ])
        .arg(&cache)
        .status()
        .expect("cannot run python3 -m pip");
    assert!(
        status.success(),
        "pip download recbole==1.2.1 failed: {status}"
    );
    let script = "import glob,os,sys,zipfile\n\
        c=sys.argv[1]\n\
        w=zipfile.ZipFile(glob.glob(os.path.join(c,'recbole-1.2.1-*.whl'))[0])\n\
        os.makedirs(os.path.join(c,'ml-100k'),exist_ok=True)\n\
        open(os.path.join(c,'ml-100k','ml-100k.inter'),'wb').write(w.read('recbole/dataset_example/ml-100k/ml-100k.inter'))\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&cache)
        .status()
        .expect("cannot run python3");
    assert!(
        status.success(),
        "extracting ml-100k.inter failed: {status}"
    );
    inter
}

#[test]
fn default_model_beats_most_popular_on_movielens_100k() {
    let events = reco_train::files::read_inter(&movielens()).unwrap();
    assert_eq!(events.len(), 100_000);
    let split = protocol_split(&events);
    // 938 users keep >= 5 positives (ratings >= 4); ceil(n / 5) of each user's are test.
    // Counts cross-checked with an independent Python implementation of the protocol.
    assert_eq!((split.train.len(), split.test.len()), (43_919, 11_442));

    let data = offline::data_from_events(&split.train, "ml-100k").unwrap();
    let run = offline::evaluate(&data, &split.test, &TrainConfig::default(), |_, _| {});
    let model = &run.report.model;
    let popular = &run.report.most_popular;
    assert_eq!(model.users, 938);
    // The issue measured most-popular at nDCG@10 = 0.080 with this protocol.
    assert!(
        (popular.ndcg_at_10 - 0.080).abs() < 0.001,
        "most-popular nDCG@10 {}",
        popular.ndcg_at_10
    );
    assert!(
        model.ndcg_at_10 > 1.5 * popular.ndcg_at_10,
        "model {} vs most-popular {}",
        model.ndcg_at_10,
        popular.ndcg_at_10
    );
}
