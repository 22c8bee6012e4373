//! Java `.properties` text, as Kafka's `server.properties` uses it.
//!
//! Inputs: file text. Outputs: (key, value, line) in file order. Invariants: `#` and `!`
//! start comments; `=`, `:` or whitespace separate key from value; a trailing backslash
//! continues a line; `\t \n \\ \= \:` escapes are decoded.

/// One `key=value` entry and the line it started on (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parses properties text; an entry without a key is reported with its line.
pub fn parse(text: &str) -> Result<Vec<Entry>, (usize, String)> {
    let mut entries = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line_number = index + 1;
        let mut logical = raw.trim_start().to_string();
        if logical.is_empty() || logical.starts_with('#') || logical.starts_with('!') {
            continue;
        }
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        if key.is_empty() {
            return Err((line_number, format!("no key before the value {value:?}")));
        }
        entries.push(Entry {
            key: unescape(&key),
            value: unescape(value.trim_end()),
            line: line_number,
        });
    }
    Ok(entries)
}

fn ends_with_continuation(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

fn split_key_value(line: &str) -> (String, &str) {
    let mut key = String::new();
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    key.push('\\');
                    key.push(escaped);
                }
            }
            '=' | ':' => return (key, line[i + 1..].trim_start()),
            c if c.is_whitespace() => {
                let rest = line[i..].trim_start();
                let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
                return (key, rest.trim_start());
            }
            c => key.push(c),
        }
    }
    (key, "")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_separators_and_continuations_parse_like_java() {
        let text = "# a comment\n! another\n\nnode.id=1\nlisteners : PLAINTEXT://127.0.0.1:9092\nlog.dirs /tmp/a,\\\n   /tmp/b\nkey\\=with\\:escapes=v\n";
        let entries = parse(text).unwrap();
        let pairs: Vec<(&str, &str, usize)> =
            entries.iter().map(|e| (e.key.as_str(), e.value.as_str(), e.line)).collect();
        assert_eq!(
            pairs,
            vec![
                ("node.id", "1", 4),
                ("listeners", "PLAINTEXT://127.0.0.1:9092", 5),
                ("log.dirs", "/tmp/a,/tmp/b", 6),
                ("key=with:escapes", "v", 8),
            ]
        );
    }

    #[test]
    fn a_line_without_a_key_is_an_error_naming_the_line() {
        assert_eq!(parse("a=1\n=2\n").unwrap_err().0, 2);
    }
}
