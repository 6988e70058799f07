//! The request body of `POST /admin/v1/orders` parsed into validated [`OrderInput`]s, or every
//! problem of every row at once.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Map, Value};

use super::money::{Money, NOT_DECIMAL};
use crate::domain::email::EmailAddress;
use crate::domain::time;
use crate::domain::validate::{join_path, reject_unknown, short_text, FieldErrors};

/// Path → problem, e.g. `"orders[3].total" → "required"`.
pub type OrderErrors = FieldErrors;

/// Most orders one request may carry.
pub const MAX_ORDERS: usize = 500;
/// Most items one order may carry.
pub const MAX_ITEMS: usize = 200;
/// Largest quantity of one item line.
pub const MAX_QUANTITY: u32 = 10_000;

const MAX_EXTERNAL_ID_LEN: usize = 100;
const MAX_NAME_LEN: usize = 200;
const MAX_SKU_LEN: usize = 100;
const MAX_CATEGORY_LEN: usize = 100;

/// Clocks of shop back ends drift and time zones get mislabelled; more than this is a bug.
const FUTURE_TOLERANCE_DAYS: i64 = 1;
/// Before this a negative offset could turn year 0000 into year -1, which no longer sorts as
/// text; no real order predates it.
const EARLIEST_PLACED_AT: &str = "1970-01-01T00:00:00Z";

const ORDER_KEYS: [&str; 7] = [
    "external_id",
    "email",
    "name",
    "total",
    "currency",
    "placed_at",
    "items",
];
const ITEM_KEYS: [&str; 5] = ["sku", "name", "category", "quantity", "price"];

pub(super) const REQUIRED: &str = "required";
pub(super) const NOT_TEXT: &str = "must be text";

/// One line of an order, as stored in `orders.items`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemInput {
    pub sku: String,
    pub name: Option<String>,
    /// Trimmed and lower-cased, so segments on "Bags" and "bags" agree.
    pub category: Option<String>,
    pub quantity: u32,
    /// Unit price.
    pub price_cents: i64,
}

/// One order that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderInput {
    pub external_id: String,
    pub email: EmailAddress,
    /// For a buyer not yet known; an existing contact's name is not overwritten by an order.
    pub name: Option<String>,
    pub total: Money,
    /// ISO 4217 shape, upper case.
    pub currency: String,
    /// RFC 3339 UTC as [`time::format`] writes it.
    pub placed_at: String,
    pub items: Vec<ItemInput>,
}

impl OrderInput {
    /// The `orders.items` column: `[{"sku","name","category","quantity","price_cents"}]`, with
    /// `null` for an absent name or category so every element has the same keys.
    pub fn items_json(&self) -> String {
        Value::Array(
            self.items
                .iter()
                .map(|item| {
                    json!({
                        "sku": item.sku,
                        "name": item.name,
                        "category": item.category,
                        "quantity": item.quantity,
                        "price_cents": item.price_cents,
                    })
                })
                .collect(),
        )
        .to_string()
    }
}

/// Parses a whole request. `now` bounds `placed_at`.
pub fn parse_orders(body: &Value, now: DateTime<Utc>) -> Result<Vec<OrderInput>, OrderErrors> {
    let mut errors = OrderErrors::new();
    let Some(object) = body.as_object() else {
        errors.insert("body".into(), "a JSON object with an orders list".into());
        return Err(errors);
    };
    reject_unknown(object, &["orders"], "", "unknown field", &mut errors);
    let rows = match object.get("orders") {
        Some(Value::Array(rows)) if (1..=MAX_ORDERS).contains(&rows.len()) => rows,
        _ => {
            // Validating rows of an oversized batch would only pad the answer.
            errors.insert(
                "orders".into(),
                format!("a list of 1 to {MAX_ORDERS} orders"),
            );
            return Err(errors);
        }
    };
    let mut first_row_of: HashMap<String, usize> = HashMap::new();
    let mut orders = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let path = format!("orders[{index}]");
        let Some(row) = row.as_object() else {
            errors.insert(path, "an object".into());
            continue;
        };
        let mut fields = Fields {
            object: row,
            path: &path,
            errors: &mut errors,
        };
        let order = parse_order(&mut fields, now);
        if let Some(id) = &order.external_id {
            if let Some(first) = first_row_of.get(id) {
                errors.insert(
                    format!("{path}.external_id"),
                    format!("duplicate of orders[{first}]"),
                );
            } else {
                first_row_of.insert(id.clone(), index);
            }
        }
        orders.extend(order.complete());
    }
    if errors.is_empty() {
        Ok(orders)
    } else {
        Err(errors)
    }
}

/// The pieces of one order that parsed; complete only when its row had no problem.
struct PartialOrder {
    external_id: Option<String>,
    email: Option<EmailAddress>,
    name: Option<String>,
    total: Option<Money>,
    currency: Option<String>,
    placed_at: Option<String>,
    items: Option<Vec<ItemInput>>,
    problems: bool,
}

impl PartialOrder {
    fn complete(self) -> Option<OrderInput> {
        if self.problems {
            return None;
        }
        Some(OrderInput {
            external_id: self.external_id?,
            email: self.email?,
            name: self.name,
            total: self.total?,
            currency: self.currency?,
            placed_at: self.placed_at?,
            items: self.items?,
        })
    }
}

fn parse_order(fields: &mut Fields<'_>, now: DateTime<Utc>) -> PartialOrder {
    let before = fields.errors.len();
    reject_unknown(
        fields.object,
        &ORDER_KEYS,
        fields.path,
        "unknown field",
        fields.errors,
    );
    let external_id = fields.required_text("external_id").and_then(|text| {
        fields.check(
            "external_id",
            short_text(text, MAX_EXTERNAL_ID_LEN),
            "1 to 100 printable characters",
        )
    });
    let email = fields
        .required_text("email")
        .and_then(|text| match EmailAddress::parse(text) {
            Ok(email) => Some(email),
            Err(problem) => fields.check("email", None, problem.message()),
        });
    let name = fields.optional_text("name").and_then(|text| {
        fields.check(
            "name",
            short_text(text, MAX_NAME_LEN),
            "1 to 200 printable characters",
        )
    });
    let total = fields.money("total");
    let currency = fields.required_text("currency").and_then(|text| {
        fields.check(
            "currency",
            currency_code(text),
            "a three-letter currency code such as BRL",
        )
    });
    let placed_at = fields
        .required_text("placed_at")
        .and_then(|text| parse_placed_at(fields, text, now));
    let items = parse_items(fields);
    PartialOrder {
        external_id,
        email,
        name,
        total,
        currency,
        placed_at,
        items,
        problems: fields.errors.len() > before,
    }
}

fn currency_code(input: &str) -> Option<String> {
    let code = input.trim().to_ascii_uppercase();
    (code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())).then_some(code)
}

fn parse_placed_at(fields: &mut Fields<'_>, text: &str, now: DateTime<Utc>) -> Option<String> {
    let Some(at) = time::parse(text) else {
        return fields.check(
            "placed_at",
            None,
            "an RFC 3339 time such as 2026-11-01T12:00:00Z",
        );
    };
    if at > now + Duration::days(FUTURE_TOLERANCE_DAYS) {
        return fields.check("placed_at", None, "more than a day in the future");
    }
    if time::parse(EARLIEST_PLACED_AT).is_some_and(|earliest| at < earliest) {
        return fields.check("placed_at", None, "before 1970");
    }
    Some(time::format(at))
}

fn parse_items(fields: &mut Fields<'_>) -> Option<Vec<ItemInput>> {
    let list = match fields.object.get("items") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(list)) if list.len() <= MAX_ITEMS => list,
        Some(_) => {
            return fields.check(
                "items",
                None,
                &format!("a list of at most {MAX_ITEMS} items"),
            )
        }
    };
    let mut items = Vec::with_capacity(list.len());
    let mut complete = true;
    for (index, item) in list.iter().enumerate() {
        let path = format!("{}.items[{index}]", fields.path);
        let Some(object) = item.as_object() else {
            fields.errors.insert(path, "an object".into());
            complete = false;
            continue;
        };
        let mut item_fields = Fields {
            object,
            path: &path,
            errors: &mut *fields.errors,
        };
        match parse_item(&mut item_fields) {
            Some(item) => items.push(item),
            None => complete = false,
        }
    }
    complete.then_some(items)
}

fn parse_item(fields: &mut Fields<'_>) -> Option<ItemInput> {
    let before = fields.errors.len();
    reject_unknown(
        fields.object,
        &ITEM_KEYS,
        fields.path,
        "unknown field",
        fields.errors,
    );
    let sku = fields.required_text("sku").and_then(|text| {
        fields.check(
            "sku",
            short_text(text, MAX_SKU_LEN),
            "1 to 100 printable characters",
        )
    });
    let name = fields.optional_text("name").and_then(|text| {
        fields.check(
            "name",
            short_text(text, MAX_NAME_LEN),
            "1 to 200 printable characters",
        )
    });
    let category = fields.optional_text("category").and_then(|text| {
        // Lower-casing can lengthen a string, so the limit applies to what is stored.
        let lowered = text.trim().to_lowercase();
        fields.check(
            "category",
            short_text(&lowered, MAX_CATEGORY_LEN),
            "1 to 100 printable characters",
        )
    });
    let quantity = fields.quantity("quantity");
    let price = fields.money("price");
    if fields.errors.len() > before {
        return None;
    }
    Some(ItemInput {
        sku: sku?,
        name,
        category,
        quantity: quantity?,
        price_cents: price?.cents(),
    })
}

/// One JSON object being parsed, the path that names it, and where its problems go.
struct Fields<'a> {
    object: &'a Map<String, Value>,
    path: &'a str,
    errors: &'a mut OrderErrors,
}

impl<'a> Fields<'a> {
    fn path_of(&self, key: &str) -> String {
        join_path(self.path, key)
    }

    /// Records `problem` at `key` when `parsed` is `None`; passes `parsed` through.
    fn check<T>(&mut self, key: &str, parsed: Option<T>, problem: &str) -> Option<T> {
        if parsed.is_none() {
            self.errors.insert(self.path_of(key), problem.to_string());
        }
        parsed
    }

    fn required_text(&mut self, key: &str) -> Option<&'a str> {
        match self.object.get(key) {
            None | Some(Value::Null) => self.check(key, None, REQUIRED),
            Some(Value::String(text)) if text.trim().is_empty() => self.check(key, None, REQUIRED),
            Some(Value::String(text)) => Some(text.as_str()),
            Some(_) => self.check(key, None, NOT_TEXT),
        }
    }

    /// `None` both when absent and when of the wrong type; only the latter is a problem.
    fn optional_text(&mut self, key: &str) -> Option<&'a str> {
        match self.object.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.trim().is_empty() => None,
            Some(Value::String(text)) => Some(text.as_str()),
            Some(_) => self.check(key, None, NOT_TEXT),
        }
    }

    fn money(&mut self, key: &str) -> Option<Money> {
        match self.object.get(key) {
            None | Some(Value::Null) => self.check(key, None, REQUIRED),
            Some(Value::String(text)) => match Money::parse(text) {
                Ok(money) => Some(money),
                Err(problem) => self.check(key, None, problem),
            },
            // A JSON number has already been through someone's float: 0.1 + 0.2 territory.
            Some(_) => self.check(key, None, NOT_DECIMAL),
        }
    }

    fn quantity(&mut self, key: &str) -> Option<u32> {
        match self.object.get(key) {
            None | Some(Value::Null) => self.check(key, None, REQUIRED),
            Some(value) => {
                let quantity = value
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (1..=MAX_QUANTITY).contains(n));
                self.check(key, quantity, "a whole number from 1 to 10000")
            }
        }
    }
}
