//! The embeddings CSV written by the trainer: header `id,embedding`, then one line per id
//! with a pgvector text literal, quoted (`S10_1678,"[0.1,-0.2]"`). Item files carry a third
//! column, the cold-start flag (`id,embedding,cold`, `S10_1678,"[0.1,-0.2]",false`); item
//! files written before it have two columns and load with the flag false. The same files are
//! imported by `aws_s3.table_import_from_s3` and `\copy` (sql/embeddings.sql), so this parser
//! accepts the RFC 4180 quoting those use, one record per line, and nothing looser.

/// The header of user files and of item files without the cold-start flag.
pub const HEADER: &str = reco_domain::artifacts::EMBEDDINGS_CSV_HEADER;
/// The header of item files with the cold-start flag.
pub const FLAGGED_HEADER: &str = reco_domain::artifacts::ITEM_EMBEDDINGS_CSV_HEADER;

/// Largest dimension pgvector stores in a `vector` column (pgvector `VECTOR_MAX_DIM`).
pub const MAX_DIM: usize = 16_000;

/// Checks the header line (without its line ending): `Ok(true)` when the file carries the
/// cold-start flag ([`FLAGGED_HEADER`]), `Ok(false)` for [`HEADER`].
pub fn check_header(line: &str) -> Result<bool, String> {
    match line {
        HEADER => Ok(false),
        FLAGGED_HEADER => Ok(true),
        _ => Err(format!(
            "header must be {HEADER:?} or {FLAGGED_HEADER:?}, found {line:?}"
        )),
    }
}

/// Splits one CSV line (without its line ending) into exactly two fields, unquoting them.
pub fn split_record(line: &str) -> Result<(String, String), String> {
    let fields = split_fields(line)?;
    match <[String; 2]>::try_from(fields) {
        Ok([id, embedding]) => Ok((id, embedding)),
        Err(fields) => Err(format!(
            "expected 2 fields (id,embedding), found {}",
            fields.len()
        )),
    }
}

/// Splits one CSV line (without its line ending) into its fields, unquoting them.
pub fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::with_capacity(3);
    let mut rest = line;
    loop {
        let (field, after) = if let Some(quoted) = rest.strip_prefix('"') {
            // Fast path: no doubled quote inside (every file the trainer writes).
            if let Some(end) = quoted.find('"')
                && !quoted[end + 1..].starts_with('"')
            {
                fields.push(quoted[..end].to_owned());
                let after = &quoted[end + 1..];
                if after.is_empty() {
                    break;
                }
                rest = after
                    .strip_prefix(',')
                    .ok_or_else(|| format!("expected ',' after a quoted field, found {after:?}"))?;
                continue;
            }
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                if c == '"' {
                    if quoted[i + 1..].starts_with('"') {
                        value.push('"');
                        chars.next();
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    value.push(c);
                }
            }
            let end = end.ok_or("unterminated quoted field")?;
            (value, &quoted[end..])
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let field = &rest[..end];
            if field.contains('"') {
                return Err(format!("stray quote in unquoted field {field:?}"));
            }
            (field.to_owned(), &rest[end..])
        };
        fields.push(field);
        if after.is_empty() {
            break;
        }
        rest = after
            .strip_prefix(',')
            .ok_or_else(|| format!("expected ',' after a quoted field, found {after:?}"))?;
    }
    Ok(fields)
}

/// Parses one data line (without its line ending) into a non-empty id and its vector.
pub fn parse_record(line: &str) -> Result<(String, Vec<f32>), String> {
    let (id, literal) = split_record(line)?;
    if id.is_empty() {
        return Err("id is empty".to_owned());
    }
    parse_vector(&literal).map(|vector| (id, vector))
}

/// Parses one data line of a flagged item file (`id,embedding,cold`) into a non-empty id, its
/// vector and the flag (`true` or `false`, as PostgreSQL's CSV import reads booleans).
pub fn parse_flagged_record(line: &str) -> Result<(String, Vec<f32>, bool), String> {
    let fields = split_fields(line)?;
    let [id, literal, flag] = <[String; 3]>::try_from(fields).map_err(|fields| {
        format!(
            "expected 3 fields (id,embedding,cold), found {}",
            fields.len()
        )
    })?;
    if id.is_empty() {
        return Err("id is empty".to_owned());
    }
    let cold = match flag.as_str() {
        "true" => true,
        "false" => false,
        other => return Err(format!("cold {other:?} is neither true nor false")),
    };
    parse_vector(&literal).map(|vector| (id, vector, cold))
}

/// Parses a data line of a file with ([`parse_flagged_record`]) or without the flag (false).
pub fn parse_line(line: &str, flagged: bool) -> Result<(String, Vec<f32>, bool), String> {
    if flagged {
        parse_flagged_record(line)
    } else {
        parse_record(line).map(|(id, vector)| (id, vector, false))
    }
}

/// Parses a pgvector text literal `[x1,x2,...]` into finite floats.
pub fn parse_vector(literal: &str) -> Result<Vec<f32>, String> {
    let inner = literal
        .trim()
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("embedding {literal:?} is not a vector literal [x1,x2,...]"))?;
    if inner.trim().is_empty() {
        return Err("embedding is empty (a vector needs at least one element)".to_owned());
    }
    let mut values = Vec::with_capacity(inner.len() / 8 + 1);
    for (index, part) in inner.split(',').enumerate() {
        let value: f32 = part
            .trim()
            .parse()
            .map_err(|_| format!("element {} ({:?}) is not a number", index + 1, part.trim()))?;
        if !value.is_finite() {
            return Err(format!(
                "element {} ({:?}) is not finite (pgvector refuses NaN and infinity)",
                index + 1,
                part.trim()
            ));
        }
        values.push(value);
    }
    if values.len() > MAX_DIM {
        return Err(format!(
            "embedding has {} dimensions, pgvector stores at most {MAX_DIM}",
            values.len()
        ));
    }
    if values.iter().all(|v| *v == 0.0) {
        return Err("embedding is the zero vector, which has no cosine direction".to_owned());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_unquoted_fields_split() {
        assert_eq!(
            split_record(r#"S10_1678,"[0.1,-0.2,3e-2]""#).unwrap(),
            ("S10_1678".to_owned(), "[0.1,-0.2,3e-2]".to_owned())
        );
        assert_eq!(
            split_record(r#""a ""quoted"" id","[1]""#).unwrap(),
            (r#"a "quoted" id"#.to_owned(), "[1]".to_owned())
        );
        assert_eq!(
            split_record("103,[1,2]").unwrap_err(),
            "expected 2 fields (id,embedding), found 3"
        );
        assert!(
            split_record(r#"103,"[1,2]"#)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(split_record(r#"1"03,"[1]""#).unwrap_err().contains("stray"));
    }

    #[test]
    fn vector_literals_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_vector("[0.5, -1,2e1]").unwrap(),
            vec![0.5_f32, -1.0, 20.0]
        );
        assert!(
            parse_vector("0.5,1")
                .unwrap_err()
                .contains("not a vector literal")
        );
        assert!(parse_vector("[]").unwrap_err().contains("empty"));
        assert!(
            parse_vector("[1,x,3]")
                .unwrap_err()
                .contains("element 2 (\"x\")")
        );
        assert!(parse_vector("[1,NaN]").unwrap_err().contains("not finite"));
        assert!(parse_vector("[0,0]").unwrap_err().contains("zero vector"));
    }

    #[test]
    fn header_is_exact_and_says_whether_the_flag_follows() {
        assert!(!check_header("id,embedding").unwrap());
        assert!(check_header("id,embedding,cold").unwrap());
        assert!(check_header("id;embedding").is_err());
        assert!(check_header("id,embedding,warm").is_err());
    }

    #[test]
    fn flagged_lines_carry_the_cold_flag_and_unflagged_ones_read_false() {
        assert_eq!(
            parse_line(r#"S10_1678,"[0.5,1]",true"#, true).unwrap(),
            ("S10_1678".to_owned(), vec![0.5, 1.0], true)
        );
        assert_eq!(
            parse_line(r#""a,b","[1,0]",false"#, true).unwrap(),
            ("a,b".to_owned(), vec![1.0, 0.0], false)
        );
        assert_eq!(
            parse_line(r#"S10_1678,"[0.5,1]""#, false).unwrap(),
            ("S10_1678".to_owned(), vec![0.5, 1.0], false)
        );
        assert_eq!(
            parse_line(r#"S10_1678,"[0.5,1]""#, true).unwrap_err(),
            "expected 3 fields (id,embedding,cold), found 2"
        );
        assert_eq!(
            parse_line(r#"S10_1678,"[0.5,1]",yes"#, true).unwrap_err(),
            "cold \"yes\" is neither true nor false"
        );
        assert!(
            parse_line(r#"S10_1678,"[0.5,1]",true"#, false)
                .unwrap_err()
                .contains("expected 2 fields")
        );
    }
}
