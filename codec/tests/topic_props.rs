//! Property tests of `topic::matches` against a naive reference matcher, and of the validators.

use mqttsim_codec::topic::{matches, validate_filter, validate_name};
use proptest::prelude::*;

/// The matching rules of §4.7, written as directly as possible, level by level.
fn reference(filter: &[&str], name: &[&str]) -> bool {
    match (filter, name) {
        // '#' matches the parent level and any number of levels below it.
        (["#"], _) => true,
        // '+' matches exactly one level, whatever it holds (an empty level too).
        (["+", filter_rest @ ..], [_, name_rest @ ..]) => reference(filter_rest, name_rest),
        // Any other level matches only itself.
        ([level, filter_rest @ ..], [name_level, name_rest @ ..]) => {
            level == name_level && reference(filter_rest, name_rest)
        }
        // Both exhausted together.
        ([], []) => true,
        _ => false,
    }
}

fn reference_matches(filter: &str, name: &str) -> bool {
    // A wildcard at the first level never matches a name starting with '$' [MQTT-4.7.2-1].
    let first_is_wildcard = filter.starts_with('+') || filter.starts_with('#');
    if name.starts_with('$') && first_is_wildcard {
        return false;
    }
    let filter: Vec<&str> = filter.split('/').collect();
    let name: Vec<&str> = name.split('/').collect();
    reference(&filter, &name)
}

/// A level of a name: letters, '$', or nothing.
fn name_level() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "a", "b", "ab", "$", "$a"])
}

/// A name of one to four levels; it is invalid only when it is empty.
fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(name_level(), 1..5).prop_map(|levels| levels.join("/"))
}

/// A valid filter: name levels and '+', optionally closed by '#'.
fn filter() -> impl Strategy<Value = String> {
    let level = prop_oneof![3 => name_level(), 2 => Just("+")];
    (prop::collection::vec(level, 0..5), any::<bool>())
        .prop_map(|(mut levels, hash)| {
            if hash || levels.is_empty() {
                levels.push("#");
            }
            levels.join("/")
        })
        .prop_filter("a filter is not empty", |f| !f.is_empty())
}

/// Any topic over the alphabet that matters, valid or not.
fn topic() -> impl Strategy<Value = String> {
    "[+#$/ab]{0,10}"
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 4096, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matches_agrees_with_the_reference(filter in filter(), name in name()) {
        prop_assert_eq!(validate_filter(&filter), Ok(()));
        prop_assume!(validate_name(&name).is_ok());
        prop_assert_eq!(matches(&filter, &name), reference_matches(&filter, &name));
    }

    #[test]
    fn a_valid_name_matches_itself_and_its_wildcard_forms(name in name()) {
        prop_assume!(validate_name(&name).is_ok());
        prop_assert!(matches(&name, &name));
        let levels = name.split('/').count();
        let pluses = vec!["+"; levels].join("/");
        prop_assert_eq!(matches(&pluses, &name), !name.starts_with('$'));
        prop_assert_eq!(matches("#", &name), !name.starts_with('$'));
    }

    #[test]
    fn validators_and_matcher_never_panic(a in any::<String>(), b in "[+#$/ab\u{0}é]{0,12}") {
        let _ = validate_filter(&a);
        let _ = validate_name(&a);
        let _ = validate_filter(&b);
        let _ = validate_name(&b);
        let _ = matches(&a, &b);
        let _ = matches(&b, &a);
    }

    #[test]
    fn matches_agrees_with_the_reference_whenever_both_are_valid(f in topic(), n in topic()) {
        if validate_filter(&f).is_ok() && validate_name(&n).is_ok() {
            prop_assert_eq!(matches(&f, &n), reference_matches(&f, &n));
        }
    }

    #[test]
    fn valid_names_have_no_wildcards_and_valid_filters_place_them_well(t in topic()) {
        if validate_name(&t).is_ok() {
            prop_assert!(!t.contains(['+', '#']));
        }
        if validate_filter(&t).is_ok() {
            let count = t.split('/').count();
            for (i, level) in t.split('/').enumerate() {
                let last = i + 1 == count;
                prop_assert!(!level.contains('#') || (level == "#" && last), "{}", t);
                prop_assert!(!level.contains('+') || level == "+", "{}", t);
            }
        }
    }
}

#[test]
fn reference_agrees_with_the_standard_examples() {
    let cases = [
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        ("sport/#", "sport", true),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+/+", "/finance", true),
        ("+", "/finance", false),
        ("#", "$SYS/x", false),
        ("$SYS/#", "$SYS", true),
    ];
    for (filter, name, expected) in cases {
        assert_eq!(reference_matches(filter, name), expected, "{filter} vs {name}");
    }
}
