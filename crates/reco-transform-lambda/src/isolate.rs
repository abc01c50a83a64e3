//! Per-query isolation on the batched k-NN path: one value the database refuses (a product
//! code holding a NUL byte, SQLSTATE 22021; any data exception, class 22) fails the whole
//! statement it is in, so a refused batch is split in halves and each half asked again, down
//! to single queries. Only the queries refused on their own fail; every other query gets its
//! answer. A batch with no refused query costs one round trip, as before; `r` refused queries
//! among `n` cost at most about `2 r log2(n)` more.

use std::future::Future;
use std::ops::Range;

use reco_domain::recommendation::ScoredItem;
use reco_domain::transform::{KnnAnswer, KnnQuery, QueryRejected};

use crate::ports::IndexError;

/// How asking one part of a batch failed.
#[derive(Debug)]
pub enum PartFailure {
    /// The database refused a value in the part (which query's, it does not say): split it.
    Refused {
        /// The database's message.
        reason: String,
    },
    /// Anything else ends the whole batch (unreachable database, version gone, ...).
    Index(IndexError),
}

/// A batch answered query by query, and what it cost.
#[derive(Debug)]
pub struct Isolated {
    /// One answer per query, in order.
    pub answers: Vec<KnnAnswer>,
    /// Statements sent (1 when nothing was refused).
    pub round_trips: usize,
}

/// Answers `queries` with `ask` (one statement per call, one list per query of the part it
/// is given), splitting every refused part until the refused queries stand alone.
pub async fn answer_isolating<'q, F, Fut>(
    queries: &'q [KnnQuery],
    mut ask: F,
) -> Result<Isolated, IndexError>
where
    F: FnMut(&'q [KnnQuery]) -> Fut,
    Fut: Future<Output = Result<Vec<Vec<ScoredItem>>, PartFailure>>,
{
    let mut answers: Vec<KnnAnswer> = vec![Ok(Vec::new()); queries.len()];
    let mut round_trips = 0;
    // Depth first, left half first; no recursion (an async fn cannot recurse unboxed).
    let mut parts: Vec<Range<usize>> = Vec::new();
    if !queries.is_empty() {
        parts.push(0..queries.len());
    }
    while let Some(part) = parts.pop() {
        round_trips += 1;
        match ask(&queries[part.clone()]).await {
            Ok(lists) if lists.len() == part.len() => {
                for (slot, list) in answers[part].iter_mut().zip(lists) {
                    *slot = Ok(list);
                }
            }
            Ok(lists) => {
                return Err(IndexError::Rejected {
                    reason: format!(
                        "k-NN returned {} answer lists for a part of {} queries",
                        lists.len(),
                        part.len()
                    ),
                });
            }
            Err(PartFailure::Refused { reason }) if part.len() == 1 => {
                answers[part.start] = Err(QueryRejected { reason });
            }
            Err(PartFailure::Refused { .. }) => {
                let middle = part.start + part.len() / 2;
                parts.push(middle..part.end);
                parts.push(part.start..middle);
            }
            Err(PartFailure::Index(error)) => return Err(error),
        }
    }
    if answers.iter().any(Result::is_err) {
        tracing::warn!(
            queries = queries.len(),
            refused = answers.iter().filter(|a| a.is_err()).count(),
            round_trips,
            "the database refused k-NN queries; only their records fail"
        );
    }
    Ok(Isolated {
        answers,
        round_trips,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Query `i` asks for items similar to `Q{i}`; a marker id makes it one the fake database
    /// refuses, refusing any statement it is part of, as PostgreSQL does.
    fn queries(n: usize, refused: &[usize]) -> Vec<KnnQuery> {
        (0..n)
            .map(|i| KnnQuery::SimilarTo {
                item_ids: vec![if refused.contains(&i) {
                    "MARKER\0".to_owned()
                } else {
                    format!("Q{i}")
                }],
                exclude: vec![],
            })
            .collect()
    }

    fn seed(query: &KnnQuery) -> &str {
        match query {
            KnnQuery::SimilarTo { item_ids, .. } => &item_ids[0],
            KnnQuery::ByVector { .. } => unreachable!(),
        }
    }

    /// A fake statement: refused as a whole when any query holds the marker, else each query
    /// answered with one item named after it.
    async fn statement(part: &[KnnQuery]) -> Result<Vec<Vec<ScoredItem>>, PartFailure> {
        if part.iter().any(|q| seed(q).contains("MARKER")) {
            return Err(PartFailure::Refused {
                reason: "invalid byte sequence for encoding \"UTF8\": 0x00".into(),
            });
        }
        Ok(part
            .iter()
            .map(|q| {
                vec![ScoredItem {
                    id: format!("near-{}", seed(q)),
                    score: 0.5,
                }]
            })
            .collect())
    }

    async fn run(n: usize, refused: &[usize]) -> (Isolated, usize) {
        let queries = queries(n, refused);
        let calls = Cell::new(0);
        let isolated = answer_isolating(&queries, |part| {
            calls.set(calls.get() + 1);
            statement(part)
        })
        .await
        .unwrap();
        assert_eq!(isolated.round_trips, calls.get());
        (isolated, calls.get())
    }

    #[tokio::test]
    async fn only_the_refused_queries_fail_and_every_other_is_answered_in_place() {
        for (n, refused) in [
            (1, vec![0]),
            (7, vec![3]),
            (100, vec![0, 99]),
            (100, vec![17, 18, 64]),
            (1000, vec![500]),
        ] {
            let (isolated, round_trips) = run(n, &refused).await;
            assert_eq!(isolated.answers.len(), n);
            for (i, answer) in isolated.answers.iter().enumerate() {
                if refused.contains(&i) {
                    let rejected = answer.as_ref().unwrap_err();
                    assert!(rejected.reason.contains("0x00"), "{rejected}");
                } else {
                    let items = answer.as_ref().unwrap();
                    assert_eq!(items[0].id, format!("near-Q{i}"), "query {i} of {n}");
                }
            }
            // Bounded: about 2 log2(n) statements per refused query.
            let bound = 1 + 2 * refused.len() * (n.max(2) as f64).log2().ceil() as usize;
            assert!(round_trips <= bound, "{round_trips} > {bound} for {n}");
        }
    }

    #[tokio::test]
    async fn a_clean_batch_is_one_statement_and_an_empty_one_none() {
        let (isolated, round_trips) = run(50, &[]).await;
        assert_eq!(round_trips, 1);
        assert!(isolated.answers.iter().all(Result::is_ok));
        let (isolated, round_trips) = run(0, &[]).await;
        assert_eq!((isolated.answers.len(), round_trips), (0, 0));
    }

    #[tokio::test]
    async fn other_failures_end_the_batch_without_splitting() {
        let queries = queries(8, &[2]);
        let calls = Cell::new(0);
        let err = answer_isolating(&queries, |_| {
            calls.set(calls.get() + 1);
            async {
                Err(PartFailure::Index(IndexError::Unavailable {
                    reason: "connection refused".into(),
                }))
            }
        })
        .await
        .unwrap_err();
        assert!(matches!(err, IndexError::Unavailable { .. }), "{err}");
        assert_eq!(calls.get(), 1);
        let err = answer_isolating(&queries, |_| async { Ok(vec![Vec::new()]) })
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("1 answer lists for a part of 8"),
            "{err}"
        );
    }
}
