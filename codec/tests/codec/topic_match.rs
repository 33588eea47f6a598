//! `topic::matches` against a reference written differently: by level counts and a prefix.

use mqttsim_codec::topic::{matches, validate_filter, validate_name};
use proptest::prelude::*;
use proptest::sample::select;

/// The reference: a filter ending in `#` matches a name whose first levels match the levels
/// before `#` (the parent level included, so `a/#` matches `a`); any other filter matches a
/// name with as many levels, each equal or `+`. Wildcards at the start never match `$` names.
fn reference(filter: &str, name: &str) -> bool {
    if name.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let name_levels: Vec<&str> = name.split('/').collect();
    let level_matches = |f: &str, n: &str| f == "+" || f == n;
    if filter == "#" {
        return true;
    }
    if let Some(prefix) = filter.strip_suffix("/#") {
        let prefix: Vec<&str> = prefix.split('/').collect();
        return name_levels.len() >= prefix.len()
            && prefix.iter().zip(&name_levels).all(|(f, n)| level_matches(f, n));
    }
    let filter_levels: Vec<&str> = filter.split('/').collect();
    filter_levels.len() == name_levels.len()
        && filter_levels.iter().zip(&name_levels).all(|(f, n)| level_matches(f, n))
}

fn joined(levels: Vec<&'static str>) -> String {
    levels.join("/")
}

fn filter() -> impl Strategy<Value = String> {
    // '#' only ever ends a filter, so generate the levels before it and then decide on '#'.
    let level = select(vec!["", "a", "b", "$", "$a", "+"]);
    (prop::collection::vec(level, 0..5), any::<bool>()).prop_map(|(levels, hash)| {
        match (levels.is_empty(), hash) {
            (true, _) => "#".to_string(),
            (false, true) => format!("{}/#", joined(levels)),
            (false, false) => joined(levels),
        }
    })
}

fn name() -> impl Strategy<Value = String> {
    let level = select(vec!["", "a", "b", "$", "$a", "ab"]);
    prop::collection::vec(level, 1..5).prop_map(joined)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    #[test]
    fn matching_agrees_with_the_reference(filter in filter(), name in name()) {
        prop_assume!(validate_filter(&filter).is_ok());
        prop_assume!(validate_name(&name).is_ok());
        prop_assert_eq!(matches(&filter, &name), reference(&filter, &name), "{} vs {}", filter, name);
    }

    #[test]
    fn a_name_used_as_a_filter_matches_itself(name in name()) {
        prop_assume!(validate_name(&name).is_ok());
        prop_assert!(matches(&name, &name));
    }
}
