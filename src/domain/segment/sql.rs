//! The SQL backend: a compiled rule as a `WHERE` fragment over
//! `contacts c LEFT JOIN contact_stats s ON s.contact_id = c.id`, with plain `?` placeholders
//! bound in order.
//!
//! Every value a marketer wrote is a bound parameter; the fragment's text comes only from the
//! fixed expressions in `plan.rs` and the literals here, none of which contains a `?`, so the
//! placeholders can also be renumbered textually ([`numbered`]). A list (`in`, `not_in`) is one
//! parameter, a JSON array read with `json_each`, because D1 binds at most 100 values per
//! statement.

use serde_json::{Number, Value};

use super::plan::{AttrPred, Cmp, CompiledRule, JsonClass, Pred, Test};

/// A value to bind, in the order the `?` appear. The store maps these onto its own bindings
/// (on D1: `Int` as `f64`, since D1 rejects JavaScript BigInt).
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Text(String),
    Int(i64),
    Real(f64),
    Null,
}

impl SqlValue {
    fn to_json(&self) -> Value {
        match self {
            SqlValue::Text(t) => Value::String(t.clone()),
            SqlValue::Int(i) => Value::from(*i),
            SqlValue::Real(r) => Number::from_f64(*r).map_or(Value::Null, Value::Number),
            SqlValue::Null => Value::Null,
        }
    }
}

/// Rewrites the plain `?` of a fragment as `?N`, `?N+1`, … from `first`, for statements that
/// use numbered parameters elsewhere. Only valid on fragments from this module, whose text
/// holds no `?` but placeholders.
pub fn numbered(fragment: &str, first: usize) -> String {
    let mut out = String::with_capacity(fragment.len() + 16);
    let mut next = first;
    for ch in fragment.chars() {
        if ch == '?' {
            out.push_str(&format!("?{next}"));
            next += 1;
        } else {
            out.push(ch);
        }
    }
    out
}

impl CompiledRule {
    /// The `WHERE` fragment and its parameters. The fragment is never NULL for any row.
    pub fn to_sql(&self) -> (String, Vec<SqlValue>) {
        let mut w = Writer::default();
        w.pred(&self.pred);
        (w.sql, w.params)
    }
}

#[derive(Default)]
struct Writer {
    sql: String,
    params: Vec<SqlValue>,
}

/// A JSON attribute value as SQL: TEXT for strings, INTEGER or REAL for numbers.
const ATTR_VALUE: &str = "json_extract(a.value, '$')";

impl Writer {
    fn push(&mut self, s: &str) {
        self.sql.push_str(s);
    }

    fn bind(&mut self, value: SqlValue) {
        self.sql.push('?');
        self.params.push(value);
    }

    fn join(&mut self, items: &[Pred], glue: &str, empty: &str) {
        if items.is_empty() {
            self.push(empty);
            return;
        }
        self.push("(");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.push(glue);
            }
            self.pred(item);
        }
        self.push(")");
    }

    fn pred(&mut self, pred: &Pred) {
        match pred {
            Pred::Const(true) => self.push("1"),
            Pred::Const(false) => self.push("0"),
            Pred::All(items) => self.join(items, " AND ", "1"),
            Pred::Any(items) => self.join(items, " OR ", "0"),
            Pred::Not(inner) => {
                self.push("(NOT ");
                self.pred(inner);
                self.push(")");
            }
            Pred::Present(col) => {
                self.push("(");
                self.push(col.sql());
                self.push(" IS NOT NULL)");
            }
            Pred::Column(col, test) => {
                self.push("(");
                self.push(col.sql());
                self.push(" IS NOT NULL AND ");
                self.test(col.sql(), test);
                self.push(")");
            }
            Pred::Attr(key, attr) => {
                self.push(
                    "EXISTS (SELECT 1 FROM contact_attributes a \
                     WHERE a.contact_id = c.id AND a.key = ",
                );
                self.bind(SqlValue::Text(key.clone()));
                self.push(" AND ");
                self.attr(attr);
                self.push(")");
            }
            Pred::Active => self.push("(c.status = 'active')"),
            Pred::Consent(purpose) => self.consent(purpose, "k.granted = 1", None),
            Pred::Withdrawn(purpose) => self.consent(purpose, "k.granted = 0", None),
            Pred::Frequency(purpose, test) => self.consent(purpose, "k.granted = 1", Some(test)),
            Pred::Bought(item, test) => {
                let path = item.json_path();
                self.push(&format!(
                    "EXISTS (SELECT 1 FROM orders o, json_each(o.items) j \
                     WHERE o.contact_id = c.id AND json_type(j.value, '{path}') = 'text'"
                ));
                if let Some(test) = test {
                    self.push(" AND ");
                    self.test(&format!("json_extract(j.value, '{path}')"), test);
                }
                self.push(")");
            }
            Pred::Member(test) => {
                self.push(
                    // A deleted segment has no members from the moment it is deleted, however
                    // long its rows take to purge.
                    "EXISTS (SELECT 1 FROM segment_members m \
                     JOIN segments g ON g.id = m.segment_id AND g.deleted_at IS NULL \
                     WHERE m.contact_id = c.id AND ",
                );
                self.test("m.segment_id", test);
                self.push(")");
            }
        }
    }

    /// `expr` must not be NULL where this runs (callers guard it).
    /// The person's decision on `purpose` passes `state` (and its frequency, `all` when none was
    /// chosen, passes `frequency`).
    fn consent(&mut self, purpose: &str, state: &str, frequency: Option<&Test>) {
        self.push("EXISTS (SELECT 1 FROM consents k WHERE k.contact_id = c.id AND k.purpose = ");
        self.bind(SqlValue::Text(purpose.to_string()));
        self.push(" AND ");
        self.push(state);
        if let Some(test) = frequency {
            self.push(" AND ");
            self.test("COALESCE(k.frequency, 'all')", test);
        }
        self.push(")");
    }

    fn test(&mut self, expr: &str, test: &Test) {
        match test {
            Test::Cmp(cmp, value) => {
                let op = match cmp {
                    Cmp::Eq => "=",
                    Cmp::Ne => "<>",
                    Cmp::Lt => "<",
                    Cmp::Le => "<=",
                    Cmp::Gt => ">",
                    Cmp::Ge => ">=",
                };
                self.push(&format!("{expr} {op} "));
                self.bind(value.clone());
            }
            Test::In(items) | Test::NotIn(items) => {
                let keyword = if matches!(test, Test::In(_)) {
                    "IN"
                } else {
                    "NOT IN"
                };
                self.push(&format!("{expr} {keyword} (SELECT value FROM json_each("));
                let list = Value::Array(items.iter().map(SqlValue::to_json).collect());
                self.bind(SqlValue::Text(list.to_string()));
                self.push("))");
            }
            // instr, not LIKE: no wildcards to escape, case-sensitive like Rust, and D1 caps
            // LIKE patterns at 50 bytes.
            Test::Contains(needle) => {
                self.push(&format!("instr({expr}, "));
                self.bind(SqlValue::Text(needle.clone()));
                self.push(") > 0");
            }
            Test::StartsWith(needle) => {
                self.push(&format!("instr({expr}, "));
                self.bind(SqlValue::Text(needle.clone()));
                self.push(") = 1");
            }
        }
    }

    fn attr(&mut self, attr: &AttrPred) {
        match attr {
            AttrPred::NotNull => self.push("json_type(a.value) <> 'null'"),
            AttrPred::Bool(true) => self.push("json_type(a.value) = 'true'"),
            AttrPred::Bool(false) => self.push("json_type(a.value) = 'false'"),
            AttrPred::Typed(class, test) => {
                self.push(match class {
                    JsonClass::Text => "(json_type(a.value) = 'text' AND ",
                    JsonClass::Number => "(json_type(a.value) IN ('integer', 'real') AND ",
                });
                self.test(ATTR_VALUE, test);
                self.push(")");
            }
            AttrPred::Contains(needle) => {
                self.push("((json_type(a.value) = 'text' AND instr(");
                self.push(ATTR_VALUE);
                self.push(", ");
                self.bind(SqlValue::Text(needle.clone()));
                self.push(
                    ") > 0) OR (json_type(a.value) = 'array' AND EXISTS (SELECT 1 FROM \
                     json_each(a.value) e WHERE e.type = 'text' AND e.value = ",
                );
                self.bind(SqlValue::Text(needle.clone()));
                self.push(")))");
            }
            AttrPred::NotNullAndNot(inner) => {
                self.push("(json_type(a.value) <> 'null' AND NOT (");
                self.attr(inner);
                self.push("))");
            }
        }
    }
}
