//! The Rust backend: a compiled rule run on one contact's [`ContactFacts`], giving exactly what
//! the SQL gives for that contact's row, down to how SQLite orders an integer against a real.

use std::cmp::Ordering;

use serde_json::Value;

use super::facts::ContactFacts;
use super::plan::{AttrPred, Cmp, CompiledRule, JsonClass, Pred, Test};
use super::sql::SqlValue;

impl CompiledRule {
    pub fn eval(&self, facts: &ContactFacts) -> bool {
        holds(&self.pred, facts)
    }
}

fn holds(pred: &Pred, f: &ContactFacts) -> bool {
    match pred {
        Pred::Const(b) => *b,
        Pred::All(items) => items.iter().all(|p| holds(p, f)),
        Pred::Any(items) => items.iter().any(|p| holds(p, f)),
        Pred::Not(inner) => !holds(inner, f),
        Pred::Present(col) => col.value(f).is_some(),
        Pred::Column(col, test) => col.value(f).is_some_and(|v| passes(test, &v)),
        Pred::Attr(key, attr) => f.attributes.get(key).is_some_and(|v| attr_holds(attr, v)),
        Pred::Active => f.status == "active",
        Pred::Consent(purpose) => f.consents.contains(purpose),
        Pred::Withdrawn(purpose) => f.withdrawn.contains(purpose),
        Pred::Frequency(purpose, test) => f
            .frequencies
            .get(purpose)
            .is_some_and(|v| passes(test, &SqlValue::Text(v.clone()))),
        Pred::Bought(item, test) => item.of(f).iter().any(|x| {
            test.as_ref()
                .is_none_or(|t| passes(t, &SqlValue::Text(x.clone())))
        }),
        Pred::Member(test) => f
            .segments
            .iter()
            .any(|id| passes(test, &SqlValue::Text(id.clone()))),
    }
}

fn passes(test: &Test, value: &SqlValue) -> bool {
    match test {
        Test::Cmp(cmp, bound) => compare(value, bound).is_some_and(|o| cmp_holds(*cmp, o)),
        Test::In(items) => items
            .iter()
            .any(|b| compare(value, b) == Some(Ordering::Equal)),
        Test::NotIn(items) => !items
            .iter()
            .any(|b| compare(value, b) == Some(Ordering::Equal)),
        Test::Contains(needle) => as_text(value).is_some_and(|t| t.contains(needle.as_str())),
        Test::StartsWith(needle) => as_text(value).is_some_and(|t| t.starts_with(needle.as_str())),
    }
}

/// What `instr` sees of a value. Only text columns reach `contains`; integers are spelled as
/// SQLite spells them, reals are left out rather than imitating SQLite's `%!.15g`.
fn as_text(value: &SqlValue) -> Option<String> {
    match value {
        SqlValue::Text(t) => Some(t.clone()),
        SqlValue::Int(i) => Some(i.to_string()),
        SqlValue::Real(_) | SqlValue::Null => None,
    }
}

fn cmp_holds(cmp: Cmp, o: Ordering) -> bool {
    match cmp {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Ne => o != Ordering::Equal,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Le => o != Ordering::Greater,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Ge => o != Ordering::Less,
    }
}

/// SQLite's comparison of two values without affinity: NULL compares to nothing; numbers come
/// before texts; an integer and a real compare exactly (not through a lossy cast); texts
/// compare byte by byte (the BINARY collation, as Rust's `str` ordering does).
pub(super) fn compare(a: &SqlValue, b: &SqlValue) -> Option<Ordering> {
    use SqlValue::*;
    Some(match (a, b) {
        (Null, _) | (_, Null) => return None,
        (Int(x), Int(y)) => x.cmp(y),
        (Real(x), Real(y)) => x.partial_cmp(y)?,
        (Int(x), Real(y)) => int_real(*x, *y)?,
        (Real(x), Int(y)) => int_real(*y, *x)?.reverse(),
        (Text(x), Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Int(_) | Real(_), Text(_)) => Ordering::Less,
        (Text(_), Int(_) | Real(_)) => Ordering::Greater,
    })
}

/// `sqlite3IntFloatCompare` without long double: exact for every i64 and finite f64.
fn int_real(i: i64, r: f64) -> Option<Ordering> {
    if r.is_nan() {
        return None;
    }
    // 2^63 as f64; every f64 at or beyond it lies outside i64.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if r < -TWO_63 {
        return Some(Ordering::Greater);
    }
    if r >= TWO_63 {
        return Some(Ordering::Less);
    }
    let truncated = r as i64;
    match i.cmp(&truncated) {
        Ordering::Equal => (i as f64).partial_cmp(&r),
        other => Some(other),
    }
}

/// The name `json_type` gives a JSON value.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "real",
        Value::String(_) => "text",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What `json_extract(value, '$')` gives for a scalar of `class`.
fn json_sql(v: &Value, class: JsonClass) -> Option<SqlValue> {
    match (class, v) {
        (JsonClass::Text, Value::String(s)) => Some(SqlValue::Text(s.clone())),
        (JsonClass::Number, Value::Number(n)) => Some(match n.as_i64() {
            Some(i) => SqlValue::Int(i),
            None => SqlValue::Real(n.as_f64()?),
        }),
        _ => None,
    }
}

fn attr_holds(attr: &AttrPred, v: &Value) -> bool {
    match attr {
        AttrPred::NotNull => json_type(v) != "null",
        AttrPred::Bool(b) => v.as_bool() == Some(*b),
        AttrPred::Typed(class, test) => json_sql(v, *class).is_some_and(|x| passes(test, &x)),
        AttrPred::Contains(needle) => match v {
            Value::String(s) => s.contains(needle.as_str()),
            Value::Array(items) => items.iter().any(|e| e.as_str() == Some(needle.as_str())),
            _ => false,
        },
        AttrPred::NotNullAndNot(inner) => json_type(v) != "null" && !attr_holds(inner, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_reals_compare_exactly() {
        use SqlValue::*;
        assert_eq!(compare(&Int(2), &Real(2.5)), Some(Ordering::Less));
        assert_eq!(compare(&Int(3), &Real(2.5)), Some(Ordering::Greater));
        assert_eq!(compare(&Int(2), &Real(2.0)), Some(Ordering::Equal));
        assert_eq!(compare(&Real(-0.0), &Int(0)), Some(Ordering::Equal));
        assert_eq!(compare(&Int(-3), &Real(-2.5)), Some(Ordering::Less));
        // 2^53 + 1 is not a double; a cast would call these equal.
        let big = (1_i64 << 53) + 1;
        assert_eq!(
            compare(&Int(big), &Real((1_i64 << 53) as f64)),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(&Int(i64::MAX), &Real(1e19)), Some(Ordering::Less));
        assert_eq!(
            compare(&Int(i64::MIN), &Real(-1e19)),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn numbers_sort_before_texts_and_null_compares_to_nothing() {
        use SqlValue::*;
        assert_eq!(compare(&Int(9), &Text("1".into())), Some(Ordering::Less));
        assert_eq!(
            compare(&Text("".into()), &Real(1e300)),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(&Null, &Null), None);
        assert_eq!(
            compare(&Text("B".into()), &Text("a".into())),
            Some(Ordering::Less)
        );
        assert_eq!(
            compare(&Text("é".into()), &Text("z".into())),
            Some(Ordering::Greater)
        );
    }
}
