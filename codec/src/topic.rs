//! Topic names and topic filters: validation, matching and `$share` parsing (standard §4.7).

/// Why a topic name or filter was rejected, with the statement it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    #[error("topic is empty [MQTT-4.7.3-1]")]
    Empty,
    #[error("topic contains U+0000 [MQTT-4.7.3-2]")]
    NullCharacter,
    #[error("topic is longer than 65,535 bytes [MQTT-4.7.3-3]")]
    TooLong,
    #[error("topic name contains a wildcard character [MQTT-3.3.2-2]")]
    WildcardInName,
    #[error(
        "'#' must be the last character of a filter and stand alone in its level [MQTT-4.7.1-2]"
    )]
    MisplacedMultiLevelWildcard,
    #[error("'+' must occupy an entire level of a filter [MQTT-4.7.1-3]")]
    MisplacedSingleLevelWildcard,
    #[error(
        "a shared subscription needs a non-empty share name without '/', '+' or '#', and a filter [MQTT-4.8.2-1]"
    )]
    InvalidShare,
}

impl TopicError {
    /// The normative statement this error breaks.
    pub fn statement(self) -> &'static str {
        match self {
            TopicError::Empty => "MQTT-4.7.3-1",
            TopicError::NullCharacter => "MQTT-4.7.3-2",
            TopicError::TooLong => "MQTT-4.7.3-3",
            TopicError::WildcardInName => "MQTT-3.3.2-2",
            TopicError::MisplacedMultiLevelWildcard => "MQTT-4.7.1-2",
            TopicError::MisplacedSingleLevelWildcard => "MQTT-4.7.1-3",
            TopicError::InvalidShare => "MQTT-4.8.2-1",
        }
    }
}

fn check_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > 65_535 {
        return Err(TopicError::TooLong);
    }
    if s.as_bytes().contains(&0) {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Checks a topic name, as carried by PUBLISH and the Will.
pub fn validate_name(name: &str) -> Result<(), TopicError> {
    check_common(name)?;
    if name.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks a topic filter, as carried by SUBSCRIBE and UNSUBSCRIBE (`$share/...` included).
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let filter = match SharedFilter::parse(filter) {
        Some(shared) => shared?.filter,
        None => filter,
    };
    check_filter_levels(filter)
}

fn check_filter_levels(filter: &str) -> Result<(), TopicError> {
    if filter.is_empty() {
        return Err(TopicError::Empty);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

/// True when `filter` contains `+` or `#`.
pub fn has_wildcards(filter: &str) -> bool {
    filter.bytes().any(|b| b == b'+' || b == b'#')
}

/// Whether a valid topic `filter` matches a valid topic `name`.
///
/// A filter that starts with a wildcard does not match a name that starts with `$`
/// [MQTT-4.7.2-1]; `a/#` matches `a` as well as everything below it.
pub fn matches(filter: &str, name: &str) -> bool {
    if name.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut f = filter.split('/');
    let mut n = name.split('/');
    loop {
        match (f.next(), n.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(nl)) if fl == nl => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A shared subscription filter, `$share/{share_name}/{filter}` (MQTT 5.0 §4.8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    pub share_name: &'a str,
    pub filter: &'a str,
}

impl<'a> SharedFilter<'a> {
    /// `None` when the filter is not a shared one; `Some(Err)` when it is, but ill-formed.
    pub fn parse(filter: &'a str) -> Option<Result<SharedFilter<'a>, TopicError>> {
        let rest = filter.strip_prefix("$share/")?;
        let Some((share_name, filter)) = rest.split_once('/') else {
            return Some(Err(TopicError::InvalidShare));
        };
        if share_name.is_empty() || has_wildcards(share_name) || filter.is_empty() {
            return Some(Err(TopicError::InvalidShare));
        }
        Some(Ok(SharedFilter { share_name, filter }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_examples_from_the_standard() {
        let cases = [
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
            ("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true),
            ("sport/#", "sport", true),
            ("#", "sport/tennis", true),
            ("sport/tennis/+", "sport/tennis/player1", true),
            ("sport/tennis/+", "sport/tennis/player1/ranking", false),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("#", "$SYS/broker", false),
            ("+/monitor/Clients", "$SYS/monitor/Clients", false),
            ("$SYS/#", "$SYS/broker", true),
            ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
            ("a/b", "a/b", true),
            ("a/b", "a/c", false),
        ];
        for (filter, name, expected) in cases {
            assert_eq!(matches(filter, name), expected, "{filter} vs {name}");
        }
    }

    #[test]
    fn filter_validation() {
        assert_eq!(validate_filter("sport/tennis#"), Err(TopicError::MisplacedMultiLevelWildcard));
        assert_eq!(
            validate_filter("sport/#/ranking"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(validate_filter("sport+"), Err(TopicError::MisplacedSingleLevelWildcard));
        assert_eq!(validate_filter(""), Err(TopicError::Empty));
        assert_eq!(validate_filter("$share/g"), Err(TopicError::InvalidShare));
        assert_eq!(validate_filter("$share/g+/a"), Err(TopicError::InvalidShare));
        assert!(validate_filter("$share/g/a/+/#").is_ok());
        assert!(validate_filter("+/+/#").is_ok());
        assert!(validate_filter("/").is_ok());
    }

    #[test]
    fn name_validation() {
        assert_eq!(validate_name("a/+"), Err(TopicError::WildcardInName));
        assert_eq!(validate_name("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(validate_name("a\0b"), Err(TopicError::NullCharacter));
        assert!(validate_name("/").is_ok());
    }
}
