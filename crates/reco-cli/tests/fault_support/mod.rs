//! Shared by the `fault_*` tests: running the real `reco` binary on the local stack with a
//! test's own resources, and listing a test bucket.
// Each fault test uses a subset.
#![allow(dead_code)]

use std::process::{Child, Command, Output, Stdio};

use reco_config::var;
use reco_testkit::{LocalStack, TempBucket};

/// The environment of a `reco` run on the local stack (settings of `.local/env`), with the
/// test's own resources in `env` (they override the stack's).
pub fn command(env: &[(&str, String)], args: &[&str]) -> Command {
    let stack = LocalStack::get();
    let mut command = Command::new(env!("CARGO_BIN_EXE_reco"));
    command
        .args(args)
        .env(var::RECO_ENV, "local")
        .env(
            var::RECO_LOCAL_DIR,
            stack.root().join(".local").display().to_string(),
        )
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    command
}

/// Runs `reco args` to the end and asserts it succeeded.
pub fn reco(env: &[(&str, String)], args: &[&str]) -> Output {
    let output = command(env, args).output().expect("cannot run reco");
    assert!(
        output.status.success(),
        "reco {args:?} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Starts `reco args` in the background (output discarded but for stderr, kept in a pipe).
pub fn spawn(env: &[(&str, String)], args: &[&str]) -> Child {
    command(env, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start reco")
}

/// Every key under `prefix` in `bucket`.
pub async fn list(bucket: &TempBucket, prefix: &str) -> Vec<String> {
    let name = &bucket.name;
    let mut keys = Vec::new();
    let mut pages = bucket
        .client()
        .list_objects_v2()
        .bucket(name)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.unwrap_or_else(|e| panic!("listing s3://{name}/{prefix}: {e:?}"));
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    keys.sort();
    keys
}
