//! Conditions: `<name> <op> <number>` clauses joined by `and`, e.g.
//! `acked >= 100 and time_ms > 5000` or `lost-write >= 1`.
//!
//! Inputs: the condition's text and the names it may use. Outputs: a [`Condition`] keeping
//! the text, or a message saying what was expected where. Invariants: every clause names an
//! allowed name and compares it with a finite number.

use super::{Clause, CompareOp, Condition};

/// The names a condition may use, and how to explain a name that is not one of them.
pub(crate) struct Names<'n> {
    pub allowed: &'n [&'n str],
    /// Explains why `name` (not in `allowed`) cannot be used here.
    pub reject: &'n dyn Fn(&str) -> String,
}

#[derive(Debug, PartialEq)]
enum Token<'t> {
    Name(&'t str),
    Op(CompareOp),
    Number(f64),
    /// Anything else, as written.
    Other(&'t str),
}

fn describe(token: Option<&Token<'_>>) -> String {
    match token {
        None => "the end".into(),
        Some(Token::Name(n)) => format!("{n:?}"),
        Some(Token::Op(op)) => format!("{:?}", op.symbol()),
        Some(Token::Number(n)) => format!("{n}"),
        Some(Token::Other(t)) => format!("{t:?}"),
    }
}

fn tokens(text: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut rest = text.trim_start();
    while let Some(c) = rest.chars().next() {
        let len = if c.is_ascii_alphabetic() || c == '_' {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            out.push(Token::Name(&rest[..len]));
            len
        } else if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' {
            let len = rest
                .char_indices()
                .skip(1)
                .find(|&(i, c)| {
                    let exponent_sign =
                        (c == '-' || c == '+') && matches!(rest.as_bytes()[i - 1], b'e' | b'E');
                    !(c.is_ascii_digit() || c == '.' || c == 'e' || c == 'E' || exponent_sign)
                })
                .map_or(rest.len(), |(i, _)| i);
            match rest[..len].parse::<f64>() {
                Ok(n) if n.is_finite() => out.push(Token::Number(n)),
                _ => out.push(Token::Other(&rest[..len])),
            }
            len
        } else {
            let two = rest.get(..2);
            let (op, len) = match (two, c) {
                (Some("<="), _) => (Some(CompareOp::Le), 2),
                (Some(">="), _) => (Some(CompareOp::Ge), 2),
                (Some("=="), _) => (Some(CompareOp::Eq), 2),
                (Some("!="), _) => (Some(CompareOp::Ne), 2),
                (_, '<') => (Some(CompareOp::Lt), 1),
                (_, '>') => (Some(CompareOp::Gt), 1),
                _ => {
                    let len = rest
                        .find(|c: char| c.is_whitespace() || c.is_ascii_alphanumeric())
                        .filter(|&l| l > 0)
                        .unwrap_or(c.len_utf8());
                    (None, len)
                }
            };
            out.push(op.map_or(Token::Other(&rest[..len]), Token::Op));
            len
        };
        rest = rest[len..].trim_start();
    }
    out
}

const OPS: &str = "<, <=, ==, !=, >= or >";

/// Parses a condition; the error is a message for the condition's key.
pub(crate) fn parse(text: &str, names: &Names<'_>) -> Result<Condition, String> {
    let tokens = tokens(text);
    if tokens.is_empty() {
        return Err("expected a condition like \"acked >= 100\", got an empty string".into());
    }
    let mut clauses = Vec::new();
    let mut at = tokens.iter().peekable();
    loop {
        let metric = match at.next() {
            Some(Token::Name(name)) if *name != "and" => *name,
            other => return Err(format!("expected a name, got {}", describe(other))),
        };
        if !names.allowed.contains(&metric) {
            return Err((names.reject)(metric));
        }
        let op = match at.next() {
            Some(Token::Op(op)) => *op,
            Some(Token::Other("=")) => {
                return Err(format!("after {metric:?}: use == to compare for equality"))
            }
            other => {
                return Err(format!(
                    "after {metric:?}: expected a comparison ({OPS}), got {}",
                    describe(other)
                ))
            }
        };
        let value = match at.next() {
            Some(Token::Number(n)) => *n,
            other => {
                return Err(format!(
                    "after \"{metric} {}\": expected a number, got {}",
                    op.symbol(),
                    describe(other)
                ))
            }
        };
        clauses.push(Clause { metric: metric.to_string(), op, value });
        match at.next() {
            None => break,
            Some(Token::Name("and")) => {}
            other => {
                return Err(format!(
                    "after \"{metric} {} {value}\": expected \"and\" or the end, got {}",
                    op.symbol(),
                    describe(other)
                ))
            }
        }
    }
    Ok(Condition { clauses, text: text.trim().to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names<'static> {
        Names {
            allowed: &["acked", "time_ms", "lost-write"],
            reject: &|n| format!("{n:?} is not allowed"),
        }
    }

    #[test]
    fn clauses_joined_by_and() {
        let c = parse("acked>=100 and time_ms < 5e3 and lost-write == 0", &names()).unwrap();
        assert_eq!(c.text, "acked>=100 and time_ms < 5e3 and lost-write == 0");
        let got: Vec<_> = c.clauses.iter().map(|c| (c.metric.as_str(), c.op, c.value)).collect();
        assert_eq!(
            got,
            [
                ("acked", CompareOp::Ge, 100.0),
                ("time_ms", CompareOp::Lt, 5000.0),
                ("lost-write", CompareOp::Eq, 0.0)
            ]
        );
    }

    #[test]
    fn mistakes_are_explained() {
        let err = |t| parse(t, &names()).unwrap_err();
        assert_eq!(err(""), "expected a condition like \"acked >= 100\", got an empty string");
        assert_eq!(err("acked = 1"), "after \"acked\": use == to compare for equality");
        assert_eq!(
            err("acked 1"),
            "after \"acked\": expected a comparison (<, <=, ==, !=, >= or >), got 1"
        );
        assert_eq!(err("acked >="), "after \"acked >=\": expected a number, got the end");
        assert_eq!(
            err("acked >= 1 or time_ms > 2"),
            "after \"acked >= 1\": expected \"and\" or the end, got \"or\""
        );
        assert_eq!(err("polled > 1"), "\"polled\" is not allowed");
        assert_eq!(err(">= 1"), "expected a name, got \">=\"");
        assert_eq!(err("acked >= 1 and"), "expected a name, got the end");
        assert_eq!(
            err("acked >= 1x"),
            "after \"acked >= 1\": expected \"and\" or the end, got \"x\""
        );
    }
}
