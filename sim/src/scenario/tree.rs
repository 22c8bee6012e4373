//! A TOML document as a tree that remembers where every key and value was written, and
//! typed readers over it that turn every mistake into a [`ScenarioError`] with file, line,
//! key path and what was expected.
//!
//! Inputs: TOML text. Outputs: a [`Value`] tree, then typed values read through [`Table`]
//! and [`Field`]. Invariants: every value and key carries the byte span it came from when
//! the TOML parser knows it; a value without one (a table that only exists because a
//! deeper table or a dotted key named it, e.g. `cluster` in `[cluster.broker_config]`)
//! borrows its key's span, so every error still points at a line. Nothing here panics on
//! any input.
//!
//! Why not `toml::Spanned<T>`: it fails outright on a table the parser has no span for,
//! and implicit tables (`[cluster.topics.config]` without `[cluster]`, or
//! `min.insync.replicas = "2"` as a dotted key) have none. [`Value`] speaks the same serde
//! protocol as `toml::Spanned` (the struct name and field names below, which toml 0.8
//! recognises) but falls back to a span-less value instead of failing. The test
//! `spans_are_recorded` catches a toml release that stops recognising them.

use super::ScenarioError;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::ops::Range;

// The serde protocol of `toml::Spanned` (serde_spanned 0.6): a struct with this name and
// these three fields asks the TOML deserializer for the value's byte span.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_START, SPANNED_END, SPANNED_VALUE];
// How toml hands a date-time to a generic visitor: a one-entry map with this key.
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// A key of a table, with its span.
#[derive(Clone, Debug)]
pub(crate) struct Key {
    pub name: String,
    pub span: Option<Range<usize>>,
}

/// A TOML value with its span.
#[derive(Clone, Debug)]
pub(crate) struct Value {
    pub span: Option<Range<usize>>,
    pub node: Node,
}

#[derive(Clone, Debug)]
pub(crate) enum Node {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Value>),
    /// Entries in document order (TOML forbids duplicate keys).
    Table(Vec<(Key, Value)>),
}

impl Node {
    /// What the value is, for "expected X, got Y": the value itself for scalars.
    pub fn describe(&self) -> String {
        match self {
            Node::String(s) => format!("{s:?}"),
            Node::Integer(i) => i.to_string(),
            Node::Float(f) => format!("{f:?}"),
            Node::Boolean(b) => b.to_string(),
            Node::Datetime(d) => format!("the date-time {d}"),
            Node::Array(_) => "an array".into(),
            Node::Table(_) => "a table".into(),
        }
    }
}

/// Parses TOML text into a tree; a syntax error carries its line and column.
pub(crate) fn parse_tree(text: &str, file: &str) -> Result<Value, ScenarioError> {
    toml::from_str::<Value>(text).map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => line_column(text, span.start),
            None => (None, None),
        };
        ScenarioError::Syntax {
            file: file.to_string(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (Option<usize>, Option<usize>) {
    let Some(before) = text.get(..offset.min(text.len())) else {
        return (None, None);
    };
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (Some(line), Some(column))
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, ValueVisitor)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

/// The value inside the spanned protocol: no span of its own.
struct Unspanned(Value);

impl<'de> Deserialize<'de> for Unspanned {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Unspanned, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(Unspanned)
    }
}

fn unspanned(node: Node) -> Value {
    Value { span: None, node }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(unspanned(Node::Boolean(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(unspanned(Node::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(|v| unspanned(Node::Integer(v)))
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(unspanned(Node::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(unspanned(Node::String(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(unspanned(Node::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(unspanned(Node::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(unspanned(Node::Table(Vec::new())));
        };
        // A key without a span of its own named like the protocol's fields is the protocol
        // (a key the user wrote always has a span).
        if first.span.is_none() && first.name == SPANNED_START {
            return spanned_protocol(map, first);
        }
        if first.span.is_none() && first.name == DATETIME_KEY {
            let text: String = map.next_value()?;
            return Ok(unspanned(Node::Datetime(text)));
        }
        let mut entries = vec![(first, map.next_value::<Value>()?)];
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Value>()?;
            entries.push((key, value));
        }
        Ok(unspanned(Node::Table(entries)))
    }
}

/// Reads `start`, `end` and the value of the spanned protocol, `start` already seen.
fn spanned_protocol<'de, A: MapAccess<'de>>(mut map: A, first: Key) -> Result<Value, A::Error> {
    let (mut start, mut end, mut value) = (None, None, None);
    let mut key = Some(first);
    while let Some(k) = key {
        match k.name.as_str() {
            SPANNED_START => start = Some(map.next_value::<usize>()?),
            SPANNED_END => end = Some(map.next_value::<usize>()?),
            SPANNED_VALUE => value = Some(map.next_value::<Unspanned>()?.0),
            other => return Err(de::Error::unknown_field(other, SPANNED_FIELDS)),
        }
        key = map.next_key::<Key>()?;
    }
    match (start, end, value) {
        (Some(start), Some(end), Some(mut value)) => {
            value.span = Some(start..end);
            Ok(value)
        }
        _ => Err(de::Error::custom("incomplete span information from the TOML parser")),
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key { name: v.to_string(), span: None })
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key, E> {
        Ok(Key { name: v, span: None })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let (mut start, mut end, mut name) = (None, None, None);
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                SPANNED_START => start = Some(map.next_value::<usize>()?),
                SPANNED_END => end = Some(map.next_value::<usize>()?),
                SPANNED_VALUE => name = Some(map.next_value::<String>()?),
                other => return Err(de::Error::unknown_field(other, SPANNED_FIELDS)),
            }
        }
        match (start, end, name) {
            (Some(start), Some(end), Some(name)) => Ok(Key { name, span: Some(start..end) }),
            _ => Err(de::Error::custom("incomplete key span information from the TOML parser")),
        }
    }
}

/// Where errors go: the file's name for messages and its text for line numbers.
pub(crate) struct Source<'a> {
    pub text: &'a str,
    pub file: &'a str,
}

impl Source<'_> {
    /// An error at `span` about the value at key path `key`.
    pub fn error(
        &self,
        span: Option<&Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> ScenarioError {
        let (line, column) = match span {
            Some(span) => line_column(self.text, span.start),
            None => (None, None),
        };
        ScenarioError::Invalid {
            file: self.file.to_string(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        }
    }
}

pub(crate) type Result<T, E = ScenarioError> = std::result::Result<T, E>;

/// A table being read: its key path, where it is, its entries.
#[derive(Clone)]
pub(crate) struct Table<'a> {
    pub src: &'a Source<'a>,
    /// The key path, `""` for the document root.
    pub path: String,
    pub span: Option<&'a Range<usize>>,
    pub entries: &'a [(Key, Value)],
}

impl<'a> Table<'a> {
    pub fn root(src: &'a Source<'a>, value: &'a Value) -> Result<Table<'a>> {
        Field { src, path: String::new(), span: value.span.as_ref(), node: &value.node }.table()
    }

    /// The key path of `key` in this table.
    pub fn key_path(&self, key: &str) -> String {
        join_key(&self.path, key)
    }

    pub fn error(&self, message: impl Into<String>) -> ScenarioError {
        let path = if self.path.is_empty() { "(top level)" } else { &self.path };
        self.src.error(self.span, path, message)
    }

    /// Rejects every key not in `allowed`, naming it and listing the allowed ones.
    pub fn only(&self, allowed: &[&str]) -> Result<()> {
        for (key, _) in self.entries {
            if !allowed.contains(&key.name.as_str()) {
                let hint = did_you_mean(&key.name, allowed);
                return Err(self.src.error(
                    key.span.as_ref().or(self.span),
                    &self.key_path(&key.name),
                    format!("unknown key{hint}; allowed keys: {}", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// The line the table starts on (its `[header]`), 0 if unknown.
    pub fn line(&self) -> usize {
        self.span.and_then(|s| line_column(self.src.text, s.start).0).unwrap_or(0)
    }

    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k.name == key)
    }

    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        let (k, v) = self.entries.iter().find(|(k, _)| k.name == key)?;
        Some(Field {
            src: self.src,
            path: self.key_path(key),
            span: v.span.as_ref().or(k.span.as_ref()).or(self.span),
            node: &v.node,
        })
    }

    pub fn required(&self, key: &str) -> Result<Field<'a>> {
        self.get(key)
            .ok_or_else(|| self.src.error(self.span, &self.key_path(key), "missing required key"))
    }

    /// Every entry, for tables whose keys are data (Kafka configs).
    pub fn fields(&self) -> Vec<(&'a Key, Field<'a>)> {
        self.entries
            .iter()
            .map(|(k, v)| {
                let field = Field {
                    src: self.src,
                    path: self.key_path(&k.name),
                    span: v.span.as_ref().or(k.span.as_ref()).or(self.span),
                    node: &v.node,
                };
                (k, field)
            })
            .collect()
    }
}

/// `parent.key`, quoting keys that are not bare TOML keys (`"min.insync.replicas"`).
pub(crate) fn join_key(parent: &str, key: &str) -> String {
    let bare =
        !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare { key.to_string() } else { format!("{key:?}") };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// `" (did you mean \"x\"?)"` when `name` looks like a typo of an allowed `x`, else `""`.
pub(crate) fn did_you_mean(name: &str, allowed: &[&str]) -> String {
    closest(name, allowed).map(|near| format!(" (did you mean {near:?}?)")).unwrap_or_default()
}

/// The allowed name closest to a misspelt one, if it is close enough to be a typo.
pub(crate) fn closest<'n>(name: &str, allowed: &[&'n str]) -> Option<&'n str> {
    let near = allowed
        .iter()
        .map(|a| (edit_distance(name, a), *a))
        .filter(|(d, a)| *d <= 2.max(a.len() / 4) && *d < a.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a);
    // A key written without its unit (`deadline` for `deadline_ms`).
    near.or_else(|| {
        allowed.iter().copied().find(|a| {
            name.len() >= 3 && a.strip_prefix(name).is_some_and(|rest| rest.starts_with('_'))
        })
    })
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// One value being read, with its key path and span.
#[derive(Clone)]
pub(crate) struct Field<'a> {
    pub src: &'a Source<'a>,
    pub path: String,
    pub span: Option<&'a Range<usize>>,
    pub node: &'a Node,
}

impl<'a> Field<'a> {
    pub fn error(&self, message: impl Into<String>) -> ScenarioError {
        self.src.error(self.span, &self.path, message)
    }

    /// "expected {what}, got {the value}".
    pub fn expected(&self, what: &str) -> ScenarioError {
        self.error(format!("expected {what}, got {}", self.node.describe()))
    }

    pub fn line(&self) -> usize {
        self.span.and_then(|s| line_column(self.src.text, s.start).0).unwrap_or(0)
    }

    pub fn str(&self) -> Result<&'a str> {
        match self.node {
            Node::String(s) => Ok(s),
            _ => Err(self.expected("a string")),
        }
    }

    /// A string that is not empty.
    pub fn name(&self) -> Result<&'a str> {
        match self.node {
            Node::String(s) if !s.trim().is_empty() => Ok(s),
            _ => Err(self.expected("a non-empty string")),
        }
    }

    pub fn bool(&self) -> Result<bool> {
        match self.node {
            Node::Boolean(b) => Ok(*b),
            _ => Err(self.expected("true or false")),
        }
    }

    /// An integer in `[min, max]`.
    pub fn int(&self, min: i64, max: i64) -> Result<i64> {
        match self.node {
            Node::Integer(i) if (min..=max).contains(i) => Ok(*i),
            _ => Err(self.expected(&integer_range(min, max))),
        }
    }

    pub fn u64(&self) -> Result<u64> {
        self.int(0, i64::MAX).map(|i| i as u64)
    }

    /// An integer of at least 1.
    pub fn positive_u64(&self) -> Result<u64> {
        self.int(1, i64::MAX).map(|i| i as u64)
    }

    pub fn u32(&self, min: u32) -> Result<u32> {
        self.int(i64::from(min), i64::from(u32::MAX)).map(|i| i as u32)
    }

    /// A finite number (an integer is accepted).
    pub fn number(&self) -> Result<f64> {
        match self.node {
            Node::Integer(i) => Ok(*i as f64),
            Node::Float(f) if f.is_finite() => Ok(*f),
            _ => Err(self.expected("a number")),
        }
    }

    /// A probability in [0, 1].
    pub fn probability(&self) -> Result<f64> {
        match self.number() {
            Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
            _ => Err(self.expected("a probability in [0, 1]")),
        }
    }

    pub fn array(&self) -> Result<Vec<Field<'a>>> {
        match self.node {
            Node::Array(items) => Ok(items
                .iter()
                .enumerate()
                .map(|(i, item)| Field {
                    src: self.src,
                    path: format!("{}[{i}]", self.path),
                    span: item.span.as_ref().or(self.span),
                    node: &item.node,
                })
                .collect()),
            _ => Err(self.expected("an array")),
        }
    }

    /// An array of strings.
    pub fn strings(&self) -> Result<Vec<(String, Field<'a>)>> {
        self.array()?.into_iter().map(|f| Ok((f.str()?.to_string(), f))).collect()
    }

    /// An array of tables (`[[x]]` sections or `x = [{ ... }]`).
    pub fn tables(&self) -> Result<Vec<Table<'a>>> {
        if !matches!(self.node, Node::Array(_)) {
            return Err(self.expected("an array of tables"));
        }
        self.array()?.iter().map(Field::table).collect()
    }

    pub fn table(&self) -> Result<Table<'a>> {
        match self.node {
            Node::Table(entries) => Ok(Table {
                src: self.src,
                path: self.path.clone(),
                span: self.span,
                entries: entries.as_slice(),
            }),
            _ => Err(self.expected("a table")),
        }
    }
}

fn integer_range(min: i64, max: i64) -> String {
    match (min, max) {
        (0, i64::MAX) => "a non-negative integer".into(),
        (1, i64::MAX) => "a positive integer".into(),
        (min, i64::MAX) => format!("an integer >= {min}"),
        (min, max) => format!("an integer from {min} to {max}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Value {
        parse_tree(text, "t.toml").expect("valid TOML")
    }

    fn table_entries(value: &Value) -> &[(Key, Value)] {
        match &value.node {
            Node::Table(entries) => entries,
            other => panic!("not a table: {other:?}"),
        }
    }

    // If a toml upgrade stops recognising the spanned protocol, every error would lose its
    // line; this catches it.
    #[test]
    fn spans_are_recorded() {
        let text = "a = 1\n[b]\nc = \"x\"\n";
        let root = tree(text);
        let entries = table_entries(&root);
        assert_eq!(entries[0].0.span, Some(0..1));
        assert_eq!(entries[0].1.span, Some(4..5));
        let c = &table_entries(&entries[1].1)[0];
        assert_eq!(line_column(text, c.1.span.clone().unwrap().start), (Some(3), Some(5)));
    }

    // Implicit tables have no span of their own; they must still parse, keys keep theirs.
    #[test]
    fn implicit_and_dotted_tables_parse() {
        let text = "[x.y]\nmin.insync.replicas = \"2\"\n";
        let root = tree(text);
        let x = &table_entries(&root)[0];
        assert_eq!(x.0.name, "x");
        assert!(x.0.span.is_some());
        let y = &table_entries(&x.1)[0];
        let min = &table_entries(&y.1)[0];
        assert_eq!(min.0.name, "min");
        assert!(min.0.span.is_some());
    }

    #[test]
    fn datetimes_are_values() {
        let root = tree("d = 1979-05-27T07:32:00Z\n");
        let d = &table_entries(&root)[0].1;
        assert!(matches!(&d.node, Node::Datetime(s) if s == "1979-05-27T07:32:00Z"));
    }

    #[test]
    fn typo_hints() {
        assert_eq!(closest("ack", &["acks", "topic"]), Some("acks"));
        assert_eq!(closest("partitons", &["partitions", "name"]), Some("partitions"));
        assert_eq!(closest("zzzz", &["acks", "id"]), None);
        assert_eq!(closest("deadline", &["enabled", "deadline_ms"]), Some("deadline_ms"));
    }
}
