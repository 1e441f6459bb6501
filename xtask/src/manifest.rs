//! What a packaged crate depends on, read from the `Cargo.toml` that `cargo package` writes.

use toml_edit::{DocumentMut, Item, Table};

/// The dependency tables of a manifest, at its top level and under each `[target.CFG]`.
const DEPENDENCY_TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];

/// The package names of every dependency `manifest` declares (normal, dev and build, for
/// any target; a renamed dependency by its `package`), each once, in the order first
/// declared.
pub(crate) fn dependency_names(manifest: &str) -> Result<Vec<String>, String> {
    let doc: DocumentMut = manifest.parse().map_err(|e| format!("{e}"))?;
    let mut scopes: Vec<&Table> = vec![doc.as_table()];
    if let Some(targets) = doc.get("target").and_then(Item::as_table) {
        scopes.extend(targets.iter().filter_map(|(_, t)| t.as_table()));
    }
    let mut names: Vec<String> = Vec::new();
    for scope in scopes {
        for kind in DEPENDENCY_TABLES {
            let Some(table) = scope.get(kind).and_then(Item::as_table_like) else {
                continue;
            };
            for (key, spec) in table.iter() {
                let renamed = spec
                    .as_table_like()
                    .and_then(|t| t.get("package"))
                    .and_then(Item::as_str);
                let name = renamed.unwrap_or(key).to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::dependency_names;

    #[test]
    fn every_kind_of_dependency_table_is_read_with_its_rename() {
        let manifest = r#"
[package]
name = "demo"
version = "0.2.0"

[lib]
name = "demo"

[dependencies.argdata]
version = "0.2.0"
package = "cloudabi-argdata"
features = ["std"]

[dependencies.libc]
version = "0.2"

[dev-dependencies.argdata]
version = "0.2.0"
package = "cloudabi-argdata"

[build-dependencies.cc]
version = "1"

[target.'cfg(target_os = "linux")'.dependencies.rustix]
version = "1"

[target.'cfg(not(target_os = "cloudabi"))'.dev-dependencies.program]
version = "0.2.0"
package = "cloudabi-program"

[lints.rust.unexpected_cfgs]
level = "warn"
"#;
        assert_eq!(
            dependency_names(manifest).unwrap(),
            [
                "cloudabi-argdata",
                "libc",
                "cc",
                "rustix",
                "cloudabi-program"
            ]
        );
    }

    #[test]
    fn inline_dependency_tables_are_read_too() {
        let manifest = "[dependencies]\nargdata = { package = \"cloudabi-argdata\", path = \"a\" }\n\
                        libc = \"0.2\"\n";
        assert_eq!(
            dependency_names(manifest).unwrap(),
            ["cloudabi-argdata", "libc"]
        );
    }

    #[test]
    fn a_manifest_that_is_not_toml_is_an_error() {
        assert!(dependency_names("[dependencies\n").is_err());
    }

    #[test]
    fn a_manifest_without_dependencies_names_none() {
        let manifest = "[package]\nname = \"leaf\"\n\n[features]\ndefault = []\n";
        assert!(dependency_names(manifest).unwrap().is_empty());
    }
}
