//! PostgreSQL's binary `COPY` format for `(id, embedding vector)` rows (items also `cold`
//! boolean).
//!
//! Layout (PostgreSQL docs, "COPY, Binary Format"): the signature `PGCOPY\n\377\r\n\0`,
//! int32 flags, int32 header-extension length; per row an int16 field count and, per field,
//! an int32 byte length and the type's binary `send` form; an int16 `-1` trailer. pgvector's
//! `vector_send` form is int16 dimension, int16 unused, then dimension x float4, all big-endian
//! (the same bytes the `pgvector` crate encodes for sqlx parameters).

/// File header: signature, flags 0, no header extension.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// File trailer: a field count of -1.
pub const TRAILER: &[u8] = &[0xff, 0xff];

/// Appends one row `(text id, vector)` to `buf`.
pub fn push_text_row(buf: &mut Vec<u8>, id: &str, vector: &[f32]) {
    buf.extend_from_slice(&2_i16.to_be_bytes());
    push_field(buf, id.as_bytes());
    push_vector(buf, vector);
}

/// Appends one item row `(text id, vector, bool cold)` to `buf`.
pub fn push_item_row(buf: &mut Vec<u8>, id: &str, vector: &[f32], cold: bool) {
    buf.extend_from_slice(&3_i16.to_be_bytes());
    push_field(buf, id.as_bytes());
    push_vector(buf, vector);
    // boolsend: one byte, 1 for true.
    push_field(buf, &[u8::from(cold)]);
}

/// Appends one row `(int4 id, vector)` to `buf`.
pub fn push_int_row(buf: &mut Vec<u8>, id: i32, vector: &[f32]) {
    buf.extend_from_slice(&2_i16.to_be_bytes());
    push_field(buf, &id.to_be_bytes());
    push_vector(buf, vector);
}

fn push_field(buf: &mut Vec<u8>, bytes: &[u8]) {
    // Ids are bounded by the CSV line length, far below i32::MAX bytes.
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
}

fn push_vector(buf: &mut Vec<u8>, vector: &[f32]) {
    // The parser caps dimensions at pgvector's 16,000, so they fit in an int16.
    let dim = i16::try_from(vector.len()).unwrap_or(i16::MAX);
    let len = 4 + 4 * vector.len() as i32;
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(&dim.to_be_bytes());
    buf.extend_from_slice(&0_i16.to_be_bytes());
    for value in vector {
        buf.extend_from_slice(&value.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_binary_copy_layout() {
        let mut buf = Vec::new();
        push_text_row(&mut buf, "ab", &[1.0, -2.0]);
        let expected: Vec<u8> = [
            &2_i16.to_be_bytes()[..],
            &2_i32.to_be_bytes(),
            b"ab",
            &12_i32.to_be_bytes(),
            &2_i16.to_be_bytes(),
            &0_i16.to_be_bytes(),
            &1.0_f32.to_be_bytes(),
            &(-2.0_f32).to_be_bytes(),
        ]
        .concat();
        assert_eq!(buf, expected);
        let mut ints = Vec::new();
        push_int_row(&mut ints, 103, &[0.5]);
        assert_eq!(&ints[2..10], &[0, 0, 0, 4, 0, 0, 0, 103]);
        assert_eq!(HEADER.len(), 19);
        let mut item = Vec::new();
        push_item_row(&mut item, "ab", &[1.0, -2.0], true);
        assert_eq!(&item[..2], &3_i16.to_be_bytes());
        assert_eq!(&item[2..buf.len()], &buf[2..]);
        assert_eq!(&item[buf.len()..], &[0, 0, 0, 1, 1]);
    }
}
