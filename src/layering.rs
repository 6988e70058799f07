//! The layers and which may import which, held by a test: `routes` (handlers, one module per
//! resource) never import each other, and nothing below them (`flows`, `store`, `domain`,
//! `jobs`, `http`, `pages`) imports `routes` or the route table. `src/domain` stays free of
//! the Workers runtime so that its rules run as plain unit and property tests.

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// Every `crate::…` path a file names, with its line, comments left out.
    fn crate_paths(file: &Path) -> Vec<(usize, String)> {
        let text = fs::read_to_string(file).unwrap_or_default();
        let mut found = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                let rest: String = code[i..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                found.push((n + 1, rest));
            }
        }
        found
    }

    fn violations(layer: &str, forbidden: &[&str]) -> Vec<String> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(layer);
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        let mut bad = Vec::new();
        for file in files {
            for (line, path) in crate_paths(&file) {
                if forbidden
                    .iter()
                    .any(|f| path == *f || path.starts_with(&format!("{f}::")))
                {
                    bad.push(format!("{}:{line} uses {path}", file.display()));
                }
            }
        }
        bad
    }

    #[test]
    fn no_route_module_imports_another() {
        assert_eq!(
            violations("routes", &["crate::routes", "crate::router"]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn nothing_below_the_routes_imports_them() {
        for layer in ["flows", "store", "domain", "jobs", "http", "pages"] {
            assert_eq!(
                violations(layer, &["crate::routes", "crate::router", "crate::openapi"]),
                Vec::<String>::new(),
                "{layer}"
            );
        }
    }

    #[test]
    fn the_domain_knows_nothing_of_the_runtime_or_the_store() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join("domain");
        let mut files = Vec::new();
        rust_files(&root, &mut files);
        for file in files {
            let text = fs::read_to_string(&file).unwrap_or_default();
            assert!(
                !text.contains("worker::"),
                "{} uses the runtime",
                file.display()
            );
        }
        // The one exception: the property test holds the SQL backend of segments equal to the
        // Rust one on a real SQLite, `store::sqlite`, which is itself free of the runtime.
        let bad: Vec<String> = violations(
            "domain",
            &["crate::store", "crate::flows", "crate::jobs", "crate::http"],
        )
        .into_iter()
        .filter(|v| !v.ends_with("uses crate::store::sqlite::fresh_database"))
        .collect();
        assert_eq!(bad, Vec::<String>::new());
    }
}
