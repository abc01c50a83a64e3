//! A protocol split held compactly: `reco eval`'s training and test events as `u32` user and
//! item indices plus an `f64` time (16 bytes an event; every id stored once), read straight
//! from split files, with the tuning's validation split, the training interactions and the
//! held-out items built from that form (no per-event string at any point).

use std::cmp::Ordering;
use std::path::Path;

use crate::TrainError;
use crate::evaluation::{Event, MIN_POSITIVES, Split, TEST_SHARE_DENOMINATOR, Truth};
use crate::interactions::{Ids, Interactions};
use crate::towers::TrainingData;

/// One event of a split: indices into [`SplitEvents::users`] / [`SplitEvents::items`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitEvent {
    /// Event time (any value that sorts by time).
    pub timestamp: f64,
    /// User index.
    pub user: u32,
    /// Item index.
    pub item: u32,
}

/// A split's events over one sorted index of users and items (the union of both parts).
#[derive(Debug, Clone, Default)]
pub struct SplitEvents {
    /// User ids, sorted.
    pub users: Vec<String>,
    /// Item ids, sorted.
    pub items: Vec<String>,
    /// Training events.
    pub train: Vec<SplitEvent>,
    /// Held-out events.
    pub test: Vec<SplitEvent>,
}

/// Training data and held-out items of one split, indexed together.
#[derive(Debug, Clone)]
pub struct IndexedSplit {
    /// What is trained on (weight 1 per event, no features).
    pub data: TrainingData,
    /// What is scored.
    pub truth: Truth,
}

/// Orders item ids numerically when both parse as integers, else as text (the protocol's
/// tie-break between events of one time).
fn item_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Collects events with first-seen indices, then renumbers them in id order.
#[derive(Default)]
struct Collector {
    users: Ids,
    items: Ids,
    parts: [Vec<SplitEvent>; 2],
}

impl Collector {
    fn push(&mut self, part: usize, user: &str, item: &str, timestamp: f64) {
        let (user, item) = (self.users.index(user), self.items.index(item));
        self.parts[part].push(SplitEvent {
            timestamp,
            user,
            item,
        });
    }

    fn finish(self) -> SplitEvents {
        let (users, user_rank) = self.users.into_sorted();
        let (items, item_rank) = self.items.into_sorted();
        let [mut train, mut test] = self.parts;
        for e in train.iter_mut().chain(test.iter_mut()) {
            e.user = user_rank[e.user as usize];
            e.item = item_rank[e.item as usize];
        }
        train.shrink_to_fit();
        test.shrink_to_fit();
        SplitEvents {
            users,
            items,
            train,
            test,
        }
    }
}

/// Streams the events of a split file into `collector`'s `part`
/// ([`crate::read::for_each_split_event`]: one reused record buffer, the same checks).
fn read_into(path: &Path, collector: &mut Collector, part: usize) -> Result<(), TrainError> {
    crate::read::for_each_split_event(path, |user, item, timestamp| {
        collector.push(part, user, item, timestamp);
    })?;
    Ok(())
}

impl SplitEvents {
    /// Reads a pre-split pair of files (`reco eval --train --test`).
    pub fn read(train: &Path, test: &Path) -> Result<Self, TrainError> {
        let mut collector = Collector::default();
        read_into(train, &mut collector, 0)?;
        read_into(test, &mut collector, 1)?;
        Ok(collector.finish())
    }

    /// The compact form of text events.
    pub fn from_events(train: &[Event], test: &[Event]) -> Self {
        let mut collector = Collector::default();
        for (part, events) in [train, test].into_iter().enumerate() {
            collector.parts[part].reserve_exact(events.len());
            for e in events {
                collector.push(part, &e.user, &e.item, e.timestamp);
            }
        }
        collector.finish()
    }

    /// The compact form of a protocol split.
    pub fn from_split(split: &Split) -> Self {
        Self::from_events(&split.train, &split.test)
    }

    /// Training data of every training event and the held-out items of the test events;
    /// `source` names the input in errors.
    pub fn indexed(&self, source: &str) -> Result<IndexedSplit, TrainError> {
        indexed(
            &self.users,
            &self.items,
            self.train.iter().map(|e| (e.user, e.item)),
            self.train.len(),
            self.test.iter().map(|e| (e.user, e.item)).collect(),
            source,
        )
    }

    /// The tuning's validation split of the training events, by the protocol's own per-user
    /// rule ([`crate::evaluation::validation_split`]): per user, events sorted by time (ties by item
    /// id), the last `ceil(n / 5)` of a user with at least [`MIN_POSITIVES`] events are
    /// held out; every other event trains. Sorts the training events in place (their order
    /// means nothing elsewhere) instead of copying them.
    pub fn validation(&mut self, source: &str) -> Result<IndexedSplit, TrainError> {
        let items = &self.items;
        self.train.sort_unstable_by(|a, b| {
            a.user
                .cmp(&b.user)
                .then_with(|| a.timestamp.total_cmp(&b.timestamp))
                .then_with(|| item_order(&items[a.item as usize], &items[b.item as usize]))
        });
        let events = &self.train;
        // Per user run [start, end): the first `cut` train, the rest are held out.
        let mut runs: Vec<(usize, usize, usize)> = Vec::new();
        let mut start = 0;
        while start < events.len() {
            let user = events[start].user;
            let end = start + events[start..].partition_point(|e| e.user == user);
            let n = end - start;
            let held = if n >= MIN_POSITIVES {
                n.div_ceil(TEST_SHARE_DENOMINATOR)
            } else {
                0
            };
            runs.push((start, start + n - held, end));
            start = end;
        }
        let train_len: usize = runs.iter().map(|&(a, cut, _)| cut - a).sum();
        let test: Vec<(u32, u32)> = runs
            .iter()
            .flat_map(|&(_, cut, end)| events[cut..end].iter().map(|e| (e.user, e.item)))
            .collect();
        indexed(
            &self.users,
            &self.items,
            runs.iter()
                .flat_map(|&(a, cut, _)| events[a..cut].iter().map(|e| (e.user, e.item))),
            train_len,
            test,
            source,
        )
    }
}

/// Training data of `train` pairs (weight 1 each) over a subset of `users` x `items`, and the
/// held-out items of `test` pairs on its index.
fn indexed(
    users: &[String],
    items: &[String],
    train: impl Iterator<Item = (u32, u32)>,
    train_len: usize,
    test: Vec<(u32, u32)>,
    source: &str,
) -> Result<IndexedSplit, TrainError> {
    if train_len == 0 {
        return Err(TrainError::Empty {
            source_name: source.to_owned(),
            reason: "the training split has no events".to_owned(),
        });
    }
    let mut triples = Vec::with_capacity(train_len);
    triples.extend(train.map(|(u, i)| (u, i, 1.0f32)));
    let subset = Interactions::from_indexed(users, items, triples);
    let truth = Truth::from_pairs(test, &subset.user_map, &subset.item_map);
    Ok(IndexedSplit {
        data: TrainingData {
            interactions: subset.interactions,
            user_features: None,
            item_features: None,
            source: source.to_owned(),
            rows: train_len as u64,
        },
        truth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{evaluation, offline};

    fn ev(user: &str, item: &str, timestamp: f64) -> Event {
        Event {
            user: user.into(),
            item: item.into(),
            timestamp,
        }
    }

    #[test]
    fn the_compact_validation_split_holds_out_what_the_text_one_does() {
        let mut train: Vec<Event> = (0..7)
            .map(|i| ev("a", &(i * 7 % 10).to_string(), f64::from(10 - i / 2)))
            .collect();
        train.extend((0..4).map(|i| ev("b", &i.to_string(), f64::from(i))));
        train.extend((0..6).map(|i| ev("c", &format!("x{i}"), 1.0)));
        let text = evaluation::validation_split(&train);
        let expected = offline::data_from_events(&text.train, "t").unwrap();
        let expected_truth = Truth::from_events(&expected.interactions, &text.test);

        let mut compact = SplitEvents::from_events(&train, &[]);
        let got = compact.validation("t").unwrap();
        assert_eq!(got.data.interactions.users, expected.interactions.users);
        assert_eq!(got.data.interactions.items, expected.interactions.items);
        assert_eq!(
            got.data.interactions.by_user.indices,
            expected.interactions.by_user.indices
        );
        assert_eq!(got.data.rows, expected.rows);
        assert_eq!(got.truth, expected_truth);
        assert_eq!(got.truth.events(), text.test.len());
        // a: 7 events -> 2 held out; b: 4 -> none; c: 6 at one time -> 2 by item id.
        assert_eq!(text.test.len(), 4);
    }

    #[test]
    fn split_files_read_compactly_score_like_text_events() {
        let dir = std::env::temp_dir().join(format!("reco-train-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (train_path, test_path) = (dir.join("train.csv"), dir.join("test.csv"));
        let train = [
            ev("u,1", "a", 1.0),
            ev("u2", "a", 2.0),
            ev("u2", "b", 3.0),
            ev("u3", "c", 4.0),
        ];
        // u2's "z" is unknown in training (a miss that counts), u9 is a cold user.
        let test = [ev("u,1", "b", 5.0), ev("u2", "c", 6.0), ev("u2", "z", 6.0)];
        let test = [&test[..], &[ev("u9", "a", 7.0), ev("u,1", "b", 8.0)]].concat();
        crate::files::write_split(&train_path, &train).unwrap();
        crate::files::write_split(&test_path, &test).unwrap();
        let compact = SplitEvents::read(&train_path, &test_path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(std::mem::size_of::<SplitEvent>(), 16);
        assert_eq!(compact.users, ["u,1", "u2", "u3", "u9"]);
        assert_eq!(compact.items, ["a", "b", "c", "z"]);
        let got = compact.indexed("t").unwrap();
        let expected = offline::data_from_events(&train, "t").unwrap();
        assert_eq!(got.data.interactions.users, expected.interactions.users);
        assert_eq!(got.data.interactions.items, expected.interactions.items);
        assert_eq!(got.truth, Truth::from_events(&expected.interactions, &test));
        let recs = vec![vec![1, 2], vec![2], vec![0]];
        let m = evaluation::score_truth(&got.data.interactions, &recs, &got.truth);
        assert_eq!(m, evaluation::score(&expected.interactions, &recs, &test));
        assert_eq!((m.users, m.cold_users), (2, 1));
    }
}
