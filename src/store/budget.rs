//! The platform-limits guard: what one invocation (a request, a queue batch, a cron run) may ask
//! of D1 in production, counted and, where `PLATFORM_LIMITS=enforce`, refused when passed.
//!
//! Local D1 has no per-invocation query cap and no statement limits, so code that would die in
//! production passes every local test. `make dev` and the tests run with the guard on; production
//! leaves it off (D1 enforces the real limits there). Jobs size their chunks from
//! [`Budget::remaining`] in both, so the same code fits 50 queries (the free plan) and 1,000.
//!
//! How a batch counts: Cloudflare documents the per-invocation cap in queries and subrequests
//! without saying how a `batch()` of several statements counts. The guard counts a batch as one
//! call (it is one subrequest) and checks every statement in it against the per-statement limits;
//! an operator who prefers the cautious reading lowers `D1_QUERIES_PER_INVOCATION`.

use std::cell::{Cell, RefCell};

/// Cloudflare's D1 limits that the guard knows.
pub const MAX_BOUND_PARAMETERS: usize = 100;
/// Maximum SQL statement length, in bytes.
pub const MAX_STATEMENT_BYTES: usize = 100_000;
/// Queries per invocation on the paid plan (the free plan allows 50).
pub const DEFAULT_QUERIES_PER_INVOCATION: u32 = 1000;

/// A limit that was passed, with the code path that passed it: the message after
/// `platform limit exceeded:` in the log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    pub limit: String,
    pub path: String,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} in {}", self.limit, self.path)
    }
}

/// One invocation's D1 allowance.
#[derive(Debug)]
pub struct Budget {
    limit: u32,
    enforce: bool,
    used: Cell<u32>,
    /// What the invocation is doing now ("POST /v1/forms/{id}/submissions", "queue
    /// segment_rebuild", "cron retention"), named in the log line when a limit is passed.
    path: RefCell<String>,
    /// Once passed, every later call fails too: the invocation is over.
    tripped: Cell<bool>,
}

impl Budget {
    /// `PLATFORM_LIMITS` (`enforce`, or anything else for off) and `D1_QUERIES_PER_INVOCATION`
    /// (a positive integer; absent or unreadable: 1000) as the Worker reads its vars.
    pub fn new(enforce: Option<&str>, queries: Option<&str>, path: &str) -> Budget {
        Budget {
            limit: queries
                .and_then(|q| q.trim().parse::<u32>().ok())
                .filter(|&q| q > 0)
                .unwrap_or(DEFAULT_QUERIES_PER_INVOCATION),
            enforce: enforce.is_some_and(|v| v.trim() == "enforce"),
            used: Cell::new(0),
            path: RefCell::new(path.to_string()),
            tripped: Cell::new(false),
        }
    }

    /// Names what the invocation does from here on (a queue batch works several messages).
    pub fn set_path(&self, path: &str) {
        *self.path.borrow_mut() = path.to_string();
    }

    pub fn path(&self) -> String {
        self.path.borrow().clone()
    }

    /// The queries per invocation this Worker plans for.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn used(&self) -> u32 {
        self.used.get()
    }

    /// D1 calls this invocation may still make. Jobs size their chunks from it, guard on or off.
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used.get())
    }

    /// Counts one D1 call (a query, a write or a whole batch); `what` names it in the report.
    pub fn spend(&self, what: &str) -> Result<(), Exceeded> {
        let used = self.used.get().saturating_add(1);
        self.used.set(used);
        if self.enforce && (used > self.limit || self.tripped.get()) {
            return Err(self.trip(format!("D1 queries per invocation ({})", self.limit), what));
        }
        Ok(())
    }

    /// Checks one statement against D1's per-statement limits before it is sent.
    pub fn check_statement(&self, sql: &str, parameters: usize) -> Result<(), Exceeded> {
        if !self.enforce {
            return Ok(());
        }
        if parameters > MAX_BOUND_PARAMETERS {
            return Err(self.trip(
                format!("bound parameters per statement ({parameters} > {MAX_BOUND_PARAMETERS})"),
                sql,
            ));
        }
        if sql.len() > MAX_STATEMENT_BYTES {
            return Err(self.trip(
                format!(
                    "statement size ({} bytes > {MAX_STATEMENT_BYTES})",
                    sql.len()
                ),
                sql,
            ));
        }
        Ok(())
    }

    fn trip(&self, limit: String, what: &str) -> Exceeded {
        self.tripped.set(true);
        // The statement's opening words locate the code; SQL here carries no values (they are
        // bound), so nothing personal reaches the log.
        let opening: String = what.split_whitespace().collect::<Vec<_>>().join(" ");
        let opening: String = opening.chars().take(80).collect();
        Exceeded {
            limit,
            path: format!("{} ({opening})", self.path.borrow()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_trips_on_the_call_past_the_limit_and_stays_tripped() {
        let budget = Budget::new(Some("enforce"), Some("3"), "cron retention");
        for _ in 0..3 {
            assert_eq!(budget.spend("SELECT 1"), Ok(()));
        }
        assert_eq!(budget.remaining(), 0);
        let err = budget
            .spend("DELETE FROM contacts WHERE id = ?1")
            .unwrap_err();
        assert_eq!(err.limit, "D1 queries per invocation (3)");
        assert_eq!(
            err.to_string(),
            "D1 queries per invocation (3) in cron retention (DELETE FROM contacts WHERE id = ?1)"
        );
        assert!(budget.spend("SELECT 1").is_err());
    }

    #[test]
    fn off_counts_but_never_refuses() {
        let budget = Budget::new(Some("off"), Some("2"), "GET /healthz");
        for _ in 0..5 {
            assert_eq!(budget.spend("SELECT 1"), Ok(()));
        }
        assert_eq!(budget.used(), 5);
        assert_eq!(budget.remaining(), 0);
        assert_eq!(budget.check_statement(&"x".repeat(200_000), 500), Ok(()));
    }

    #[test]
    fn statements_past_d1s_per_statement_limits_are_refused() {
        let budget = Budget::new(Some("enforce"), None, "queue segment_rebuild");
        assert_eq!(budget.limit(), 1000);
        assert_eq!(budget.check_statement("SELECT ?1", 100), Ok(()));
        let err = budget
            .check_statement("INSERT INTO m VALUES (?1)", 101)
            .unwrap_err();
        assert_eq!(err.limit, "bound parameters per statement (101 > 100)");
        let long = format!("SELECT 1 {}", " ".repeat(MAX_STATEMENT_BYTES));
        let err = Budget::new(Some("enforce"), None, "p")
            .check_statement(&long, 0)
            .unwrap_err();
        assert!(err.limit.starts_with("statement size"), "{err}");
    }

    #[test]
    fn unreadable_settings_fall_back_to_the_paid_plan_and_off() {
        for q in [None, Some(""), Some("0"), Some("-5"), Some("lots")] {
            assert_eq!(Budget::new(None, q, "p").limit(), 1000);
        }
        assert_eq!(Budget::new(None, Some(" 50 "), "p").limit(), 50);
        let budget = Budget::new(Some("on"), Some("1"), "p");
        assert!(budget.spend("a").is_ok() && budget.spend("b").is_ok());
    }
}
