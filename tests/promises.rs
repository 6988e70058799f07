//! The README's promise table is held by tests: every row names at least one, and every test
//! name in backticks anywhere in the README is a function that exists in `src`, `tests` or
//! `fuzz`. A promise whose test was renamed or deleted fails here, not in an audit.

use std::collections::BTreeSet;
use std::path::Path;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `fn <name>` in the Rust files under `dir`.
fn functions_under(dir: &Path, names: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("target") {
                functions_under(&path, names);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = read(&path);
            for rest in text.split("fn ").skip(1) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        }
    }
}

/// Backticked words that read as test names: lower-case identifiers of four words or more.
fn test_names(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| {
            w.split('_').count() >= 4
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_string)
        .collect()
}

fn readme() -> String {
    read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
}

#[test]
fn every_promise_in_the_readme_names_a_test() {
    let readme = readme();
    let section = readme
        .split("### Promises and the tests that hold them")
        .nth(1)
        .expect("the README has a promise table");
    let rows: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with("| promise"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(
        rows.len() >= 20,
        "the promise table has {} rows",
        rows.len()
    );
    for row in rows {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let held_by = cells.get(2).copied().unwrap_or_default();
        assert!(
            !test_names(held_by).is_empty(),
            "a promise with no test: {row}"
        );
    }
}

#[test]
fn every_test_the_readme_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut functions = BTreeSet::new();
    for dir in ["src", "tests", "fuzz"] {
        functions_under(&root.join(dir), &mut functions);
    }
    assert!(functions.len() > 300, "read {} functions", functions.len());
    let missing: Vec<String> = test_names(&readme())
        .into_iter()
        .filter(|name| !functions.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "the README names tests that do not exist: {missing:?}"
    );
}
