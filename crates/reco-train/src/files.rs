//! Ratings and split files: MovieLens `.inter`, split CSV (`user_id,item_id,timestamp`) and
//! top-k CSV (`user_id,item_id,rank`). CSV goes through the `csv` crate, so ids holding a
//! comma or a quote are quoted on write and unquoted on read (RFC 4180).

use std::fs::File;
use std::path::Path;

use crate::TrainError;
use crate::evaluation::{Event, RatedEvent};

/// Header of a split file.
pub const SPLIT_HEADER: &str = "user_id,item_id,timestamp";
/// Header of a top-k file.
pub const RECS_HEADER: &str = "user_id,item_id,rank";

fn malformed(path: &Path, line: usize, reason: impl Into<String>) -> TrainError {
    TrainError::Malformed {
        source_name: path.display().to_string(),
        line,
        reason: reason.into(),
    }
}

/// A reader of `path` with `delimiter` (`quoting`: RFC 4180 quotes or none); records may
/// have any number of fields (checked by the caller, which names the line).
fn reader(path: &Path, delimiter: u8, quoting: bool) -> Result<csv::Reader<File>, TrainError> {
    let file = File::open(path).map_err(|source| TrainError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quoting(quoting)
        .has_headers(false)
        .flexible(true)
        .from_reader(file))
}

/// A CSV error as a [`TrainError`]: I/O stays I/O, anything else is a malformed line.
fn csv_error(path: &Path, e: csv::Error) -> TrainError {
    let line = e.position().map_or(0, |p| p.line() as usize);
    let reason = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => TrainError::Io {
            path: path.display().to_string(),
            source,
        },
        _ => malformed(path, line, reason),
    }
}

/// 1-based line where `record` starts.
fn line_of(record: &csv::StringRecord) -> usize {
    record.position().map_or(0, |p| p.line() as usize)
}

/// Whether `record` is a blank line.
fn is_blank(record: &csv::StringRecord) -> bool {
    record.len() == 1 && record[0].is_empty()
}

/// The records of `path` after its header, which must be `expected` (trimmed), each with its
/// 1-based line; blank lines are skipped.
fn records(
    path: &Path,
    expected: &str,
) -> Result<impl Iterator<Item = Result<(usize, csv::StringRecord), TrainError>>, TrainError> {
    let mut records = reader(path, b',', true)?.into_records();
    match records.next() {
        Some(Ok(header)) => {
            let header: Vec<&str> = header.iter().collect();
            if header.join(",").trim() != expected {
                return Err(malformed(
                    path,
                    1,
                    format!("header is {:?}, expected {expected:?}", header.join(",")),
                ));
            }
        }
        Some(Err(e)) => return Err(csv_error(path, e)),
        None => return Err(malformed(path, 1, "empty file, expected a header")),
    }
    let path = path.to_owned();
    Ok(records.filter_map(move |record| match record {
        Ok(r) if is_blank(&r) => None,
        Ok(r) => Some(Ok((line_of(&r), r))),
        Err(e) => Some(Err(csv_error(&path, e))),
    }))
}

/// Reads a RecBole atomic `.inter` file (tab-separated, typed header with `user_id`,
/// `item_id`, `rating`, `timestamp` columns, e.g. `user_id:token`).
pub fn read_inter(path: &Path) -> Result<Vec<RatedEvent>, TrainError> {
    // Atomic files are split on tabs, nothing more (a `"` in a token is part of it).
    let mut records = reader(path, b'\t', false)?.into_records();
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => return Err(csv_error(path, e)),
        None => return Err(malformed(path, 1, "empty file, expected a header")),
    };
    let names: Vec<&str> = header
        .iter()
        .map(|c| c.split(':').next().unwrap_or(c))
        .collect();
    let col = |name: &str| {
        names.iter().position(|n| *n == name).ok_or_else(|| {
            let header: Vec<&str> = header.iter().collect();
            malformed(
                path,
                1,
                format!("header {:?} has no {name} column", header.join("\t")),
            )
        })
    };
    let (u, i, r, t) = (
        col("user_id")?,
        col("item_id")?,
        col("rating")?,
        col("timestamp")?,
    );
    let mut events = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(path, e))?;
        if is_blank(&record) {
            continue;
        }
        let line = line_of(&record);
        let get = |c: usize| {
            record
                .get(c)
                .ok_or_else(|| malformed(path, line, format!("expected {} fields", names.len())))
        };
        let number = |c: usize, what: &str| -> Result<f64, TrainError> {
            let raw = get(c)?;
            raw.parse()
                .map_err(|_| malformed(path, line, format!("{what} {raw:?} is not a number")))
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

/// The fields of a record with exactly three.
fn three_fields(record: &csv::StringRecord) -> Option<[&str; 3]> {
    match record.iter().collect::<Vec<_>>()[..] {
        [a, b, c] => Some([a, b, c]),
        _ => None,
    }
}

/// Reads a split file (`user_id,item_id,timestamp`; ids may be quoted).
pub fn read_split(path: &Path) -> Result<Vec<Event>, TrainError> {
    let mut events = Vec::new();
    for record in records(path, SPLIT_HEADER)? {
        let (line, record) = record?;
        let [user, item, timestamp] = three_fields(&record).ok_or_else(|| {
            malformed(
                path,
                line,
                format!("expected 3 fields, found {}", record.len()),
            )
        })?;
        if user.is_empty() || item.is_empty() {
            return Err(malformed(path, line, "empty user_id or item_id"));
        }
        let timestamp = timestamp.trim().parse().map_err(|_| {
            malformed(
                path,
                line,
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

/// Writes `rows` after `header` as CSV to `path`.
fn write_csv<const N: usize>(
    path: &Path,
    header: &str,
    rows: impl Iterator<Item = [String; N]>,
) -> Result<(), TrainError> {
    let io = |source| TrainError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = File::create(path).map_err(io)?;
    let mut w = csv::Writer::from_writer(file);
    let result = (|| -> csv::Result<()> {
        w.write_record(header.split(','))?;
        for row in rows {
            w.write_record(&row)?;
        }
        w.flush()?;
        Ok(())
    })();
    result.map_err(|e| csv_error(path, e))
}

/// Writes a split file.
pub fn write_split(path: &Path, events: &[Event]) -> Result<(), TrainError> {
    write_csv(
        path,
        SPLIT_HEADER,
        events
            .iter()
            .map(|e| [e.user.clone(), e.item.clone(), e.timestamp.to_string()]),
    )
}

/// Writes top lists: `(user, [item ids by rank])`, ranks from 1.
pub fn write_recs(path: &Path, recs: &[(String, Vec<String>)]) -> Result<(), TrainError> {
    write_csv(
        path,
        RECS_HEADER,
        recs.iter().flat_map(|(user, items)| {
            items
                .iter()
                .enumerate()
                .map(move |(rank, item)| [user.clone(), item.clone(), (rank + 1).to_string()])
        }),
    )
}

/// Reads top lists written by [`write_recs`] (or any tool): per user, items ordered by rank.
pub fn read_recs(path: &Path) -> Result<Vec<(String, Vec<String>)>, TrainError> {
    let mut rows: Vec<(String, usize, String)> = Vec::new();
    for record in records(path, RECS_HEADER)? {
        let (line, record) = record?;
        let [user, item, rank] =
            three_fields(&record).ok_or_else(|| malformed(path, line, "expected 3 fields"))?;
        let rank = rank
            .trim()
            .parse()
            .map_err(|_| malformed(path, line, format!("rank {rank:?} is not an integer")))?;
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A fresh file path in the temp folder, unique to this process and test.
    fn temp_file(name: &str, text: Option<&str>) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("reco-train-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        path
    }

    fn event(user: &str, item: &str, timestamp: f64) -> Event {
        Event {
            user: user.to_owned(),
            item: item.to_owned(),
            timestamp,
        }
    }

    #[test]
    fn quoted_commas_and_quotes_survive_a_split_file_round_trip() {
        let path = temp_file("split.csv", None);
        let events = vec![
            event("u1", "S10_1678", 1.5),
            event("u,2", "item \"x\", large", 2.0),
        ];
        write_split(&path, &events).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "user_id,item_id,timestamp\nu1,S10_1678,1.5\n\"u,2\",\"item \"\"x\"\", large\",2\n"
        );
        assert_eq!(read_split(&path).unwrap(), events);
    }

    #[test]
    fn split_files_from_other_tools_read_with_quotes_blank_lines_and_crlf() {
        let path = temp_file(
            "other.csv",
            Some("user_id,item_id,timestamp\r\n\"a,b\",i1,3\r\n\r\nc,\"i,2\", 4 \r\n"),
        );
        assert_eq!(
            read_split(&path).unwrap(),
            [event("a,b", "i1", 3.0), event("c", "i,2", 4.0)]
        );

        let path = temp_file("short.csv", Some("user_id,item_id,timestamp\nu,i,1\nu,i\n"));
        let err = read_split(&path).unwrap_err().to_string();
        assert!(
            err.ends_with("short.csv:3: expected 3 fields, found 2"),
            "{err}"
        );

        let path = temp_file("header.csv", Some("user,item\nu,i\n"));
        let err = read_split(&path).unwrap_err().to_string();
        assert!(err.contains(":1: header is \"user,item\""), "{err}");
    }

    #[test]
    fn top_lists_round_trip_in_rank_order() {
        let path = temp_file("recs.csv", None);
        let recs = vec![
            ("u1".to_owned(), vec!["b".to_owned(), "a,c".to_owned()]),
            ("u2".to_owned(), vec!["z".to_owned()]),
        ];
        write_recs(&path, &recs).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "user_id,item_id,rank\nu1,b,1\nu1,\"a,c\",2\nu2,z,1\n"
        );
        assert_eq!(read_recs(&path).unwrap(), recs);

        let path = temp_file("bad-rank.csv", Some("user_id,item_id,rank\nu,i,first\n"));
        let err = read_recs(&path).unwrap_err().to_string();
        assert!(
            err.contains(":2: rank \"first\" is not an integer"),
            "{err}"
        );
    }

    #[test]
    fn inter_files_are_read_by_column_name() {
        let path = temp_file(
            "x.inter",
            Some(
                "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t\"10\t4\t881250949\n",
            ),
        );
        let events = read_inter(&path).unwrap();
        assert_eq!(
            events,
            [RatedEvent {
                user: "1".to_owned(),
                item: "\"10".to_owned(),
                rating: 4.0,
                timestamp: 881_250_949.0,
            }]
        );
        let path = temp_file("y.inter", Some("user_id:token\titem_id:token\n1\t2\n"));
        let err = read_inter(&path).unwrap_err().to_string();
        assert!(err.contains("has no rating column"), "{err}");
    }
}
