//! Rows to binary `COPY` data: each row checked on its own (dimension, id type) while it is
//! encoded, duplicates checked afterwards in file order.

use std::collections::HashSet;

use crate::error::FilePosition;
use crate::records::Block;
use crate::{LoadError, copy_binary, csv};

/// Which table an embeddings file fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Item ids are product codes (`varchar`).
    Items,
    /// User ids are customer numbers (`int`).
    Users,
}

/// A parsed block: its rows in binary `COPY` form and their ids with line numbers (checked
/// for duplicates in file order afterwards).
pub(crate) struct EncodedBlock {
    pub(crate) bytes: Vec<u8>,
    pub(crate) ids: Vec<(u64, RowId)>,
}

/// A row's id as stored.
pub(crate) enum RowId {
    Text(String),
    Int(i32),
}

/// Parses and encodes rows into binary `COPY` data, checking each row on its own (dimension,
/// id type); duplicates need every earlier row and are checked by [`SeenIds`].
#[derive(Clone)]
pub(crate) struct Encoder {
    pub(crate) kind: Kind,
    pub(crate) dim: usize,
    pub(crate) file: String,
    /// Whether lines carry the cold-start flag (item files with `id,embedding,cold`).
    pub(crate) flagged: bool,
}

impl Encoder {
    pub(crate) fn malformed(&self, line: u64, reason: String) -> LoadError {
        LoadError::Malformed {
            at: FilePosition {
                file: self.file.clone(),
                line,
            },
            reason,
        }
    }

    /// Appends one row to `buf`, returning its id.
    pub(crate) fn push(
        &self,
        buf: &mut Vec<u8>,
        line: u64,
        id: String,
        vector: &[f32],
        cold: bool,
    ) -> Result<RowId, LoadError> {
        if vector.len() != self.dim {
            return Err(self.malformed(
                line,
                format!(
                    "embedding has {} dimensions, expected {} (the first row's)",
                    vector.len(),
                    self.dim
                ),
            ));
        }
        match self.kind {
            Kind::Items => {
                copy_binary::push_item_row(buf, &id, vector, cold);
                Ok(RowId::Text(id))
            }
            Kind::Users => {
                let Ok(number) = id.parse::<i32>() else {
                    return Err(self.malformed(
                        line,
                        format!("user id {id:?} is not an integer customer number"),
                    ));
                };
                copy_binary::push_int_row(buf, number, vector);
                Ok(RowId::Int(number))
            }
        }
    }

    /// Parses and encodes every line of `block`; the first bad line aborts with its number.
    pub(crate) fn encode_block(&self, block: &Block) -> Result<EncodedBlock, LoadError> {
        let mut bytes = Vec::with_capacity(block.text.len());
        let mut ids = Vec::new();
        let mut text: &[u8] = &block.text;
        if let Some(stripped) = text.strip_suffix(b"\n") {
            text = stripped;
        }
        for (offset, raw) in text.split(|b| *b == b'\n').enumerate() {
            let line = block.first_line + offset as u64;
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let record = std::str::from_utf8(raw)
                .map_err(|e| format!("not UTF-8: {e}"))
                .and_then(|text| csv::parse_line(text, self.flagged));
            let (id, vector, cold) = record.map_err(|reason| self.malformed(line, reason))?;
            let id = self.push(&mut bytes, line, id, &vector, cold)?;
            ids.push((line, id));
        }
        Ok(EncodedBlock { bytes, ids })
    }
}

/// Ids already copied, to refuse a duplicate with its line number.
#[derive(Default)]
pub(crate) struct SeenIds {
    text: HashSet<String>,
    int: HashSet<i32>,
}

impl SeenIds {
    pub(crate) fn insert(
        &mut self,
        encoder: &Encoder,
        line: u64,
        id: RowId,
    ) -> Result<(), LoadError> {
        match id {
            RowId::Text(id) => {
                if !self.text.insert(id) {
                    return Err(encoder.malformed(line, "duplicate item id".to_owned()));
                }
            }
            RowId::Int(number) => {
                if !self.int.insert(number) {
                    return Err(encoder.malformed(line, format!("duplicate user id {number}")));
                }
            }
        }
        Ok(())
    }
}
