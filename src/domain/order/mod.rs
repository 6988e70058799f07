//! Order ingestion (`POST /admin/v1/orders`): the request body parsed into validated
//! [`OrderInput`]s or every problem at once, exact decimal [`Money`], and the [`OrderStats`]
//! arithmetic that keeps `contact_stats` current as orders arrive.
//!
//! Public API:
//! - [`parse_orders`]`(body, now) -> Result<Vec<OrderInput>, OrderErrors>`
//! - [`OrderInput`] (with [`OrderInput::items_json`]) and [`ItemInput`]
//! - [`Money`] (`parse`, `from_cents`, `cents`, `Display`)
//! - [`OrderStats`] (`apply` for a new order, `replace` for one sent again)
//! - [`MAX_ORDERS`], [`MAX_ITEMS`], [`MAX_QUANTITY`]
//!
//! Rules:
//! - The body is `{"orders":[…]}` with 1 to [`MAX_ORDERS`] orders. A body that is not an object
//!   is reported under `body`; a missing, empty, too long or non-array `orders` under `orders`.
//! - Errors are keyed by path (`orders[3].total`, `orders[0].items[2].price`) and collected over
//!   every row, so one answer names every problem and the caller writes nothing. Unknown keys at
//!   any level are errors at their own path. Messages never quote a submitted value (PII).
//! - Optional values (`name`, `items`, an item's `name` and `category`) are absent when `null`;
//!   optional texts are also absent when blank, because shop exports fill empty columns with `""`.
//! - `external_id` must be unique within the batch: a later repeat is refused with
//!   `duplicate of orders[N]`, naming the first row that used it.
//! - `total` is what counts as spending; it need not equal the sum of the items (shipping,
//!   discounts and taxes live in the difference).
//!
//! Stages, one file each: `money.rs` ([`Money`]), `parse.rs` (the request: [`parse_orders`],
//! [`OrderInput`], [`ItemInput`]) and `stats.rs` ([`OrderStats`]); their tests are in `tests.rs`.

mod money;
mod parse;
mod stats;

#[cfg(test)]
mod tests;

pub use money::Money;
pub use parse::{
    parse_orders, ItemInput, OrderErrors, OrderInput, MAX_ITEMS, MAX_ORDERS, MAX_QUANTITY,
};
pub use stats::OrderStats;
