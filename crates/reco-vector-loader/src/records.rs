//! Reading an embeddings CSV stream: the header, single records (the first row fixes the
//! dimension) and blocks of whole lines for the parallel parser, every line counted so that
//! errors name `file:line`.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::error::FilePosition;
use crate::{EmbeddingFile, LoadError, csv};

/// Bytes of CSV parsed per block (and about as many encoded bytes sent per `CopyData`
/// message): large enough to amortise the hand-over, small enough to keep memory flat
/// whatever the file size.
const COPY_CHUNK_BYTES: usize = 1 << 20;

/// One parsed data line.
pub(crate) struct Record {
    pub(crate) line: u64,
    pub(crate) id: String,
    pub(crate) vector: Vec<f32>,
    /// The cold-start flag (false in files without the column).
    pub(crate) cold: bool,
}

/// Reads an embeddings CSV line by line, counting lines for error messages.
pub(crate) struct RecordReader<R> {
    pub(crate) file: String,
    /// Whether the header names the cold-start column ([`csv::FLAGGED_HEADER`]).
    pub(crate) flagged: bool,
    reader: R,
    line: u64,
    buf: Vec<u8>,
}

impl<R: AsyncBufRead + Unpin> RecordReader<R> {
    pub(crate) fn new(file: EmbeddingFile<R>) -> Self {
        Self {
            file: file.name,
            flagged: false,
            reader: file.reader,
            line: 0,
            buf: Vec::with_capacity(4096),
        }
    }

    fn malformed(&self, reason: impl Into<String>) -> LoadError {
        LoadError::Malformed {
            at: FilePosition {
                file: self.file.clone(),
                line: self.line,
            },
            reason: reason.into(),
        }
    }

    /// Appends the next line (with its ending) to `buf` and counts it; `false` at the end.
    async fn read_line_into(&mut self, buf: &mut Vec<u8>) -> Result<bool, LoadError> {
        let n = self
            .reader
            .read_until(b'\n', buf)
            .await
            .map_err(|source| LoadError::Read {
                file: self.file.clone(),
                source,
            })?;
        if n > 0 {
            self.line += 1;
        }
        Ok(n > 0)
    }

    /// The next line without its line ending, or `None` at the end of the file.
    async fn next_line(&mut self) -> Result<Option<&str>, LoadError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let more = self.read_line_into(&mut buf).await;
        self.buf = buf;
        if !more? {
            return Ok(None);
        }
        let mut end = self.buf.len();
        if self.buf[..end].ends_with(b"\n") {
            end -= 1;
        }
        if self.buf[..end].ends_with(b"\r") {
            end -= 1;
        }
        match std::str::from_utf8(&self.buf[..end]) {
            Ok(text) => Ok(Some(text)),
            Err(e) => Err(LoadError::Malformed {
                at: FilePosition {
                    file: self.file.clone(),
                    line: self.line,
                },
                reason: format!("not UTF-8: {e}"),
            }),
        }
    }

    /// Whole lines up to about [`COPY_CHUNK_BYTES`] of text, or `None` at the end of the file.
    pub(crate) async fn next_block(&mut self) -> Result<Option<Block>, LoadError> {
        let mut text = Vec::with_capacity(COPY_CHUNK_BYTES + 64 * 1024);
        let first_line = self.line + 1;
        while text.len() < COPY_CHUNK_BYTES && self.read_line_into(&mut text).await? {}
        Ok((!text.is_empty()).then_some(Block { first_line, text }))
    }

    pub(crate) async fn read_header(&mut self) -> Result<(), LoadError> {
        let header = match self.next_line().await? {
            Some(line) => csv::check_header(line),
            None => Err("file is empty (expected the header id,embedding)".to_owned()),
        };
        self.flagged = header.map_err(|reason| LoadError::BadFile {
            file: self.file.clone(),
            reason,
        })?;
        Ok(())
    }

    pub(crate) async fn next_record(&mut self) -> Result<Option<Record>, LoadError> {
        let flagged = self.flagged;
        let parsed = match self.next_line().await? {
            None => return Ok(None),
            Some(line) => csv::parse_line(line, flagged),
        };
        match parsed {
            Ok((id, vector, cold)) => Ok(Some(Record {
                line: self.line,
                id,
                vector,
                cold,
            })),
            Err(reason) => Err(self.malformed(reason)),
        }
    }
}

/// Whole lines of a file, read together and parsed on a blocking thread.
pub(crate) struct Block {
    /// Line number of the first line.
    pub(crate) first_line: u64,
    /// The lines, each ending in `\n` except perhaps the file's last.
    pub(crate) text: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_carry_line_numbers_and_errors_name_the_line() {
        let text = "id,embedding\nS10_1678,\"[1,2]\"\r\nS10_1949,\"[1,x]\"\n";
        let mut reader = RecordReader::new(EmbeddingFile {
            name: "item_embeddings.csv".to_owned(),
            reader: text.as_bytes(),
        });
        reader.read_header().await.unwrap();
        let first = reader.next_record().await.unwrap().unwrap();
        assert_eq!((first.line, first.id.as_str()), (2, "S10_1678"));
        assert_eq!(first.vector, vec![1.0, 2.0]);
        let err = reader.next_record().await.err().unwrap().to_string();
        assert!(err.starts_with("item_embeddings.csv:3: element 2"), "{err}");
    }
}
