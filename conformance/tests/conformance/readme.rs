//! conformance/README.md shows the cross-broker tables and the statement coverage of both
//! versions as the tool generates them (`mqtt-sim conformance --matrix conformance/expected`,
//! `--matrix conformance/expected/5.0`, `--coverage`). Rewrite
//! them with `UPDATE_EXPECT=1 cargo test -p mqttsim-conformance --test conformance readme`.

use std::path::Path;

use mqttsim_codec::Protocol;
use mqttsim_conformance::report::{coverage_markdown, matrix_of_dir};
use mqttsim_conformance::{checks, statements};

/// Replaces the text between `<!-- NAME:start ... -->` and `<!-- NAME:end -->`.
fn splice(text: &str, name: &str, body: &str) -> String {
    let start = format!("<!-- {name}:start");
    let end = format!("<!-- {name}:end -->");
    let (before, rest) = text.split_once(&start).unwrap_or_else(|| panic!("no {start} marker"));
    let (marker_rest, _) = rest.split_once('\n').expect("the start marker ends its line");
    let (_, after) = rest.split_once(&end).unwrap_or_else(|| panic!("no {end} marker"));
    format!("{before}{start}{marker_rest}\n{body}{end}{after}")
}

#[test]
fn the_readme_tables_are_generated_from_the_expectations_and_the_manifest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let matrix = matrix_of_dir(&root.join("expected")).unwrap();
    let matrix5 = matrix_of_dir(&root.join("expected/5.0")).unwrap();
    let coverage = coverage_markdown(&statements::coverage(Protocol::V311, &checks::all()));
    let coverage5 = coverage_markdown(&statements::coverage(Protocol::V5, &checks::all()));
    let mut regenerated = readme.clone();
    for (name, body) in [
        ("matrix", &matrix),
        ("matrix5", &matrix5),
        ("coverage", &coverage),
        ("coverage5", &coverage5),
    ] {
        regenerated = splice(&regenerated, name, body);
    }
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(&path, &regenerated).unwrap();
        return;
    }
    assert!(
        readme == regenerated,
        "conformance/README.md does not show the current tables; rerun with UPDATE_EXPECT=1"
    );
}
