//! Offline evaluation: the held-out split protocol, top-k ranking and its metrics.
//!
//! Protocol (issue 4): positives are ratings >= [`POSITIVE_RATING`]; per user, positives are
//! sorted by time (ties by numeric item id), the last `ceil(n / 5)` are test and the rest
//! train; users with fewer than [`MIN_POSITIVES`] positives are dropped. Every item seen in
//! training is ranked, except the user's own training items.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::interactions::Interactions;

/// Ratings at or above this are positives (MovieLens convention of the protocol).
pub const POSITIVE_RATING: f64 = 4.0;
/// Users with fewer positives than this are dropped from the split.
pub const MIN_POSITIVES: usize = 5;
/// Denominator of the test share: the last `ceil(n / TEST_SHARE_DENOMINATOR)` positives.
pub const TEST_SHARE_DENOMINATOR: usize = 5;
/// Length of the evaluated top list.
pub const TOP_K: usize = 10;

/// One timestamped (user, item) event of a split.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// User id.
    pub user: String,
    /// Item id.
    pub item: String,
    /// Event time (seconds, or any value that sorts by time).
    pub timestamp: f64,
}

/// One rated event before the protocol selects positives.
#[derive(Debug, Clone, PartialEq)]
pub struct RatedEvent {
    /// User id.
    pub user: String,
    /// Item id.
    pub item: String,
    /// Rating.
    pub rating: f64,
    /// Event time.
    pub timestamp: f64,
}

/// A train / test split of positive events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    /// Training events.
    pub train: Vec<Event>,
    /// Held-out events.
    pub test: Vec<Event>,
}

/// Orders item ids numerically when both parse as integers, else as text.
fn item_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Applies the protocol to rated events (see the module docs).
pub fn protocol_split(events: &[RatedEvent]) -> Split {
    let mut per_user: BTreeMap<&str, Vec<&RatedEvent>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.rating >= POSITIVE_RATING) {
        per_user.entry(&e.user).or_default().push(e);
    }
    let mut split = Split::default();
    for (_, mut positives) in per_user {
        if positives.len() < MIN_POSITIVES {
            continue;
        }
        positives.sort_by(|a, b| {
            a.timestamp
                .total_cmp(&b.timestamp)
                .then_with(|| item_order(&a.item, &b.item))
        });
        let test_len = positives.len().div_ceil(TEST_SHARE_DENOMINATOR);
        let cut = positives.len() - test_len;
        for (i, e) in positives.iter().enumerate() {
            let event = Event {
                user: e.user.clone(),
                item: e.item.clone(),
                timestamp: e.timestamp,
            };
            if i < cut {
                split.train.push(event);
            } else {
                split.test.push(event);
            }
        }
    }
    split
}

/// The validation split of a training split's events, by the protocol's own per-user rule:
/// per user, events sorted by time (ties by item id), the last `ceil(n / 5)` of a user with at
/// least [`MIN_POSITIVES`] events are validation; every other event (including all of a user
/// with fewer) stays in training, so the search trains on everything it may.
pub fn validation_split(train: &[Event]) -> Split {
    let mut per_user: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in train {
        per_user.entry(&e.user).or_default().push(e);
    }
    let mut split = Split::default();
    for (_, mut events) in per_user {
        events.sort_by(|a, b| {
            a.timestamp
                .total_cmp(&b.timestamp)
                .then_with(|| item_order(&a.item, &b.item))
        });
        let test_len = if events.len() >= MIN_POSITIVES {
            events.len().div_ceil(TEST_SHARE_DENOMINATOR)
        } else {
            0
        };
        let cut = events.len() - test_len;
        for (i, e) in events.into_iter().enumerate() {
            if i < cut {
                split.train.push(e.clone());
            } else {
                split.test.push(e.clone());
            }
        }
    }
    split
}

/// Ranking metrics at [`TOP_K`], averaged over evaluated users.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    /// Users with at least one test item who are known in training.
    pub users: usize,
    /// Test users without training history (counted as misses: zero on every metric).
    pub cold_users: usize,
    /// Hits in the top k divided by k.
    pub precision_at_10: f64,
    /// Hits in the top k divided by the user's test items.
    pub recall_at_10: f64,
    /// Binary-relevance nDCG at k (ideal: all test items first).
    pub ndcg_at_10: f64,
    /// Share of users with at least one hit.
    pub hit_rate_at_10: f64,
    /// Distinct recommended items divided by the items seen in training.
    pub coverage_at_10: f64,
}

/// Top `k` item indices by score, skipping `exclude` (sorted); ties go to the lower index.
pub fn top_k(scores: &[f32], exclude: &[u32], k: usize) -> Vec<u32> {
    let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
    let mut skip = exclude.iter().peekable();
    for (i, &s) in scores.iter().enumerate() {
        let i = i as u32;
        while skip.peek().is_some_and(|&&e| e < i) {
            skip.next();
        }
        if skip.peek() == Some(&&i) || s.is_nan() {
            continue;
        }
        if best.len() == k && best.last().is_some_and(|&(w, _)| s <= w) {
            continue;
        }
        let pos = best.partition_point(|&(w, j)| w > s || (w == s && j < i));
        best.insert(pos, (s, i));
        best.truncate(k);
    }
    best.into_iter().map(|(_, i)| i).collect()
}

/// Top-[`TOP_K`] lists of every training user: `recommend(user index, training items)`.
pub fn recommend_all(
    train: &Interactions,
    recommend: impl Fn(usize, &[u32]) -> Vec<u32> + Sync,
) -> Vec<Vec<u32>> {
    (0..train.users.len())
        .into_par_iter()
        .map(|u| recommend(u, train.by_user.row(u).0))
        .collect()
}

/// Held-out items per test user, in the index space of a run's training [`Interactions`]:
/// what [`score_truth`] compares top lists with. Built from text events ([`Truth::from_events`])
/// or from compact ones without any per-event string ([`Truth::from_pairs`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    /// Per test user, in id order: its training user index (`None`: unknown in training).
    users: Vec<Option<u32>>,
    /// Row starts of `items`, `users.len() + 1` long.
    indptr: Vec<usize>,
    /// Per test user, its distinct held-out items known in training (training item indices,
    /// sorted).
    items: Vec<u32>,
    /// Per test user, its distinct held-out items, known in training or not.
    counts: Vec<u32>,
    /// Held-out events (before removing repeats).
    events: usize,
}

impl Truth {
    /// Held-out events it was built from.
    pub fn events(&self) -> usize {
        self.events
    }

    /// Test users.
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// From text events, users and items looked up in `train`.
    pub fn from_events(train: &Interactions, test: &[Event]) -> Self {
        fn index(ids: &[String]) -> HashMap<&str, u32> {
            ids.iter()
                .enumerate()
                .map(|(i, id)| (id.as_str(), i as u32))
                .collect()
        }
        let (user_index, item_index) = (index(&train.users), index(&train.items));
        let mut per_user: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
        for e in test {
            per_user.entry(&e.user).or_default().insert(&e.item);
        }
        let mut truth = Self {
            indptr: vec![0],
            events: test.len(),
            ..Self::default()
        };
        for (user, items) in per_user {
            truth.users.push(user_index.get(user).copied());
            let mut known: Vec<u32> = items
                .iter()
                .filter_map(|i| item_index.get(i).copied())
                .collect();
            known.sort_unstable();
            truth.items.extend(known);
            truth.indptr.push(truth.items.len());
            truth.counts.push(items.len() as u32);
        }
        truth
    }

    /// From (user, item) pairs indexed into larger sorted id lists (a split's), mapped to the
    /// training index by `user_map` / `item_map` (`u32::MAX`: unknown in training). Users are
    /// taken in the larger list's order, which is id order.
    pub fn from_pairs(mut pairs: Vec<(u32, u32)>, user_map: &[u32], item_map: &[u32]) -> Self {
        let events = pairs.len();
        pairs.sort_unstable();
        pairs.dedup();
        let mut truth = Self {
            indptr: vec![0],
            events,
            ..Self::default()
        };
        let mut start = 0;
        while start < pairs.len() {
            let user = pairs[start].0;
            let end = start + pairs[start..].partition_point(|p| p.0 == user);
            let mapped = user_map[user as usize];
            truth.users.push((mapped != u32::MAX).then_some(mapped));
            let row = truth.items.len();
            truth.items.extend(
                pairs[start..end]
                    .iter()
                    .map(|p| item_map[p.1 as usize])
                    .filter(|&i| i != u32::MAX),
            );
            truth.items[row..].sort_unstable();
            truth.indptr.push(truth.items.len());
            truth.counts.push((end - start) as u32);
            start = end;
        }
        truth
    }
}

/// Scores top lists (`recs[u]` for training user `u`, item indices of `train`) against `test`.
pub fn score(train: &Interactions, recs: &[Vec<u32>], test: &[Event]) -> RankingMetrics {
    score_truth(train, recs, &Truth::from_events(train, test))
}

/// Scores top lists (`recs[u]` for training user `u`, item indices of `train`) against the
/// held-out items of `truth` (built on `train`'s index).
pub fn score_truth(train: &Interactions, recs: &[Vec<u32>], truth: &Truth) -> RankingMetrics {
    let mut m = RankingMetrics::default();
    let mut recommended: HashSet<u32> = HashSet::new();
    let discount = |rank: usize| 1.0 / ((rank + 2) as f64).log2();
    for (k, user) in truth.users.iter().enumerate() {
        let Some(u) = *user else {
            m.cold_users += 1;
            continue;
        };
        m.users += 1;
        let items = &truth.items[truth.indptr[k]..truth.indptr[k + 1]];
        let count = truth.counts[k] as usize;
        let list = &recs[u as usize];
        recommended.extend(list.iter().copied());
        let mut hits = 0usize;
        let mut dcg = 0.0;
        for (rank, &i) in list.iter().take(TOP_K).enumerate() {
            if items.binary_search(&i).is_ok() {
                hits += 1;
                dcg += discount(rank);
            }
        }
        let ideal: f64 = (0..count.min(TOP_K)).map(discount).sum();
        m.precision_at_10 += hits as f64 / TOP_K as f64;
        m.recall_at_10 += hits as f64 / count as f64;
        m.ndcg_at_10 += dcg / ideal;
        m.hit_rate_at_10 += f64::from(u8::from(hits > 0));
    }
    let n = (m.users + m.cold_users).max(1) as f64;
    m.precision_at_10 /= n;
    m.recall_at_10 /= n;
    m.ndcg_at_10 /= n;
    m.hit_rate_at_10 /= n;
    m.coverage_at_10 = recommended.len() as f64 / train.items.len().max(1) as f64;
    m
}

/// Most-popular baseline scores: training users per item.
pub fn popularity_scores(train: &Interactions) -> Vec<f32> {
    (0..train.items.len())
        .map(|i| train.by_item.row(i).0.len() as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rated(user: &str, item: &str, rating: f64, t: f64) -> RatedEvent {
        RatedEvent {
            user: user.into(),
            item: item.into(),
            rating,
            timestamp: t,
        }
    }

    #[test]
    fn split_keeps_positives_takes_last_fifth_rounded_up_and_drops_small_users() {
        let mut events = Vec::new();
        // u1: 6 positives (ties at t=5 broken by numeric item id: 9 before 10) + 1 negative.
        for (item, t) in [
            ("1", 1.0),
            ("2", 2.0),
            ("3", 3.0),
            ("4", 4.0),
            ("10", 5.0),
            ("9", 5.0),
        ] {
            events.push(rated("u1", item, 4.0, t));
        }
        events.push(rated("u1", "99", 3.0, 100.0));
        // u2: 4 positives -> dropped.
        for i in 0..4 {
            events.push(rated("u2", &i.to_string(), 5.0, f64::from(i)));
        }
        // u3: 5 positives -> 1 test.
        for i in 0..5 {
            events.push(rated("u3", &format!("{i}"), 5.0, f64::from(10 - i)));
        }
        let split = protocol_split(&events);
        let test: Vec<(&str, &str)> = split
            .test
            .iter()
            .map(|e| (e.user.as_str(), e.item.as_str()))
            .collect();
        // ceil(6/5) = 2 for u1: the two at t=5, in order 9 then 10; u3's oldest-by-index is item 0.
        assert_eq!(test, [("u1", "9"), ("u1", "10"), ("u3", "0")]);
        assert_eq!(split.train.len(), 4 + 4);
        assert!(split.train.iter().all(|e| e.user != "u2" && e.item != "99"));
    }

    #[test]
    fn validation_split_holds_out_each_users_latest_fifth_and_keeps_small_users_in_training() {
        let ev = |u: &str, i: &str, t: f64| Event {
            user: u.into(),
            item: i.into(),
            timestamp: t,
        };
        let mut train: Vec<Event> = (0..6)
            .map(|i| ev("a", &i.to_string(), f64::from(10 - i)))
            .collect();
        train.extend((0..4).map(|i| ev("b", &i.to_string(), f64::from(i))));
        let split = validation_split(&train);
        // a: 6 events, ceil(6/5) = 2 latest (items 1 at t=9 and 0 at t=10); b keeps all 4.
        let test: Vec<(&str, &str)> = split
            .test
            .iter()
            .map(|e| (e.user.as_str(), e.item.as_str()))
            .collect();
        assert_eq!(test, [("a", "1"), ("a", "0")]);
        assert_eq!(split.train.len(), 4 + 4);
        assert_eq!(split.train.iter().filter(|e| e.user == "b").count(), 4);
    }

    #[test]
    fn top_k_excludes_training_items_and_breaks_ties_by_index() {
        let scores = [0.5, 0.9, 0.9, 0.1, 0.7];
        assert_eq!(top_k(&scores, &[], 3), [1, 2, 4]);
        assert_eq!(top_k(&scores, &[1, 4], 3), [2, 0, 3]);
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        use crate::interactions::Interaction;
        let train = Interactions::new(&[("a", "x"), ("a", "y"), ("b", "y"), ("b", "z")].map(
            |(u, i)| Interaction {
                user: u.into(),
                item: i.into(),
                weight: 1.0,
            },
        ));
        // items: x=0, y=1, z=2. a is recommended [z, x]; b [x].
        let recs = vec![vec![2, 0], vec![0]];
        let ev = |u: &str, i: &str| Event {
            user: u.into(),
            item: i.into(),
            timestamp: 0.0,
        };
        let test = [ev("a", "x"), ev("a", "w"), ev("b", "q"), ev("c", "x")];
        let m = score(&train, &recs, &test);
        assert_eq!((m.users, m.cold_users), (2, 1));
        // a: hit at rank 2: dcg 1/log2(3), idcg 1 + 1/log2(3).
        let d2 = 1.0 / 3f64.log2();
        assert!((m.ndcg_at_10 - d2 / (1.0 + d2) / 3.0).abs() < 1e-12);
        assert!((m.recall_at_10 - 0.5 / 3.0).abs() < 1e-12);
        assert!((m.precision_at_10 - 0.1 / 3.0).abs() < 1e-12);
        assert!((m.hit_rate_at_10 - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.coverage_at_10 - 2.0 / 3.0).abs() < 1e-12);
    }
}
