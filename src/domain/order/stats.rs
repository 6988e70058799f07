//! [`OrderStats`]: the order facts `contact_stats` keeps per contact, moved as orders arrive.

/// The order facts of one contact, as `contact_stats` holds them.
///
/// Totals add cents whatever the currency: a shop sells in one currency, and converting would
/// need rates this pure module does not have. First and last order times are min and max as text,
/// which is correct because every stored time has
/// [`time::format`](crate::domain::time::format)'s fixed width.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderStats {
    pub order_count: i64,
    pub total_spent_cents: i64,
    pub first_order_at: Option<String>,
    pub last_order_at: Option<String>,
}

impl OrderStats {
    /// After a new order (an `external_id` not seen before).
    pub fn apply(&self, placed_at: &str, total_cents: i64) -> OrderStats {
        OrderStats {
            order_count: self.order_count.saturating_add(1),
            total_spent_cents: self.total_spent_cents.saturating_add(total_cents),
            ..self.widened(placed_at)
        }
    }

    /// After an order sent again under the same `external_id`: the count stays, the total moves by
    /// the difference. A changed `placed_at` can only widen first/last: narrowing them would need
    /// every other order of the contact, so the store recomputes from `orders` when that matters.
    pub fn replace(
        &self,
        old_total_cents: i64,
        new_total_cents: i64,
        placed_at: &str,
    ) -> OrderStats {
        OrderStats {
            total_spent_cents: self
                .total_spent_cents
                .saturating_sub(old_total_cents)
                .saturating_add(new_total_cents),
            ..self.widened(placed_at)
        }
    }

    fn widened(&self, placed_at: &str) -> OrderStats {
        let earlier = |current: &Option<String>| match current {
            Some(at) if at.as_str() <= placed_at => at.clone(),
            _ => placed_at.to_string(),
        };
        let later = |current: &Option<String>| match current {
            Some(at) if at.as_str() >= placed_at => at.clone(),
            _ => placed_at.to_string(),
        };
        OrderStats {
            order_count: self.order_count,
            total_spent_cents: self.total_spent_cents,
            first_order_at: Some(earlier(&self.first_order_at)),
            last_order_at: Some(later(&self.last_order_at)),
        }
    }
}
