//! Topic authorisation: which client may publish to, subscribe to and receive which topics.
//!
//! The core asks an [`Authorizer`] (in [`crate::BrokerConfig`]) three questions, always with the
//! client's identifier and user name ([`Identity`]): may it publish to a topic (a refused PUBLISH
//! is acknowledged at its QoS and not delivered [MQTT-3.3.5-2]; a refused Will topic refuses the
//! CONNECT with "not authorized"), may it subscribe to a filter (a refused filter gets the
//! failure return code in SUBACK [MQTT-3.8.4-5]), and may it receive a message on a topic (a
//! refused message is not delivered to it). [`refusal_code`] gives the code each refusal is
//! answered with in a protocol version, so that 5.0's "Not authorized" (0x87) needs no new hook.
//!
//! [`AclFile`] reads rules in the shape Mosquitto's `acl_file` has, plus per-client sections:
//!
//! ```text
//! # Lines before any `user` or `client` line apply to clients without a user name.
//! topic read public/#
//!
//! # Rules for the user name alice.
//! user alice
//! topic readwrite alice/#
//! topic deny alice/secret/#
//!
//! # Rules for the client identifier dashboard-1.
//! client dashboard-1
//! topic read farm/#
//!
//! # Rules for every client; %u is the user name, %c the client identifier.
//! pattern write devices/%c/up
//! pattern read devices/%c/down/#
//! ```
//!
//! Lines whose first character (after spaces) is `#` are comments. The access word is `read`,
//! `write`, `readwrite` or `deny`, and may be left out (then it is `readwrite`); the rest of the
//! line is the topic, spaces included, as in Mosquitto. Topics may hold the wildcards `+` and `#`. A client may do what some rule that
//! applies to it allows and no `deny` rule that applies to it forbids; anything else is refused.
//! A subscription is allowed when one rule's topic covers every topic the filter can match (the
//! rule `a/#` allows the filters `a/#`, `a/+` and `a/b`; the rule `a/+` does not allow `a/#`),
//! and each message is checked again before it is delivered. A `pattern` with `%u` or `%c` never
//! applies to a client whose user name is missing or whose name or identifier holds `+`, `#` or
//! `/`, so substitution cannot widen a rule.

use std::fmt;

use mqttsim_codec::topic::{self, TopicError};
use mqttsim_codec::{Protocol, ReasonCode};

/// Who is asking: the client identifier and user name of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The client identifier (the generated one when the client sent none).
    pub client_id: &'a str,
    /// The user name of the CONNECT, if any.
    pub username: Option<&'a str>,
}

/// Decides which topics a client may use. Implementations must be deterministic.
pub trait Authorizer: fmt::Debug + Send + Sync {
    /// Whether the client may publish to the topic name (its PUBLISH packets and its Will).
    fn may_publish(&self, who: Identity<'_>, topic: &str) -> bool;
    /// Whether the client may subscribe to the topic filter.
    fn may_subscribe(&self, who: Identity<'_>, filter: &str) -> bool;
    /// Whether a message on the topic name may be delivered to the client.
    fn may_receive(&self, who: Identity<'_>, topic: &str) -> bool;
    /// False when every question is answered yes, so the core can skip asking per message.
    fn restricts(&self) -> bool {
        true
    }
}

/// Lets every client use every topic.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAllTopics;

impl Authorizer for AllowAllTopics {
    fn may_publish(&self, _: Identity<'_>, _: &str) -> bool {
        true
    }
    fn may_subscribe(&self, _: Identity<'_>, _: &str) -> bool {
        true
    }
    fn may_receive(&self, _: Identity<'_>, _: &str) -> bool {
        true
    }
    fn restricts(&self) -> bool {
        false
    }
}

/// Why a subscription was refused, for [`refusal_code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The topic filter is not valid.
    InvalidFilter,
    /// A configured limit (subscriptions per session) would be exceeded.
    Quota,
    /// The [`Authorizer`] refused it.
    NotAuthorized,
}

/// The SUBACK return code for a refused subscription in `protocol`: 0x80 in 3.1.1 and 3.1
/// [MQTT-3.8.4-5]; in 5.0 the reason itself (0x8F, 0x97 or 0x87).
pub fn refusal_code(protocol: Protocol, refusal: Refusal) -> ReasonCode {
    if protocol != Protocol::V5 {
        return ReasonCode::UNSPECIFIED_ERROR;
    }
    match refusal {
        Refusal::InvalidFilter => ReasonCode::TOPIC_FILTER_INVALID,
        Refusal::Quota => ReasonCode::QUOTA_EXCEEDED,
        Refusal::NotAuthorized => ReasonCode::NOT_AUTHORIZED,
    }
}

/// What a rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Subscribing and receiving.
    Read,
    /// Publishing.
    Write,
    /// Both.
    ReadWrite,
    /// Nothing: forbids what other rules allow.
    Deny,
}

impl Access {
    fn allows(self, wanted: Access) -> bool {
        self == Access::ReadWrite || self == wanted
    }
}

/// Which clients a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    /// Clients without a user name (`topic` lines before any section).
    Anonymous,
    /// One user name (`topic` lines after `user NAME`).
    User(String),
    /// One client identifier (`topic` lines after `client ID`).
    Client(String),
    /// Everyone, with `%u` and `%c` substituted (`pattern` lines).
    Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    scope: Scope,
    access: Access,
    topic: String,
}

/// Rules read from an ACL file (see the module documentation for the format).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclFile {
    rules: Vec<Rule>,
}

/// A line of an ACL file that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct AclFileError {
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub kind: AclFileErrorKind,
}

/// What is wrong with an ACL file line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AclFileErrorKind {
    /// The first word is not `topic`, `pattern`, `user` or `client`.
    #[error("unknown keyword {0:?}; expected topic, pattern, user or client")]
    UnknownKeyword(String),
    /// `user` or `client` without a name, or `topic`/`pattern` without a topic.
    #[error("{0} needs an argument")]
    MissingArgument(&'static str),
    /// The topic is not a valid topic filter.
    #[error("invalid topic {topic:?}: {error}")]
    InvalidTopic { topic: String, error: TopicError },
    /// `%u` or `%c` in a `topic` line, where nothing is substituted.
    #[error("%u and %c are substituted only in pattern lines")]
    SubstitutionOutsidePattern,
}

impl AclFile {
    /// Reads an ACL file's text.
    pub fn parse(text: &str) -> Result<AclFile, AclFileError> {
        let mut rules = Vec::new();
        let mut section = Scope::Anonymous;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let error = |kind| AclFileError { line, kind };
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            // The keyword, then the rest of the line (names and topics may hold spaces).
            let (keyword, rest) = match content.split_once(char::is_whitespace) {
                Some((keyword, rest)) => (keyword, rest.trim()),
                None => (content, ""),
            };
            let missing = |keyword| error(AclFileErrorKind::MissingArgument(keyword));
            match keyword {
                "user" | "client" => {
                    if rest.is_empty() {
                        return Err(missing(name(keyword)));
                    }
                    section = if keyword == "user" {
                        Scope::User(rest.to_owned())
                    } else {
                        Scope::Client(rest.to_owned())
                    };
                }
                "topic" | "pattern" => {
                    let (access, topic) = match rest.split_once(char::is_whitespace) {
                        Some((word, topic)) if parse_access(word).is_some() => {
                            (parse_access(word).expect("checked"), topic.trim())
                        }
                        _ if parse_access(rest).is_some() => return Err(missing(name(keyword))),
                        _ => (Access::ReadWrite, rest),
                    };
                    if topic.is_empty() {
                        return Err(missing(name(keyword)));
                    }
                    let substituted = topic.contains("%u") || topic.contains("%c");
                    if keyword == "topic" && substituted {
                        return Err(error(AclFileErrorKind::SubstitutionOutsidePattern));
                    }
                    topic::validate_filter(topic).map_err(|e| {
                        error(AclFileErrorKind::InvalidTopic { topic: topic.to_owned(), error: e })
                    })?;
                    let scope = if keyword == "pattern" { Scope::Pattern } else { section.clone() };
                    rules.push(Rule { scope, access, topic: topic.to_owned() });
                }
                other => return Err(error(AclFileErrorKind::UnknownKeyword(other.to_owned()))),
            }
        }
        Ok(AclFile { rules })
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the file holds no rule (then every request is refused).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The decision for one request: `wanted` is `Read` or `Write`; `fits` says whether a rule's
    /// topic (after substitution) covers what is asked.
    fn decide(&self, who: Identity<'_>, wanted: Access, fits: impl Fn(&str) -> bool) -> bool {
        let mut allowed = false;
        for rule in &self.rules {
            let topic = match &rule.scope {
                Scope::Anonymous if who.username.is_none() => rule.topic.clone(),
                Scope::User(user) if who.username == Some(user.as_str()) => rule.topic.clone(),
                Scope::Client(id) if who.client_id == id => rule.topic.clone(),
                Scope::Pattern => match substitute(&rule.topic, who) {
                    Some(topic) => topic,
                    None => continue,
                },
                _ => continue,
            };
            if !fits(&topic) {
                continue;
            }
            if rule.access == Access::Deny {
                return false;
            }
            allowed |= rule.access.allows(wanted);
        }
        allowed
    }
}

fn name(keyword: &str) -> &'static str {
    match keyword {
        "user" => "user",
        "client" => "client",
        "topic" => "topic",
        _ => "pattern",
    }
}

fn parse_access(word: &str) -> Option<Access> {
    match word {
        "read" => Some(Access::Read),
        "write" => Some(Access::Write),
        "readwrite" => Some(Access::ReadWrite),
        "deny" => Some(Access::Deny),
        _ => None,
    }
}

/// A pattern's topic with `%u` and `%c` replaced, or `None` when it cannot apply to `who`.
fn substitute(pattern: &str, who: Identity<'_>) -> Option<String> {
    let unsafe_name = |s: &str| s.contains(['+', '#', '/']);
    let mut topic = pattern.to_owned();
    if pattern.contains("%u") {
        let user = who.username.filter(|u| !unsafe_name(u))?;
        topic = topic.replace("%u", user);
    }
    if pattern.contains("%c") {
        if unsafe_name(who.client_id) {
            return None;
        }
        topic = topic.replace("%c", who.client_id);
    }
    Some(topic)
}

/// Whether every topic name that `filter` matches is matched by `rule` too (both valid filters).
pub fn covers(rule: &str, filter: &str) -> bool {
    // A rule starting with a wildcard matches no `$` topic [MQTT-4.7.2-1], so it cannot cover
    // a filter that names one.
    if filter.starts_with('$') && (rule.starts_with('+') || rule.starts_with('#')) {
        return false;
    }
    let mut r = rule.split('/');
    let mut f = filter.split('/');
    loop {
        match (r.next(), f.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(level)) if level != "#" => {}
            (Some(rl), Some(fl)) if rl == fl && fl != "+" && fl != "#" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

impl Authorizer for AclFile {
    fn may_publish(&self, who: Identity<'_>, name: &str) -> bool {
        self.decide(who, Access::Write, |rule| topic::matches(rule, name))
    }

    fn may_subscribe(&self, who: Identity<'_>, filter: &str) -> bool {
        self.decide(who, Access::Read, |rule| covers(rule, filter))
    }

    fn may_receive(&self, who: Identity<'_>, name: &str) -> bool {
        self.decide(who, Access::Read, |rule| topic::matches(rule, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic write shared/+/in

client dash-1
topic read farm/#

pattern write devices/%c/up
pattern read users/%u/#
";

    fn who<'a>(client_id: &'a str, username: Option<&'a str>) -> Identity<'a> {
        Identity { client_id, username }
    }

    #[test]
    fn acl_decisions_follow_sections_patterns_and_deny() {
        let acl = AclFile::parse(FILE).unwrap();
        assert_eq!(acl.len(), 7);
        let anon = who("x", None);
        let alice = who("a1", Some("alice"));
        let dash = who("dash-1", Some("bob"));
        type Case<'a> = (Identity<'a>, &'a str, &'a str, bool);
        // (who, operation, topic or filter, allowed)
        let cases: [Case; 22] = [
            (anon, "receive", "public/news", true),
            (anon, "publish", "public/news", false),
            (anon, "subscribe", "public/#", true),
            (anon, "subscribe", "#", false),
            (alice, "receive", "public/news", false),
            (alice, "publish", "alice/x", true),
            (alice, "receive", "alice/x/y", true),
            (alice, "publish", "alice/secret/k", false),
            (alice, "receive", "alice/secret/k", false),
            (alice, "subscribe", "alice/+", true),
            (alice, "subscribe", "alice/secret/#", false),
            (alice, "publish", "shared/7/in", true),
            (alice, "receive", "shared/7/in", false),
            (dash, "subscribe", "farm/+/temp", true),
            (dash, "publish", "farm/a", false),
            (dash, "publish", "devices/dash-1/up", true),
            (dash, "publish", "devices/other/up", false),
            (dash, "subscribe", "users/bob/#", true),
            (dash, "subscribe", "users/alice/#", false),
            (anon, "subscribe", "users/+/#", false),
            (who("ev+l", Some("b#")), "publish", "devices/ev+l/up", false),
            (who("c/d", None), "publish", "devices/c/d/up", false),
        ];
        for (who, op, topic, expected) in cases {
            let got = match op {
                "publish" => acl.may_publish(who, topic),
                "subscribe" => acl.may_subscribe(who, topic),
                _ => acl.may_receive(who, topic),
            };
            assert_eq!(got, expected, "{who:?} {op} {topic}");
        }
    }

    #[test]
    fn coverage_of_filters_by_rules() {
        let cases = [
            ("a/#", "a/#", true),
            ("a/#", "a", true),
            ("a/#", "a/+/c", true),
            ("a/+", "a/b", true),
            ("a/+", "a/+", true),
            ("a/+", "a/#", false),
            ("a/b", "a/+", false),
            ("#", "#", true),
            ("#", "$SYS/x", false),
            ("$SYS/#", "$SYS/+", true),
            ("+/b", "a/b/c", false),
        ];
        for (rule, filter, expected) in cases {
            assert_eq!(covers(rule, filter), expected, "{rule} covers {filter}");
        }
    }

    #[test]
    fn acl_file_errors_name_the_line() {
        let cases: [(&str, usize, AclFileErrorKind); 6] = [
            ("  # indented comment\ntopic", 2, AclFileErrorKind::MissingArgument("topic")),
            ("topic a\nbogus x", 2, AclFileErrorKind::UnknownKeyword("bogus".into())),
            ("user", 1, AclFileErrorKind::MissingArgument("user")),
            ("\ntopic read", 2, AclFileErrorKind::MissingArgument("topic")),
            (
                "topic a/#/b",
                1,
                AclFileErrorKind::InvalidTopic {
                    topic: "a/#/b".into(),
                    error: TopicError::MisplacedMultiLevelWildcard,
                },
            ),
            ("topic devices/%c", 1, AclFileErrorKind::SubstitutionOutsidePattern),
        ];
        for (text, line, kind) in cases {
            assert_eq!(AclFile::parse(text), Err(AclFileError { line, kind }), "{text:?}");
        }
    }

    #[test]
    fn refusals_are_0x80_before_5_0() {
        assert_eq!(refusal_code(Protocol::V311, Refusal::NotAuthorized), ReasonCode(0x80));
        assert_eq!(refusal_code(Protocol::V5, Refusal::NotAuthorized), ReasonCode(0x87));
        assert_eq!(refusal_code(Protocol::V5, Refusal::Quota), ReasonCode(0x97));
    }
}
