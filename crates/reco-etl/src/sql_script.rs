//! Splitting MySQL scripts (dumps, `sql/*.sql`) into statements.
//!
//! Understands what `mysqldump`-style files contain: `'...'`, `"..."` and `` `...` `` quoting
//! with backslash and doubled-quote escapes, `-- ` / `#` line comments, `/* ... */` comments
//! (dropped) and `/*!NNNNN ... */` executable comments (kept: the server runs them).
//! `DELIMITER` changes (stored routines) are not supported and are reported as an error.

/// A statement the splitter could not delimit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct ScriptError {
    /// 1-based line where the problem starts.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// One statement of a script and the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// 1-based line of the statement's first character.
    pub line: usize,
    /// The statement text, trimmed, without the final `;`.
    pub text: String,
}

/// Splits `script` into its statements (comments removed except executable ones).
pub fn split_statements(script: &str) -> Result<Vec<Statement>, ScriptError> {
    let chars: Vec<char> = script.chars().collect();
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut start_line = 1;
    let mut line = 1;
    let mut i = 0;
    let at_line_start = |current: &str| current.trim().is_empty();
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\'' | '"' | '`' => {
                let open_line = line;
                current.push(c);
                i += 1;
                loop {
                    let Some(&q) = chars.get(i) else {
                        return Err(ScriptError {
                            line: open_line,
                            reason: format!("unterminated {c}-quoted text"),
                        });
                    };
                    current.push(q);
                    i += 1;
                    if q == '\n' {
                        line += 1;
                    }
                    if q == '\\' && c != '`' {
                        if let Some(&escaped) = chars.get(i) {
                            current.push(escaped);
                            if escaped == '\n' {
                                line += 1;
                            }
                            i += 1;
                        }
                    } else if q == c {
                        if chars.get(i) == Some(&c) {
                            current.push(c);
                            i += 1;
                        } else {
                            break;
                        }
                    }
                }
                continue;
            }
            '-' if next == Some('-') && chars.get(i + 2).is_none_or(|c| c.is_whitespace()) => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                let open_line = line;
                let executable = chars.get(i + 2) == Some(&'!');
                let begin = i;
                i += 2;
                loop {
                    if i + 1 >= chars.len() {
                        return Err(ScriptError {
                            line: open_line,
                            reason: "unterminated /* comment".into(),
                        });
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    if chars[i] == '*' && chars[i + 1] == '/' {
                        i += 2;
                        break;
                    }
                    i += 1;
                }
                if executable {
                    if at_line_start(&current) {
                        start_line = open_line;
                    }
                    current.extend(&chars[begin..i]);
                } else {
                    current.push(' ');
                }
                continue;
            }
            ';' => {
                push_statement(&mut statements, &mut current, start_line)?;
                i += 1;
                continue;
            }
            _ => {}
        }
        if c == '\n' {
            line += 1;
        }
        if at_line_start(&current) && !c.is_whitespace() {
            start_line = line;
        }
        current.push(c);
        i += 1;
    }
    push_statement(&mut statements, &mut current, start_line)?;
    Ok(statements)
}

fn push_statement(
    statements: &mut Vec<Statement>,
    current: &mut String,
    line: usize,
) -> Result<(), ScriptError> {
    let text = current.trim();
    if !text.is_empty() {
        if text.to_ascii_uppercase().starts_with("DELIMITER") {
            return Err(ScriptError {
                line,
                reason: "DELIMITER (stored routines) is not supported".into(),
            });
        }
        statements.push(Statement {
            line,
            text: text.to_owned(),
        });
    }
    current.clear();
    Ok(())
}

/// The statement's leading keywords, upper-cased, with executable-comment wrappers removed
/// (`/*!40101 SET NAMES utf8 */` -> `SET NAMES UTF8`).
pub fn normalized_head(statement: &str, words: usize) -> String {
    let mut text = statement.trim();
    if let Some(rest) = text.strip_prefix("/*!") {
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        text = rest.strip_suffix("*/").unwrap_or(rest);
    }
    text.split_whitespace()
        .take(words)
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase()
}

/// Decodes a script file: UTF-8 when valid, otherwise Latin-1 (every byte is a character).
pub fn decode_script(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_dump_syntax() {
        let script = "/* header; */\r\n/*!40101 SET NAMES utf8 */;\r\n-- comment; here\r\n\
            insert into `t`(`a`) values ('x;y'),('it''s'),('back\\'slash;');\r\n\
            # another; comment\r\nCREATE TABLE `b` (`c` int) ;\r\nSELECT 1";
        let statements = split_statements(script).unwrap();
        let texts: Vec<&str> = statements.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "/*!40101 SET NAMES utf8 */",
                "insert into `t`(`a`) values ('x;y'),('it''s'),('back\\'slash;')",
                "CREATE TABLE `b` (`c` int)",
                "SELECT 1"
            ]
        );
        assert_eq!(statements[1].line, 4);
        assert_eq!(normalized_head(texts[0], 2), "SET NAMES");
    }

    #[test]
    fn reports_unterminated_quotes_with_line() {
        let err = split_statements("SELECT 1;\nSELECT 'abc;\n").unwrap_err();
        assert_eq!(err.line, 2);
    }

    #[test]
    fn latin1_fallback() {
        assert_eq!(decode_script(b"Lule\xe5"), "Luleå");
        assert_eq!(decode_script("Luleå".as_bytes()), "Luleå");
    }
}
