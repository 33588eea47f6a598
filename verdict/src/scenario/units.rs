//! Scalar value types of the scenario format: durations, ratios, event rates, bounds, QoS levels
//! and the protocol version, each parsed from YAML with a message that says what was expected.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use mqttsim_codec::{Protocol, QoS};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The longest duration a scenario may mention anywhere: seven days.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// A duration written as `250ms`, `30s`, `5m`, `1h` or a sum such as `1h30m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TimeSpan(pub Duration);

impl TimeSpan {
    /// The duration as a standard library value.
    pub fn get(self) -> Duration {
        self.0
    }

    /// Builds a span from whole milliseconds.
    pub fn from_millis(ms: u64) -> TimeSpan {
        TimeSpan(Duration::from_millis(ms))
    }

    /// Builds a span from whole seconds.
    pub fn from_secs(secs: u64) -> TimeSpan {
        TimeSpan(Duration::from_secs(secs))
    }

    /// Parses the textual form; the error is a complete sentence for the user.
    pub fn parse(text: &str) -> Result<TimeSpan, String> {
        let not_a_duration = || {
            format!(
                "`{text}` is not a duration: expected a number followed by ms, s, m or h \
                 (for example `250ms`, `30s`, `5m`, `1h30m`)"
            )
        };
        if text == "0" {
            // `0` alone means zero, as in a scenario file.
            return Ok(TimeSpan::default());
        }
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return Err(not_a_duration());
        }
        let mut total_ms: u128 = 0;
        let mut pos = 0;
        let mut last_rank = u8::MAX;
        while pos < bytes.len() {
            let digits_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == digits_start || pos - digits_start > 12 {
                return Err(not_a_duration());
            }
            let number: u128 = text[digits_start..pos].parse().map_err(|_| not_a_duration())?;
            let unit_start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_alphabetic() {
                pos += 1;
            }
            let (factor, rank) = match &text[unit_start..pos] {
                "h" => (3_600_000, 3),
                "m" => (60_000, 2),
                "s" => (1_000, 1),
                "ms" => (1, 0),
                _ => return Err(not_a_duration()),
            };
            if rank >= last_rank {
                return Err(format!(
                    "`{text}` is not a duration: write its parts from the largest unit to the \
                     smallest, each unit once (for example `1h30m`)"
                ));
            }
            last_rank = rank;
            total_ms += number * factor;
            if total_ms > MAX_DURATION.as_millis() {
                return Err(format!(
                    "`{text}` is too long: durations are limited to 7 days (`168h`)"
                ));
            }
        }
        Ok(TimeSpan(Duration::from_millis(total_ms as u64)))
    }
}

impl fmt::Display for TimeSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for TimeSpan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TimeSpan;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as `30s`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<TimeSpan, E> {
                TimeSpan::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<TimeSpan, E> {
                if v == 0 {
                    return Ok(TimeSpan::default());
                }
                Err(E::custom(format!(
                    "`{v}` is not a duration: expected a number followed by ms, s, m or h \
                     (did you mean `{v}s`?)"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<TimeSpan, E> {
                if v >= 0 {
                    return self.visit_u64(v as u64);
                }
                Err(E::custom(format!("`{v}` is not a duration: durations cannot be negative")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<TimeSpan, E> {
                Err(E::custom(format!(
                    "`{v}` is not a duration: expected a whole number followed by ms, s, m or h \
                     (use `1500ms` rather than `1.5s`)"
                )))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for TimeSpan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for TimeSpan {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: whole numbers with units h, m, s, ms from the largest to the smallest, such as `250ms`, `30s`, `5m`, `1h30m`.",
            "type": "string",
            "minLength": 2,
            "pattern": "^([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
        })
    }
}

/// A fraction between 0 and 1, written `2%` or `0.02`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Ratio(f64);

impl Ratio {
    /// The ratio as a number between 0 and 1.
    pub fn get(self) -> f64 {
        self.0
    }

    /// Builds a ratio; `None` when `value` is not within 0 and 1.
    pub fn new(value: f64) -> Option<Ratio> {
        (0.0..=1.0).contains(&value).then_some(Ratio(value))
    }

    /// Parses `2%`, `2.5%` or `0.02`; the error is a complete sentence for the user.
    pub fn parse(text: &str) -> Result<Ratio, String> {
        let trimmed = text.trim();
        if let Some(number) = trimmed.strip_suffix('%') {
            let value: f64 = number.trim_end().parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
                format!("`{text}` is not a percentage: expected a number followed by `%`, such as `2%`")
            })?;
            return Ratio::from_number(value / 100.0, text, true);
        }
        let value: f64 = trimmed.parse().ok().filter(|v: &f64| v.is_finite()).ok_or_else(|| {
            format!(
                "`{text}` is not a rate: expected a percentage such as `2%` or a fraction such as `0.02`"
            )
        })?;
        Ratio::from_number(value, text, false)
    }

    fn from_number(value: f64, text: &str, percent: bool) -> Result<Ratio, String> {
        if value < 0.0 {
            return Err(format!("`{text}` is negative: a rate lies between 0% and 100%"));
        }
        if value > 1.0 {
            let hint = if percent {
                String::new()
            } else {
                format!(" (a fraction is at most 1; did you mean `{text}%`?)")
            };
            return Err(format!("`{text}` is above 100%{hint}"));
        }
        Ok(Ratio(value))
    }
}

impl fmt::Display for Ratio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0 * 100.0)
    }
}

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Ratio;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate such as `2%` or `0.02`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Ratio, E> {
                Ratio::parse(v).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ratio, E> {
                Ratio::from_number(v, &v.to_string(), false).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ratio, E> {
                Ratio::from_number(v as f64, &v.to_string(), false).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ratio, E> {
                Ratio::from_number(v as f64, &v.to_string(), false).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Serialize for Ratio {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for Ratio {
    fn schema_name() -> Cow<'static, str> {
        "Rate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A rate between 0 and 1: a percentage such as `2%` or a fraction such as `0.02`.",
            "oneOf": [
                { "type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*%$" },
                { "type": "number", "minimum": 0, "maximum": 1 }
            ]
        })
    }
}

/// How often random events happen, written `4/h`, `10/m` or `1/s`; stored per hour.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct EventRate {
    per_hour: f64,
}

impl EventRate {
    /// The mean number of events per hour.
    pub fn per_hour(self) -> f64 {
        self.per_hour
    }

    /// The mean time between two events.
    pub fn mean_interval(self) -> Duration {
        Duration::from_secs_f64(3600.0 / self.per_hour)
    }

    /// Parses `4/h`; the error is a complete sentence for the user.
    pub fn parse(text: &str) -> Result<EventRate, String> {
        let bad = || {
            format!(
                "`{text}` is not an event rate: expected a number of events per unit, such as \
                 `4/h`, `10/m` or `1/s`"
            )
        };
        let (number, unit) = text.split_once('/').ok_or_else(bad)?;
        let number: f64 = number.trim().parse().map_err(|_| bad())?;
        let factor = match unit.trim() {
            "h" => 1.0,
            "m" => 60.0,
            "s" => 3600.0,
            _ => return Err(bad()),
        };
        if !number.is_finite() || number <= 0.0 {
            return Err(format!("`{text}` is not an event rate: the number must be above zero"));
        }
        let per_hour = number * factor;
        if per_hour > 3_600_000.0 {
            return Err(format!("`{text}` is too frequent: at most 1000 events per second"));
        }
        Ok(EventRate { per_hour })
    }
}

impl<'de> Deserialize<'de> for EventRate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EventRate;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event rate such as `4/h`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EventRate, E> {
                EventRate::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl Serialize for EventRate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{}/h", self.per_hour))
    }
}

impl JsonSchema for EventRate {
    fn schema_name() -> Cow<'static, str> {
        "EventRate".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A mean number of events per hour, minute or second, such as `4/h`.",
            "type": "string",
            "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*/\\s*[hms]\\s*$"
        })
    }
}

/// A comparison against a ratio, written `<= 5%`, `< 1%`, `>= 99%`, `> 0%` or `= 0%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    /// The comparison operator.
    pub op: BoundOp,
    /// The ratio compared against.
    pub value: Ratio,
}

/// The operator of a [`Bound`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundOp {
    /// `<`
    Less,
    /// `<=`
    AtMost,
    /// `=`
    Equal,
    /// `>=`
    AtLeast,
    /// `>`
    Greater,
}

impl Bound {
    /// Whether `observed` satisfies the bound.
    pub fn holds(self, observed: f64) -> bool {
        let v = self.value.get();
        match self.op {
            BoundOp::Less => observed < v,
            BoundOp::AtMost => observed <= v,
            BoundOp::Equal => observed == v,
            BoundOp::AtLeast => observed >= v,
            BoundOp::Greater => observed > v,
        }
    }

    /// Parses `<= 5%`; the error is a complete sentence for the user.
    pub fn parse(text: &str) -> Result<Bound, String> {
        let t = text.trim_start();
        let (op, rest) = if let Some(r) = t.strip_prefix("<=") {
            (BoundOp::AtMost, r)
        } else if let Some(r) = t.strip_prefix(">=") {
            (BoundOp::AtLeast, r)
        } else if let Some(r) = t.strip_prefix("==") {
            (BoundOp::Equal, r)
        } else if let Some(r) = t.strip_prefix('<') {
            (BoundOp::Less, r)
        } else if let Some(r) = t.strip_prefix('>') {
            (BoundOp::Greater, r)
        } else if let Some(r) = t.strip_prefix('=') {
            (BoundOp::Equal, r)
        } else {
            return Err(format!(
                "`{text}` is not a bound: expected an operator (<, <=, =, >=, >) and a rate, \
                 such as `<= 5%`"
            ));
        };
        let value = Ratio::parse(rest)?;
        Ok(Bound { op, value })
    }
}

impl<'de> Deserialize<'de> for Bound {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Bound;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a bound such as `<= 5%`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bound, E> {
                Bound::parse(v).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(V)
    }
}

impl JsonSchema for Bound {
    fn schema_name() -> Cow<'static, str> {
        "Bound".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A comparison with a rate, such as `<= 5%`.",
            "type": "string",
            "pattern": "^\\s*(<=|>=|==|<|>|=)\\s*[0-9]+(\\.[0-9]+)?\\s*%?\\s*$"
        })
    }
}

/// A quality-of-service level: 0, 1 or 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Qos(pub QoS);

impl Qos {
    /// The codec's QoS value.
    pub fn get(self) -> QoS {
        self.0
    }
}

impl<'de> Deserialize<'de> for Qos {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Qos;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a QoS level: 0, 1 or 2")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Qos, E> {
                u8::try_from(v)
                    .ok()
                    .and_then(QoS::from_u8)
                    .map(Qos)
                    .ok_or_else(|| E::custom(format!("qos {v} is not valid: expected 0, 1 or 2")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Qos, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("qos {v} is not valid: expected 0, 1 or 2"))),
                }
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl JsonSchema for Qos {
    fn schema_name() -> Cow<'static, str> {
        "Qos".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A quality-of-service level: 0 (at most once), 1 (at least once) or 2 (exactly once).",
            "type": "integer",
            "enum": [0, 1, 2]
        })
    }
}

/// An MQTT version: `"3.1.1"` or `"5.0"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolVersion(pub Protocol);

impl ProtocolVersion {
    /// The codec's protocol value.
    pub fn get(self) -> Protocol {
        self.0
    }

    fn parse(text: &str) -> Result<ProtocolVersion, String> {
        match text.trim() {
            "3.1.1" | "4" => Ok(ProtocolVersion(Protocol::V311)),
            "5.0" | "5" => Ok(ProtocolVersion(Protocol::V5)),
            _ => Err(format!("`{text}` is not a protocol version: expected \"3.1.1\" or \"5.0\"")),
        }
    }
}

impl<'de> Deserialize<'de> for ProtocolVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ProtocolVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a protocol version: \"3.1.1\" or \"5.0\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ProtocolVersion, E> {
                ProtocolVersion::parse(v).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ProtocolVersion, E> {
                let text = if v == 5.0 { "5.0".to_owned() } else { v.to_string() };
                ProtocolVersion::parse(&text).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ProtocolVersion, E> {
                ProtocolVersion::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ProtocolVersion, E> {
                ProtocolVersion::parse(&v.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl JsonSchema for ProtocolVersion {
    fn schema_name() -> Cow<'static, str> {
        "ProtocolVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The MQTT version: \"3.1.1\" or \"5.0\".",
            "enum": ["3.1.1", "5.0", 5.0]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("250ms", Ok(250)),
            ("30s", Ok(30_000)),
            ("5m", Ok(300_000)),
            ("1h30m", Ok(5_400_000)),
            ("1m30s500ms", Ok(90_500)),
            ("0s", Ok(0)),
            ("30 s", Err("`30 s` is not a duration")),
            ("30", Err("`30` is not a duration")),
            ("1.5s", Err("`1.5s` is not a duration")),
            ("30s1m", Err("largest unit")),
            ("169h", Err("7 days")),
            ("99999999999999999h", Err("`99999999999999999h` is not a duration")),
        ];
        for (text, want) in cases {
            let got = TimeSpan::parse(text).map(|t| t.get().as_millis() as u64);
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{text}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{text}: {g}"),
                (g, w) => panic!("{text}: got {g:?}, want {w:?}"),
            }
        }
        assert_eq!(TimeSpan::parse("1h30m5s").unwrap().to_string(), "1h30m5s");
    }

    #[test]
    fn ratios_rates_bounds() {
        assert_eq!(Ratio::parse("2%").unwrap().get(), 0.02);
        assert_eq!(Ratio::parse("0.5").unwrap().get(), 0.5);
        assert!(Ratio::parse("150%").unwrap_err().contains("above 100%"));
        assert!(Ratio::parse("2").unwrap_err().contains("did you mean `2%`"));
        assert!(Ratio::parse("-1%").unwrap_err().contains("negative"));
        assert_eq!(EventRate::parse("4/h").unwrap().per_hour(), 4.0);
        assert_eq!(EventRate::parse("1/m").unwrap().per_hour(), 60.0);
        assert!(EventRate::parse("4 per hour").is_err());
        assert!(EventRate::parse("0/h").is_err());
        let b = Bound::parse("<= 5%").unwrap();
        assert!(b.holds(0.05) && !b.holds(0.051));
        assert!(Bound::parse("5%").is_err());
    }
}
