//! Ratings and split files: MovieLens `.inter`, split CSV (`user_id,item_id,timestamp`) and
//! top-k CSV (`user_id,item_id,rank`).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::TrainError;
use crate::evaluation::{Event, RatedEvent};

/// Header of a split file.
pub const SPLIT_HEADER: &str = "user_id,item_id,timestamp";
/// Header of a top-k file.
pub const RECS_HEADER: &str = "user_id,item_id,rank";

fn open(path: &Path) -> Result<BufReader<File>, TrainError> {
    File::open(path)
        .map(BufReader::new)
        .map_err(|source| TrainError::Io {
            path: path.display().to_string(),
            source,
        })
}

fn malformed(path: &Path, line: usize, reason: impl Into<String>) -> TrainError {
    TrainError::Malformed {
        source_name: path.display().to_string(),
        line,
        reason: reason.into(),
    }
}

/// Reads a RecBole atomic `.inter` file (tab-separated, typed header with `user_id`,
/// `item_id`, `rating`, `timestamp` columns, e.g. `user_id:token`).
pub fn read_inter(path: &Path) -> Result<Vec<RatedEvent>, TrainError> {
    let mut lines = open(path)?.lines();
    let header = match lines.next() {
        Some(line) => line.map_err(|source| TrainError::Io {
            path: path.display().to_string(),
            source,
        })?,
        None => return Err(malformed(path, 1, "empty file, expected a header")),
    };
    let names: Vec<&str> = header
        .split('\t')
        .map(|c| c.split(':').next().unwrap_or(c))
        .collect();
    let col = |name: &str| {
        names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| malformed(path, 1, format!("header {header:?} has no {name} column")))
    };
    let (u, i, r, t) = (
        col("user_id")?,
        col("item_id")?,
        col("rating")?,
        col("timestamp")?,
    );
    let mut events = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|source| TrainError::Io {
            path: path.display().to_string(),
            source,
        })?;
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let get = |c: usize| {
            fields
                .get(c)
                .copied()
                .ok_or_else(|| malformed(path, n + 2, format!("expected {} fields", names.len())))
        };
        let number = |c: usize, what: &str| -> Result<f64, TrainError> {
            let raw = get(c)?;
            raw.parse()
                .map_err(|_| malformed(path, n + 2, format!("{what} {raw:?} is not a number")))
        };
        events.push(RatedEvent {
            user: get(u)?.to_owned(),
            item: get(i)?.to_owned(),
            rating: number(r, "rating")?,
            timestamp: number(t, "timestamp")?,
        });
    }
    if events.is_empty() {
        return Err(malformed(path, 2, "no ratings after the header"));
    }
    Ok(events)
}

/// Reads a split file (`user_id,item_id,timestamp`; ids are strings without commas).
pub fn read_split(path: &Path) -> Result<Vec<Event>, TrainError> {
    let mut lines = open(path)?.lines();
    match lines.next() {
        Some(Ok(h)) if h.trim() == SPLIT_HEADER => {}
        Some(Ok(h)) => {
            return Err(malformed(
                path,
                1,
                format!("header is {h:?}, expected {SPLIT_HEADER:?}"),
            ));
        }
        Some(Err(source)) => {
            return Err(TrainError::Io {
                path: path.display().to_string(),
                source,
            });
        }
        None => return Err(malformed(path, 1, "empty file, expected a header")),
    }
    let mut events = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|source| TrainError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split(',').collect();
        let [user, item, timestamp] = parts[..] else {
            return Err(malformed(
                path,
                n + 2,
                format!("expected 3 fields, found {}", parts.len()),
            ));
        };
        if user.is_empty() || item.is_empty() {
            return Err(malformed(path, n + 2, "empty user_id or item_id"));
        }
        let timestamp = timestamp.trim().parse().map_err(|_| {
            malformed(
                path,
                n + 2,
                format!("timestamp {timestamp:?} is not a number"),
            )
        })?;
        events.push(Event {
            user: user.to_owned(),
            item: item.to_owned(),
            timestamp,
        });
    }
    Ok(events)
}

fn create(path: &Path) -> Result<BufWriter<File>, TrainError> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|source| TrainError::Io {
            path: path.display().to_string(),
            source,
        })
}

/// Writes a split file.
pub fn write_split(path: &Path, events: &[Event]) -> Result<(), TrainError> {
    let io = |source| TrainError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut w = create(path)?;
    writeln!(w, "{SPLIT_HEADER}").map_err(io)?;
    for e in events {
        writeln!(w, "{},{},{}", e.user, e.item, e.timestamp).map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Writes top lists: `(user, [item ids by rank])`, ranks from 1.
pub fn write_recs(path: &Path, recs: &[(String, Vec<String>)]) -> Result<(), TrainError> {
    let io = |source| TrainError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut w = create(path)?;
    writeln!(w, "{RECS_HEADER}").map_err(io)?;
    for (user, items) in recs {
        for (rank, item) in items.iter().enumerate() {
            writeln!(w, "{user},{item},{}", rank + 1).map_err(io)?;
        }
    }
    w.flush().map_err(io)
}

/// Reads top lists written by [`write_recs`] (or any tool): per user, items ordered by rank.
pub fn read_recs(path: &Path) -> Result<Vec<(String, Vec<String>)>, TrainError> {
    let mut lines = open(path)?.lines();
    match lines.next() {
        Some(Ok(h)) if h.trim() == RECS_HEADER => {}
        _ => {
            return Err(malformed(
                path,
                1,
                format!("expected header {RECS_HEADER:?}"),
            ));
        }
    }
    let mut rows: Vec<(String, usize, String)> = Vec::new();
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|source| TrainError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        let parts: Vec<&str> = line.split(',').collect();
        let [user, item, rank] = parts[..] else {
            return Err(malformed(path, n + 2, "expected 3 fields"));
        };
        let rank = rank
            .trim()
            .parse()
            .map_err(|_| malformed(path, n + 2, format!("rank {rank:?} is not an integer")))?;
        rows.push((user.to_owned(), rank, item.to_owned()));
    }
    rows.sort();
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (user, _, item) in rows {
        match out.last_mut() {
            Some((u, items)) if *u == user => items.push(item),
            _ => out.push((user, vec![item])),
        }
    }
    Ok(out)
}
