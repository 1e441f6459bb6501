//! What a packaged crate depends on, read from the `Cargo.toml` that `cargo package` writes.
//!
//! That manifest is cargo's normalized form: every dependency is a table of its own,
//! `[dependencies.KEY]`, `[dev-dependencies.KEY]`, `[build-dependencies.KEY]` or the same
//! under `[target.'CFG']`, with `package = "NAME"` inside when `KEY` is a rename. Only that
//! form is read; inline tables of a hand-written manifest are not.

/// The package names of every dependency `manifest` declares (normal, dev and build, for
/// any target), each once, in the order first declared.
pub(crate) fn dependency_names(manifest: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    // The dependency table being read: its key, or the `package` it renames.
    let mut current: Option<String> = None;
    let mut finish = |current: &mut Option<String>| {
        if let Some(name) = current.take()
            && !names.contains(&name)
        {
            names.push(name);
        }
    };
    for line in manifest.lines().map(str::trim) {
        if let Some(header) = line.strip_prefix('[') {
            finish(&mut current);
            let header = header.trim_end_matches(']');
            let mut parts = header.rsplitn(3, '.');
            let (key, kind) = (parts.next(), parts.next());
            if let (Some(key), Some("dependencies" | "dev-dependencies" | "build-dependencies")) =
                (key, kind)
            {
                current = Some(key.trim_matches(['"', '\'']).to_string());
            }
        } else if let Some(table) = current.as_mut()
            && let Some(value) = line.strip_prefix("package")
            && let Some(value) = value.trim_start().strip_prefix('=')
        {
            *table = value.trim().trim_matches('"').to_string();
        }
    }
    finish(&mut current);
    names
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
            dependency_names(manifest),
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
    fn a_manifest_without_dependencies_names_none() {
        let manifest = "[package]\nname = \"leaf\"\n\n[features]\ndefault = []\n";
        assert!(dependency_names(manifest).is_empty());
    }
}
