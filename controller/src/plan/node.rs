//! A plan file as a tree of spanned nodes, so that every error can point at its text.

use std::ops::Range;

use toml_edit::{ImDocument, Item, Value};

/// One TOML value with where it stands in the file.
#[derive(Debug, Clone)]
pub enum Node<'a> {
    /// A table (`[x]`, `{ .. }`): entries with the span of their key.
    Table(Vec<Entry<'a>>, Range<usize>),
    /// An array or an array of tables.
    Array(Vec<Node<'a>>, Range<usize>),
    /// A string.
    Str(&'a str, Range<usize>),
    /// An integer.
    Int(i64, Range<usize>),
    /// A float.
    Float(f64, Range<usize>),
    /// A boolean.
    Bool(bool, Range<usize>),
    /// A date or time.
    Other(Range<usize>),
}

/// A key and its value.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Key text.
    pub key: &'a str,
    /// Span of the key.
    pub key_span: Range<usize>,
    /// Value.
    pub node: Node<'a>,
}

impl<'a> Node<'a> {
    /// Where the node stands.
    pub fn span(&self) -> Range<usize> {
        match self {
            Node::Table(_, s)
            | Node::Array(_, s)
            | Node::Str(_, s)
            | Node::Int(_, s)
            | Node::Float(_, s)
            | Node::Bool(_, s)
            | Node::Other(s) => s.clone(),
        }
    }

    /// What kind of value it is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Table(..) => "a table",
            Node::Array(..) => "an array",
            Node::Str(..) => "a string",
            Node::Int(..) => "an integer",
            Node::Float(..) => "a float",
            Node::Bool(..) => "a boolean",
            Node::Other(..) => "a date",
        }
    }

    /// A number, integer or float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Node::Int(i, _) => Some(*i as f64),
            Node::Float(f, _) => Some(*f),
            _ => None,
        }
    }
}

/// Parses a document into nodes.
pub fn parse(doc: &ImDocument<String>) -> Node<'_> {
    table(
        doc.as_table().iter().map(|(k, _)| k),
        |k| doc.as_table().get_key_value(k),
        doc.as_table().span().unwrap_or(0..0),
    )
}

fn table<'a>(
    keys: impl Iterator<Item = &'a str>,
    get: impl Fn(&str) -> Option<(&'a toml_edit::Key, &'a Item)>,
    span: Range<usize>,
) -> Node<'a> {
    let mut entries = Vec::new();
    for k in keys {
        if let Some((key, item)) = get(k) {
            let node = item_node(item);
            let key_span = key.span().unwrap_or_else(|| node.span());
            entries.push(Entry {
                key: key.get(),
                key_span,
                node,
            });
        }
    }
    Node::Table(entries, span)
}

fn item_node(item: &Item) -> Node<'_> {
    match item {
        Item::Table(t) => {
            let span = t.span().unwrap_or(0..0);
            table(t.iter().map(|(k, _)| k), |k| t.get_key_value(k), span)
        }
        Item::ArrayOfTables(a) => {
            let items: Vec<Node<'_>> = a
                .iter()
                .map(|t| {
                    table(
                        t.iter().map(|(k, _)| k),
                        |k| t.get_key_value(k),
                        t.span().unwrap_or(0..0),
                    )
                })
                .collect();
            let span = a
                .span()
                .or_else(|| items.first().map(|n| n.span()))
                .unwrap_or(0..0);
            Node::Array(items, span)
        }
        Item::Value(v) => value_node(v),
        Item::None => Node::Other(0..0),
    }
}

fn value_node(v: &Value) -> Node<'_> {
    let span = v.span().unwrap_or(0..0);
    match v {
        Value::String(s) => Node::Str(s.value(), span),
        Value::Integer(i) => Node::Int(*i.value(), span),
        Value::Float(f) => Node::Float(*f.value(), span),
        Value::Boolean(b) => Node::Bool(*b.value(), span),
        Value::Datetime(_) => Node::Other(span),
        Value::Array(a) => Node::Array(a.iter().map(value_node).collect(), span),
        Value::InlineTable(t) => {
            let mut entries = Vec::new();
            for (k, _) in t.iter() {
                if let Some((key, item)) = t.get_key_value(k) {
                    let node = item_node(item);
                    entries.push(Entry {
                        key: key.get(),
                        key_span: key.span().unwrap_or_else(|| node.span()),
                        node,
                    });
                }
            }
            Node::Table(entries, span)
        }
    }
}
