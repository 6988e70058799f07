//! Admin API scopes: what an API key may do.

use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Forms,
    Surveys,
    Orders,
    ContactsRead,
    ContactsWrite,
    Segments,
    Exports,
    Outbox,
    /// The mail relay's: sees the text and live links of messages still to be delivered.
    OutboxDeliver,
    Audit,
    Keys,
    /// Event subscriptions, their deliveries and the change feed.
    Webhooks,
    /// Starting backups and reading their list (never their contents: those need the key).
    Backups,
}

impl Scope {
    pub const ALL: [Scope; 13] = [
        Scope::Forms,
        Scope::Surveys,
        Scope::Orders,
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::Segments,
        Scope::Exports,
        Scope::Outbox,
        Scope::OutboxDeliver,
        Scope::Audit,
        Scope::Keys,
        Scope::Webhooks,
        Scope::Backups,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Forms => "forms",
            Scope::Surveys => "surveys",
            Scope::Orders => "orders",
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::Segments => "segments",
            Scope::Exports => "exports",
            Scope::Outbox => "outbox",
            Scope::OutboxDeliver => "outbox:deliver",
            Scope::Audit => "audit",
            Scope::Keys => "keys",
            Scope::Webhooks => "webhooks",
            Scope::Backups => "backups",
        }
    }

    pub fn parse(input: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == input)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A non-empty set of known scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    pub fn all() -> Self {
        ScopeSet(Scope::ALL.into_iter().collect())
    }

    /// Parses a list of scope names; the error names the first unknown scope.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        if names.is_empty() {
            return Err("at least one scope is required".into());
        }
        let mut set = BTreeSet::new();
        for name in names {
            match Scope::parse(name.as_ref()) {
                Some(scope) => {
                    set.insert(scope);
                }
                None => {
                    return Err(format!(
                        "unknown scope '{}'",
                        name.as_ref().chars().take(40).collect::<String>()
                    ))
                }
            }
        }
        Ok(ScopeSet(set))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|s| s.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn parse_names_unknown_scope() {
        let err = ScopeSet::parse(&["forms", "root"]).unwrap_err();
        assert!(err.contains("'root'"));
        assert!(ScopeSet::parse::<&str>(&[]).is_err());
    }

    #[test]
    fn subsets() {
        let forms = ScopeSet::parse(&["forms"]).unwrap();
        assert!(forms.is_subset_of(&ScopeSet::all()));
        assert!(!ScopeSet::all().is_subset_of(&forms));
        assert_eq!(
            ScopeSet::parse(&["forms", "forms"]).unwrap().names(),
            vec!["forms"]
        );
    }
}
