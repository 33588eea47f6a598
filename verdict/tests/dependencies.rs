//! The crate's dependency rule (ARCHITECTURE.md): what judges a run depends on nothing that
//! produces one — no simulator, no runtime, no protocol core, no driver.

/// The `[dependencies]` of this crate's manifest, by name.
fn dependencies() -> Vec<String> {
    let manifest = include_str!("../Cargo.toml");
    let mut names = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && !line.is_empty() && !line.starts_with('#') {
            let name = line.split(['=', '.', ' ']).next().unwrap_or_default();
            names.push(name.to_owned());
        }
    }
    names
}

#[test]
fn the_verdict_depends_on_nothing_that_produces_a_run() {
    let deps = dependencies();
    assert!(deps.contains(&"mqttsim-codec".to_owned()), "{deps:?}");
    for forbidden in [
        "turmoil",
        "tokio",
        "mqttsim-broker",
        "mqttsim-client",
        "mqttsim-net",
        "mqttsim-sim",
        "rand",
        "rand_chacha",
    ] {
        assert!(!deps.iter().any(|d| d == forbidden), "verdict depends on {forbidden}: {deps:?}");
    }
}
