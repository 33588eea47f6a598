//! Semantic checks run after deserialisation: references, uniqueness, ranges, and fields that do
//! not belong to a fault kind. Each problem names the field path it is about.

use std::collections::HashMap;
use std::time::Duration;

use mqttsim_codec::Protocol;
use mqttsim_codec::topic::{validate_filter, validate_name};

use super::error::suggestion;
use super::model::{DeviceGroup, FaultKind, FaultSpec, Latency, LinkSpec, Scenario, Target};
use super::units::TimeSpan;

/// The most devices one group, and the whole scenario, may have.
pub const MAX_DEVICES: u32 = 1_000_000;
/// The largest payload a publish stream may declare, in bytes.
pub const MAX_PAYLOAD: u32 = 1 << 20;
/// The largest offline queue or broker queue, in messages.
pub const MAX_QUEUE: u32 = 1_000_000;

/// The most messages in one burst.
pub const MAX_BURST: u32 = 10_000;
/// The longest latency a link may declare.
pub const MAX_LATENCY: Duration = Duration::from_secs(600);

/// One semantic problem, before it is located in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    /// The field path the problem is about.
    pub(crate) path: String,
    /// What is wrong.
    pub(crate) message: String,
    /// How to fix it.
    pub(crate) help: Option<String>,
    /// Whether to point at the field's key rather than its value.
    pub(crate) at_key: bool,
}

type Check = Result<(), Issue>;

fn issue(path: impl Into<String>, message: impl Into<String>) -> Issue {
    Issue { path: path.into(), message: message.into(), help: None, at_key: false }
}

/// The shortest latency a distribution can give, when it has a floor above zero.
fn shortest_latency(latency: &crate::scenario::Latency) -> Option<std::time::Duration> {
    use crate::scenario::Latency;
    match latency {
        Latency::Fixed(v) => Some(v.get()),
        Latency::Uniform { min, .. } => Some(min.get()),
        Latency::Pareto { scale, .. } => Some(scale.get()),
        Latency::Normal { .. } | Latency::Lognormal { .. } => None,
    }
}

fn fail(path: impl Into<String>, message: impl Into<String>) -> Check {
    Err(issue(path, message))
}

fn fail_help(
    path: impl Into<String>,
    message: impl Into<String>,
    help: impl Into<String>,
) -> Check {
    Err(Issue { help: Some(help.into()), ..issue(path, message) })
}

/// Checks a deserialised scenario; the first problem found, in file order, is returned.
pub(crate) fn validate(s: &Scenario) -> Check {
    if s.name.trim().is_empty() {
        return fail("name", "the scenario name is empty");
    }
    if s.name.len() > 200 {
        return fail("name", "the scenario name is longer than 200 bytes");
    }
    if s.duration.get().is_zero() {
        return fail("duration", "the scenario duration is zero");
    }
    check_broker(s)?;
    check_sites(s)?;
    check_groups(s)?;
    let ids = check_client_ids(s)?;
    check_streams(s)?;
    for (i, fault) in s.faults.iter().enumerate() {
        check_fault(s, &ids, fault, &format!("faults[{i}]"))?;
    }
    check_retained_expectation(s)?;
    if let Some(l) = &s.expect.liveness
        && (l.quiet_period.get().is_zero() || l.quiet_period > s.duration)
    {
        return fail(
            "expect.liveness.quiet_period",
            format!(
                "the quiet period ({}) must be above zero and at most the scenario's duration ({})",
                l.quiet_period, s.duration
            ),
        );
    }
    if let Some(loss) = &s.expect.expected_loss {
        for (i, reason) in loss.excluding.iter().enumerate() {
            if *reason == crate::scenario::LossReason::Lost {
                return fail_help(
                    format!("expect.expected_loss.excluding[{i}]"),
                    "`lost` cannot be left out of the loss bounds: a lost pair has no reason \
                     the standard accepts",
                    "leave out only reasons you accept: at-most-once, broker-queue-full, \
                     broker-qos0-offline, publisher-dropped, publisher-lost-state, session-ended, \
                     subscriber-away, in-flight-at-end, too-large-for-subscriber",
                );
            }
            if loss.excluding[..i].contains(reason) {
                return fail(
                    format!("expect.expected_loss.excluding[{i}]"),
                    format!("`{reason}` is listed twice"),
                );
            }
        }
    }
    Ok(())
}

fn check_name(path: &str, name: &str, what: &str) -> Check {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        fail_help(
            path,
            format!("`{name}` is not a valid {what} name"),
            "use 1 to 64 letters, digits, `-` or `_`; names appear in client ids and topics",
        )
    }
}

fn check_broker(s: &Scenario) -> Check {
    let b = &s.broker;
    if b.max_inflight == 0 || b.max_inflight > 65_535 {
        return fail(
            "broker.max_inflight",
            format!("max_inflight {} is out of range: expected 1 to 65535", b.max_inflight),
        );
    }
    if b.max_queued > MAX_QUEUE {
        return fail(
            "broker.max_queued",
            format!("max_queued {} is above the limit of {MAX_QUEUE}", b.max_queued),
        );
    }
    let grace = b.keepalive.grace;
    if !(1.0..=10.0).contains(&grace) {
        return fail(
            "broker.keepalive.grace",
            format!(
                "keepalive grace {grace} is out of range: expected 1 to 10 (the standard uses 1.5)"
            ),
        );
    }
    let v5_fields = [
        ("receive_maximum", b.receive_maximum.is_some()),
        ("max_packet_size", b.max_packet_size.is_some()),
        ("topic_alias_maximum", b.topic_alias_maximum.is_some()),
        ("maximum_qos", b.maximum_qos.is_some()),
        ("retain_available", b.retain_available.is_some()),
    ];
    for (field, set) in v5_fields {
        if set && s.devices.iter().all(|g| g.protocol_in(s) != Protocol::V5) {
            return fail_help(
                format!("broker.{field}"),
                format!("`{field}` exists only in MQTT 5.0, but no device group speaks it"),
                "set `protocol: \"5.0\"` for the scenario or a group, or remove this field",
            );
        }
    }
    if let Some(max) = b.maximum_qos {
        for (gi, g) in s.devices.iter().enumerate() {
            let Some(w) = g.will.as_ref().filter(|w| w.qos.get() > max.get()) else { continue };
            if g.protocol_in(s) == Protocol::V5 {
                return fail_help(
                    format!("devices[{gi}].will.qos"),
                    format!(
                        "the Will of group `{}` has QoS {}, above the broker's maximum_qos {}: \
                         the broker refuses its CONNECT [MQTT-3.2.2-12]",
                        g.group,
                        w.qos.get().as_u8(),
                        max.get().as_u8()
                    ),
                    format!("use a Will QoS of at most {}", max.get().as_u8()),
                );
            }
        }
    }
    if b.restart_command.as_ref().is_some_and(|c| c.trim().is_empty()) {
        return fail_help(
            "broker.restart_command",
            "restart_command is empty",
            "give the shell command that restarts the broker under test, e.g. \
             'systemctl restart mosquitto', or remove the field",
        );
    }
    if b.retain_available == Some(false) {
        check_retain_unavailable(s)?;
    }
    if b.receive_maximum == Some(0) {
        return fail(
            "broker.receive_maximum",
            "receive_maximum 0 is a Protocol Error in MQTT 5.0: expected 1 to 65535",
        );
    }
    if let Some(rm) = b.receive_maximum
        && rm < V311_INFLIGHT
        && s.devices.iter().any(|g| g.protocol_in(s) != Protocol::V5)
    {
        return fail_help(
            "broker.receive_maximum",
            format!(
                "receive_maximum {rm} also bounds the open QoS 2 flows of 3.1.1 clients, which \
                 know nothing of it and keep up to {V311_INFLIGHT} in flight"
            ),
            format!("use at least {V311_INFLIGHT} in a fleet with 3.1.1 groups"),
        );
    }
    if let Some(size) = b.max_packet_size
        && !(MIN_PACKET_SIZE..=MAX_PAYLOAD + 1024).contains(&size)
    {
        return fail(
            "broker.max_packet_size",
            format!(
                "max_packet_size {size} is out of range: expected {MIN_PACKET_SIZE} to {} bytes",
                MAX_PAYLOAD + 1024
            ),
        );
    }
    if let Some(o) = b.keepalive.server_override {
        if s.devices.iter().all(|g| g.protocol_in(s) != Protocol::V5) {
            return fail_help(
                "broker.keepalive.server_override",
                "`server_override` exists only in MQTT 5.0, but no device group speaks it",
                "set `protocol: \"5.0\"` for the scenario or a group, or remove this field",
            );
        }
        check_keepalive("broker.keepalive.server_override", o)?;
    }
    let mut seen = Vec::new();
    for (i, bug) in b.bugs.iter().enumerate() {
        if seen.contains(bug) {
            return fail(format!("broker.bugs[{i}]"), "this bug is listed twice");
        }
        seen.push(*bug);
    }
    Ok(())
}

/// Fails a field of group `g` that exists only in MQTT 5.0 when the group speaks 3.1.1.
pub(super) fn need_v5(s: &Scenario, g: &DeviceGroup, path: &str) -> Check {
    if g.protocol_in(s) == Protocol::V5 {
        return Ok(());
    }
    let field = path.rsplit('.').next().unwrap_or(path);
    let (whose, help) = if g.protocol.is_some() {
        (format!("group `{}`", g.group), "set the group's `protocol: \"5.0\"` or remove this field")
    } else {
        (
            "the scenario".to_owned(),
            "set `protocol: \"5.0\"` (for the scenario or the group) or remove this field",
        )
    };
    fail_help(
        path,
        format!("`{field}` exists only in MQTT 5.0, but {whose} uses protocol 3.1.1"),
        help,
    )
}

/// A 5.0 interval sent in whole seconds (Session Expiry Interval, Will Delay Interval).
/// With `retain_available: false` a 5.0 Will with Will Retain 1 is refused at CONNECT.
fn check_retain_unavailable(s: &Scenario) -> Check {
    for (gi, g) in s.devices.iter().enumerate() {
        if g.protocol_in(s) == Protocol::V5 && g.will.as_ref().is_some_and(|w| w.retain) {
            return fail_help(
                format!("devices[{gi}].will.retain"),
                format!(
                    "the Will of group `{}` has Will Retain 1, but the broker's retain_available \
                     is false: the broker refuses its CONNECT with 0x9A [MQTT-3.2.2-13]",
                    g.group
                ),
                "remove `retain: true` from the Will, or the broker's `retain_available: false`",
            );
        }
    }
    Ok(())
}

/// With `retain_available: false` a `retained` expectation needs a 3.1.1 group's retained
/// messages or Wills to judge: 5.0 devices give theirs up.
fn check_retained_expectation(s: &Scenario) -> Check {
    if s.broker.retain_available != Some(false) || s.expect.retained != Some(true) {
        return Ok(());
    }
    let v311_retains = s.devices.iter().any(|g| {
        g.protocol_in(s) != Protocol::V5
            && (g.publish.iter().any(|p| p.retain) || g.will.as_ref().is_some_and(|w| w.retain))
    });
    if !v311_retains {
        return fail_help(
            "expect.retained",
            "`retained` has nothing to judge: with the broker's retain_available false, 5.0 \
             devices give their retained messages up [MQTT-3.2.2-14] and no 3.1.1 group \
             publishes a retained message or has a retained Will",
            "remove `retained` from expect, or the broker's `retain_available: false`",
        );
    }
    Ok(())
}

fn check_whole_seconds(path: &str, what: &str, value: TimeSpan) -> Check {
    if value.get().subsec_millis() != 0 {
        return fail(path, format!("{what} {value} is not a whole number of seconds"));
    }
    Ok(())
}

fn check_keepalive(path: &str, value: TimeSpan) -> Check {
    let d = value.get();
    if d.subsec_millis() != 0 {
        return fail(path, format!("keepalive {value} is not a whole number of seconds"));
    }
    if d.as_secs() > 65_535 {
        return fail(
            path,
            format!("keepalive {value} is above the MQTT maximum of 65535 seconds (18h12m15s)"),
        );
    }
    Ok(())
}

fn check_sites(s: &Scenario) -> Check {
    if s.sites.is_empty() {
        return fail("sites", "a scenario needs at least one site");
    }
    for (i, site) in s.sites.iter().enumerate() {
        let path = format!("sites[{i}]");
        check_name(&format!("{path}.name"), &site.name, "site")?;
        if let Some(j) = s.sites[..i].iter().position(|o| o.name == site.name) {
            return fail(
                format!("{path}.name"),
                format!("site `{}` is defined twice (first as sites[{j}])", site.name),
            );
        }
        check_link(&format!("{path}.link"), &site.link)?;
    }
    Ok(())
}

fn check_latency(path: &str, latency: &Latency) -> Check {
    let too_long = |v: TimeSpan| v.get() > MAX_LATENCY;
    let bad_float = |v: f64, lo: f64, hi: f64| !(v.is_finite() && v > lo && v <= hi);
    match *latency {
        Latency::Fixed(v) if too_long(v) => {
            fail(path, format!("latency {v} is above the limit of 10m"))
        }
        Latency::Uniform { min, max } if min > max => fail(
            format!("{path}.uniform.min"),
            format!("the minimum ({min}) is above the maximum ({max})"),
        ),
        Latency::Uniform { max, .. } if too_long(max) => {
            fail(format!("{path}.uniform.max"), format!("latency {max} is above the limit of 10m"))
        }
        Latency::Normal { mean, .. } if too_long(mean) => {
            fail(format!("{path}.normal.mean"), format!("latency {mean} is above the limit of 10m"))
        }
        Latency::Lognormal { median, .. } if too_long(median) => fail(
            format!("{path}.lognormal.median"),
            format!("latency {median} is above the limit of 10m"),
        ),
        Latency::Lognormal { sigma, .. } if bad_float(sigma, 0.0, 5.0) => fail(
            format!("{path}.lognormal.sigma"),
            format!("sigma {sigma} is out of range: expected above 0 and at most 5"),
        ),
        Latency::Pareto { scale, .. } if too_long(scale) || scale.get().is_zero() => fail(
            format!("{path}.pareto.scale"),
            format!("scale {scale} is out of range: expected above 0s and at most 10m"),
        ),
        Latency::Pareto { shape, .. } if bad_float(shape, 0.0, 100.0) => fail(
            format!("{path}.pareto.shape"),
            format!("shape {shape} is out of range: expected above 0 and at most 100"),
        ),
        _ => Ok(()),
    }
}

fn check_link(path: &str, link: &LinkSpec) -> Check {
    if let Some(latency) = &link.latency {
        check_latency(&format!("{path}.latency"), latency)?;
    }
    if let Some(jitter) = link.jitter
        && jitter.get() > MAX_LATENCY
    {
        return fail(
            format!("{path}.jitter"),
            format!("jitter {jitter} is above the limit of 10m"),
        );
    }
    if let Some(r) = &link.retransmission {
        let p = format!("{path}.retransmission");
        if r.initial_rto.get().is_zero() {
            return fail(format!("{p}.initial_rto"), "the initial retransmission timeout is zero");
        }
        if !(r.backoff.is_finite() && (1.0..=16.0).contains(&r.backoff)) {
            return fail(
                format!("{p}.backoff"),
                format!("backoff {} is out of range: expected 1 to 16", r.backoff),
            );
        }
        if r.max_rto < r.initial_rto {
            return fail(
                format!("{p}.max_rto"),
                format!("max_rto ({}) is below initial_rto ({})", r.max_rto, r.initial_rto),
            );
        }
        if r.max_retransmissions == 0 || r.max_retransmissions > 64 {
            return fail(
                format!("{p}.max_retransmissions"),
                format!(
                    "max_retransmissions {} is out of range: expected 1 to 64",
                    r.max_retransmissions
                ),
            );
        }
    }
    if let Some(f) = &link.flapping {
        for (field, v) in [("mean_down", f.mean_down), ("mean_up", f.mean_up)] {
            if v.get().is_zero() {
                return fail(format!("{path}.flapping.{field}"), format!("`{field}` is zero"));
            }
        }
    }
    Ok(())
}

fn check_topic(
    path: &str,
    group: &DeviceGroup,
    template: &super::template::Template,
    filter: bool,
) -> Check {
    let sample = group.expand(template, 0);
    let result = if filter { validate_filter(&sample) } else { validate_name(&sample) };
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            let what = if filter { "topic filter" } else { "topic name" };
            let help = if !filter && sample.contains(['+', '#']) {
                Some("wildcards `+` and `#` belong in subscription filters, not in topics you publish to".to_owned())
            } else {
                None
            };
            Err(Issue {
                help,
                ..issue(path, format!("`{}` is not a valid {what}: {e}", template.as_str()))
            })
        }
    }
}

fn check_groups(s: &Scenario) -> Check {
    if s.devices.is_empty() {
        return fail("devices", "a scenario needs at least one device group");
    }
    let site_names: Vec<&str> = s.sites.iter().map(|x| x.name.as_str()).collect();
    let mut total: u64 = 0;
    for (gi, g) in s.devices.iter().enumerate() {
        let path = format!("devices[{gi}]");
        check_name(&format!("{path}.group"), &g.group, "group")?;
        if let Some(j) = s.devices[..gi].iter().position(|o| o.group == g.group) {
            return fail(
                format!("{path}.group"),
                format!("group `{}` is defined twice (first as devices[{j}])", g.group),
            );
        }
        if !site_names.contains(&g.site.as_str()) {
            return fail_help(
                format!("{path}.site"),
                format!("group `{}` lives at site `{}`, which is not defined", g.group, g.site),
                suggestion(&g.site, &site_names, "sites"),
            );
        }
        if g.count == 0 || g.count > MAX_DEVICES {
            return fail(
                format!("{path}.count"),
                format!("count {} is out of range: expected 1 to {MAX_DEVICES}", g.count),
            );
        }
        total += u64::from(g.count);
        if total > u64::from(MAX_DEVICES) {
            return fail(
                format!("{path}.count"),
                format!("the scenario has more than {MAX_DEVICES} devices in total"),
            );
        }
        // A connection needs a round trip (CONNECT, CONNACK): a link whose shortest latency
        // makes that as long as the run means the group can never connect.
        let link = s.effective_link(g);
        if let Some(min) = link.latency.as_ref().and_then(shortest_latency)
            && min.saturating_mul(2) >= s.duration.get()
        {
            let at = if g.link.latency.is_some() {
                format!("{path}.link.latency")
            } else {
                let si = s.sites.iter().position(|site| site.name == g.site).unwrap_or(0);
                format!("sites[{si}].link.latency")
            };
            return fail_help(
                at,
                format!(
                    "group `{}` can never connect: its link's latency is at least {}, so a \
                     round trip (CONNECT, CONNACK) takes at least {}, and the scenario lasts {}",
                    g.group,
                    TimeSpan(min),
                    TimeSpan(min.saturating_mul(2)),
                    s.duration
                ),
                "lower the latency, or make the scenario last longer than two latencies",
            );
        }
        if g.count > 1 && !g.client_id.uses_index() {
            return fail_help(
                format!("{path}.client_id"),
                format!(
                    "all {} devices of group `{}` would get the same client id `{}`",
                    g.count,
                    g.group,
                    g.client_id(0)
                ),
                "add the index placeholder, such as `{i}` or `{i:03}`",
            );
        }
        check_keepalive(&format!("{path}.keepalive"), g.keepalive)?;
        if let Some(expiry) = g.session_expiry {
            need_v5(s, g, &format!("{path}.session_expiry"))?;
            check_whole_seconds(&format!("{path}.session_expiry"), "session_expiry", expiry)?;
        }
        check_flow_fields(s, g, &path)?;
        if let Some(w) = &g.will {
            check_topic(&format!("{path}.will.topic"), g, &w.topic, false)?;
            if let Some(delay) = w.delay {
                need_v5(s, g, &format!("{path}.will.delay"))?;
                check_whole_seconds(&format!("{path}.will.delay"), "will.delay", delay)?;
            }
            if w.payload.len() > MAX_PAYLOAD as usize {
                return fail(format!("{path}.will.payload"), "the Will payload is above 1 MiB");
            }
            check_will_properties(s, g, w, &format!("{path}.will"))?;
        }
        let r = &g.reconnect;
        if r.initial.get().is_zero() {
            return fail(format!("{path}.reconnect.initial"), "the first reconnect delay is zero");
        }
        if r.initial > r.max {
            return fail(
                format!("{path}.reconnect.max"),
                format!(
                    "the largest reconnect delay ({}) is below the first one ({})",
                    r.max, r.initial
                ),
            );
        }
        if !(r.multiplier.is_finite() && (1.0..=100.0).contains(&r.multiplier)) {
            return fail(
                format!("{path}.reconnect.multiplier"),
                format!("multiplier {} is out of range: expected 1 to 100", r.multiplier),
            );
        }
        if g.start.at.get() + g.start.stagger.get() > s.duration.get() {
            return fail(
                format!("{path}.start"),
                format!(
                    "devices would start after the end of the scenario: start at {} plus stagger {} exceeds the duration {}",
                    g.start.at, g.start.stagger, s.duration
                ),
            );
        }
        check_link(&format!("{path}.link"), &g.link)?;
        if g.queue.capacity > MAX_QUEUE {
            return fail(
                format!("{path}.queue.capacity"),
                format!("capacity {} is above the limit of {MAX_QUEUE}", g.queue.capacity),
            );
        }
        for (pi, p) in g.publish.iter().enumerate() {
            let pp = format!("{path}.publish[{pi}]");
            check_topic(&format!("{pp}.topic"), g, &p.topic, false)?;
            if p.payload_size > MAX_PAYLOAD {
                return fail(
                    format!("{pp}.payload_size"),
                    format!(
                        "payload_size {} is above the limit of {MAX_PAYLOAD} bytes (1 MiB)",
                        p.payload_size
                    ),
                );
            }
            if p.every.get().is_zero() {
                return fail(format!("{pp}.every"), "the publish period is zero");
            }
            if let Some(expiry) = p.expiry {
                let at = format!("{pp}.expiry");
                need_v5(s, g, &at)?;
                let d = expiry.get();
                if d.subsec_millis() != 0 || d.is_zero() {
                    return fail(
                        at,
                        format!(
                            "expiry {expiry} is not a whole number of seconds above zero (the \
                             Message Expiry Interval counts seconds; leave it out for none)"
                        ),
                    );
                }
            }
            if let Some(b) = &p.burst {
                if b.size == 0 || b.size > MAX_BURST {
                    return fail(
                        format!("{pp}.burst.size"),
                        format!("burst size {} is out of range: expected 1 to {MAX_BURST}", b.size),
                    );
                }
                let span = b.spacing.get() * (b.size - 1);
                if span >= p.every.get() {
                    return fail(
                        format!("{pp}.burst.spacing"),
                        format!(
                            "a burst of {} messages spaced {} lasts longer than the period `every: {}`",
                            b.size, b.spacing, p.every
                        ),
                    );
                }
            }
        }
        for (si, sub) in g.subscribe.iter().enumerate() {
            let sp = format!("{path}.subscribe[{si}]");
            check_topic(&format!("{sp}.filter"), g, &sub.filter, true)?;
            if sub.retain_handling.is_some() {
                need_v5(s, g, &format!("{sp}.retain_handling"))?;
            }
            if sub.retain_as_published {
                need_v5(s, g, &format!("{sp}.retain_as_published"))?;
            }
            if sub.is_shared() && g.protocol_in(s) != Protocol::V5 {
                return fail_help(
                    format!("{sp}.filter"),
                    format!(
                        "`{}` is a shared subscription, which exists only in MQTT 5.0 (in 3.1.1 \
                         `$share/...` is an ordinary filter), but group `{}` uses protocol 3.1.1",
                        sub.filter.as_str(),
                        g.group
                    ),
                    "set `protocol: \"5.0\"` (for the scenario or the group), or use another filter",
                );
            }
            if sub.no_local {
                need_v5(s, g, &format!("{sp}.no_local"))?;
                if sub.is_shared() {
                    return fail_help(
                        format!("{sp}.no_local"),
                        "No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]",
                        "remove `no_local`, or subscribe without `$share/...`",
                    );
                }
            }
        }
        check_shared_overlap(g, &path)?;
        for (pi, p) in g.publish.iter().enumerate() {
            check_publish_properties(s, g, p, &format!("{path}.publish[{pi}]"))?;
        }
    }
    Ok(())
}

/// A device's copies of a message are told apart only by the filters they match, so a group
/// with a shared subscription must not have two subscriptions that can match the same topic
/// (the checker could not say which subscription a copy answered).
fn check_shared_overlap(g: &DeviceGroup, path: &str) -> Check {
    if !g.subscribe.iter().any(super::model::SubscribeSpec::is_shared) {
        return Ok(());
    }
    for i in 0..g.count as usize {
        let filters: Vec<String> = g.subscribe.iter().map(|sub| g.expand(&sub.filter, i)).collect();
        for (a, fa) in filters.iter().enumerate() {
            for (b, fb) in filters.iter().enumerate().skip(a + 1) {
                let shared = g.subscribe[a].is_shared() || g.subscribe[b].is_shared();
                if shared && fa != fb && filters_overlap(inner(fa), inner(fb)) {
                    return fail_help(
                        format!("{path}.subscribe[{b}].filter"),
                        format!(
                            "`{fb}` and `{fa}` can match the same topic, and one is a shared \
                             subscription: the checker could not tell which one a copy answered"
                        ),
                        "give the shared subscription a filter no other subscription of the group \
                         matches",
                    );
                }
            }
        }
    }
    Ok(())
}

/// The filter a shared subscription matches topics with (`$share/g/a/+` → `a/+`).
fn inner(filter: &str) -> &str {
    match mqttsim_codec::topic::SharedFilter::parse(filter) {
        Some(Ok(shared)) => shared.filter,
        _ => filter,
    }
}

/// Whether some topic name matches both filters (`$` topics aside: they count as overlapping).
pub(crate) fn filters_overlap(a: &str, b: &str) -> bool {
    let mut la = a.split('/');
    let mut lb = b.split('/');
    loop {
        match (la.next(), lb.next()) {
            (Some("#"), _) | (_, Some("#")) | (None, None) => return true,
            (None, Some(_)) | (Some(_), None) => return false,
            (Some(x), Some(y)) if x == y || x == "+" || y == "+" => {}
            _ => return false,
        }
    }
}

/// The most QoS 1 and 2 messages a device keeps in flight; a 3.1.1 device knows no Receive
/// Maximum to lower it.
const V311_INFLIGHT: u16 = 16;

/// The smallest Maximum Packet Size a device may announce: room for a CONNACK with its
/// properties and a short PUBLISH.
pub const MIN_PACKET_SIZE: u32 = 128;

/// A group's MQTT 5.0 flow-control fields (Receive Maximum, Maximum Packet Size, topic
/// aliases) and its `respond` block.
fn check_flow_fields(s: &Scenario, g: &DeviceGroup, path: &str) -> Check {
    if let Some(rm) = g.receive_maximum {
        need_v5(s, g, &format!("{path}.receive_maximum"))?;
        if rm == 0 {
            return fail(
                format!("{path}.receive_maximum"),
                "receive_maximum 0 is a Protocol Error in MQTT 5.0: expected 1 to 65535",
            );
        }
    }
    if let Some(size) = g.maximum_packet_size {
        need_v5(s, g, &format!("{path}.maximum_packet_size"))?;
        if !(MIN_PACKET_SIZE..=MAX_PAYLOAD + 1024).contains(&size) {
            return fail(
                format!("{path}.maximum_packet_size"),
                format!(
                    "maximum_packet_size {size} is out of range: expected {MIN_PACKET_SIZE} to {} \
                     bytes",
                    MAX_PAYLOAD + 1024
                ),
            );
        }
    }
    if g.topic_alias_maximum.is_some() {
        need_v5(s, g, &format!("{path}.topic_alias_maximum"))?;
    }
    if g.topic_aliases.is_some() {
        need_v5(s, g, &format!("{path}.topic_aliases"))?;
    }
    if let Some(r) = &g.respond {
        need_v5(s, g, &format!("{path}.respond"))?;
        check_topic(&format!("{path}.respond.to"), g, &r.to, true)?;
        if r.payload_size > MAX_PAYLOAD {
            return fail(
                format!("{path}.respond.payload_size"),
                format!(
                    "payload_size {} is above the limit of {MAX_PAYLOAD} bytes (1 MiB)",
                    r.payload_size
                ),
            );
        }
    }
    Ok(())
}

/// A publish entry's MQTT 5.0 message properties and its `request` block.
fn check_publish_properties(
    s: &Scenario,
    g: &DeviceGroup,
    p: &super::model::PublishSpec,
    path: &str,
) -> Check {
    check_message_properties(
        s,
        g,
        path,
        &p.user_properties,
        p.content_type.as_deref(),
        p.payload_format.is_some(),
    )?;
    if let Some(r) = &p.request {
        need_v5(s, g, &format!("{path}.request"))?;
        let at = format!("{path}.request.response_topic");
        check_topic(&at, g, &r.response_topic, false)?;
        let topic = g.expand(&r.response_topic, 0);
        if !g.subscribe.iter().any(|sub| validate_filter_matches(&g.expand(&sub.filter, 0), &topic))
        {
            return fail_help(
                at,
                format!(
                    "group `{}` asks for responses on `{topic}` but subscribes to no filter that \
                     matches it",
                    g.group
                ),
                "add a subscription to the response topic, such as `subscribe: [ { filter: \
                 \"<the response topic>\", qos: 1 } ]`",
            );
        }
    }
    Ok(())
}

/// The MQTT 5.0 properties a publish entry and a Will have in common.
fn check_message_properties(
    s: &Scenario,
    g: &DeviceGroup,
    path: &str,
    user_properties: &[super::model::UserPropertySpec],
    content_type: Option<&str>,
    payload_format: bool,
) -> Check {
    if !user_properties.is_empty() {
        need_v5(s, g, &format!("{path}.user_properties"))?;
    }
    for (ui, u) in user_properties.iter().enumerate() {
        for (field, t) in [("key", &u.key), ("value", &u.value)] {
            if t.as_str().contains('\0') {
                return fail(
                    format!("{path}.user_properties[{ui}].{field}"),
                    "a user property may not contain U+0000 [MQTT-1.5.4-2]",
                );
            }
        }
    }
    if let Some(c) = content_type {
        need_v5(s, g, &format!("{path}.content_type"))?;
        if c.contains('\0') || c.len() > 65_535 {
            return fail(
                format!("{path}.content_type"),
                "the content type contains U+0000 or is longer than 65535 bytes",
            );
        }
    }
    if payload_format {
        need_v5(s, g, &format!("{path}.payload_format"))?;
    }
    Ok(())
}

/// A Will's MQTT 5.0 properties (what the published Will carries).
fn check_will_properties(
    s: &Scenario,
    g: &DeviceGroup,
    w: &super::model::WillSpec,
    path: &str,
) -> Check {
    if let Some(expiry) = w.expiry {
        let at = format!("{path}.expiry");
        need_v5(s, g, &at)?;
        let d = expiry.get();
        if d.subsec_millis() != 0 || d.is_zero() {
            return fail(
                at,
                format!(
                    "expiry {expiry} is not a whole number of seconds above zero (the Message \
                     Expiry Interval counts seconds; leave it out for none)"
                ),
            );
        }
    }
    check_message_properties(
        s,
        g,
        path,
        &w.user_properties,
        w.content_type.as_deref(),
        w.payload_format.is_some(),
    )?;
    if let Some(t) = &w.response_topic {
        let at = format!("{path}.response_topic");
        need_v5(s, g, &at)?;
        check_topic(&at, g, t, false)?;
    }
    if let Some(c) = &w.correlation_data {
        let at = format!("{path}.correlation_data");
        need_v5(s, g, &at)?;
        if c.as_str().len() > 65_535 {
            return fail(at, "the correlation data is longer than 65535 bytes");
        }
    }
    Ok(())
}

fn validate_filter_matches(filter: &str, topic: &str) -> bool {
    mqttsim_codec::topic::matches(filter, topic)
}

/// Devices' random streams (`streams_from`, or the fleet position) must not be shared, and must
/// fit the 32 bits a flapping fault's stream leaves for the device.
fn check_streams(s: &Scenario) -> Check {
    let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(s.devices.len());
    let mut position: u64 = 0;
    for (gi, g) in s.devices.iter().enumerate() {
        let first = g.stream(position, 0);
        let end = first + u64::from(g.count);
        if end > u64::from(u32::MAX) {
            return fail(
                format!("devices[{gi}].streams_from"),
                format!("the streams of this group's {} devices run past {}", g.count, u32::MAX),
            );
        }
        ranges.push((first, end, gi));
        position += u64::from(g.count);
    }
    ranges.sort_unstable();
    for pair in ranges.windows(2) {
        let ((_, end, a), (start, _, b)) = (pair[0], pair[1]);
        if start < end {
            let (first, second) = (a.min(b), a.max(b));
            return fail_help(
                format!("devices[{second}].streams_from"),
                format!(
                    "the random streams of group `{}` overlap those of group `{}`",
                    s.devices[second].group, s.devices[first].group
                ),
                "give each group a `streams_from` at least the previous group's plus its count, or leave it out",
            );
        }
    }
    Ok(())
}

/// Expands every client id once; returns the map from client id to its group and index.
fn check_client_ids(s: &Scenario) -> Result<HashMap<String, (usize, usize)>, Issue> {
    let mut ids: HashMap<String, (usize, usize)> = HashMap::new();
    for (gi, g) in s.devices.iter().enumerate() {
        for i in 0..g.count as usize {
            let id = g.client_id(i);
            if id.is_empty() || id.len() > 65_535 {
                return Err(issue(
                    format!("devices[{gi}].client_id"),
                    format!("the client id of device {i} is empty or longer than 65535 bytes"),
                ));
            }
            if let Some(&(og, oi)) = ids.get(&id) {
                let other = &s.devices[og].group;
                return Err(Issue {
                    help: Some(
                        "make the templates differ, for example by including `{group}`".to_owned(),
                    ),
                    ..issue(
                        format!("devices[{gi}].client_id"),
                        format!(
                            "client id `{id}` of device {i} of group `{}` is also the id of device {oi} of group `{other}`",
                            g.group
                        ),
                    )
                });
            }
            ids.insert(id, (gi, i));
        }
    }
    Ok(ids)
}

fn check_target(
    s: &Scenario,
    ids: &HashMap<String, (usize, usize)>,
    t: &Target,
    path: &str,
) -> Check {
    let set =
        [t.device.is_some(), t.group.is_some(), t.site.is_some()].iter().filter(|b| **b).count();
    if set != 1 {
        return fail_help(
            path,
            "a target names exactly one of `device`, `group` or `site`",
            "for example `target: { group: soil, fraction: 10% }`",
        );
    }
    let mut size: u64 = 1;
    if let Some(device) = &t.device {
        if !ids.contains_key(device) {
            let hint = s
                .devices
                .iter()
                .map(|g| format!("`{}` for group `{}`", g.client_id(0), g.group))
                .take(4)
                .collect::<Vec<_>>()
                .join(", ");
            return fail_help(
                format!("{path}.device"),
                format!("no device has the client id `{device}`"),
                format!("client ids come from each group's template, such as {hint}"),
            );
        }
        if t.count.is_some() || t.fraction.is_some() {
            return fail(
                format!("{path}.device"),
                "`count` and `fraction` apply to a group or a site, not to one device",
            );
        }
    }
    if let Some(group) = &t.group {
        let names: Vec<&str> = s.devices.iter().map(|g| g.group.as_str()).collect();
        match s.group(group) {
            Some(g) => size = u64::from(g.count),
            None => {
                return fail_help(
                    format!("{path}.group"),
                    format!("the target names group `{group}`, which is not defined"),
                    suggestion(group, &names, "groups"),
                );
            }
        }
    }
    if let Some(site) = &t.site {
        let names: Vec<&str> = s.sites.iter().map(|x| x.name.as_str()).collect();
        if !names.contains(&site.as_str()) {
            return fail_help(
                format!("{path}.site"),
                format!("the target names site `{site}`, which is not defined"),
                suggestion(site, &names, "sites"),
            );
        }
        size = s.devices.iter().filter(|g| &g.site == site).map(|g| u64::from(g.count)).sum();
    }
    if t.count.is_some() && t.fraction.is_some() {
        return fail(format!("{path}.fraction"), "give either `count` or `fraction`, not both");
    }
    if let Some(count) = t.count
        && (count == 0 || u64::from(count) > size)
    {
        return fail(
            format!("{path}.count"),
            format!("count {count} is out of range: the target has {size} devices"),
        );
    }
    Ok(())
}

fn forbid(present: bool, path: &str, field: &str, kind: &str, why: &str) -> Check {
    if present {
        let key = format!("{path}.{field}");
        return Err(Issue {
            at_key: true,
            help: Some(why.to_owned()),
            ..issue(key, format!("`{field}` does not apply to a `{kind}` fault"))
        });
    }
    Ok(())
}

fn require(present: bool, path: &str, field: &str, kind: &str, example: &str) -> Check {
    if present {
        return Ok(());
    }
    fail_help(
        format!("{path}.{field}"),
        format!("a `{kind}` fault needs `{field}`"),
        format!("add it to this fault, for example `{field}: {example}`"),
    )
}

fn check_fault(
    s: &Scenario,
    ids: &HashMap<String, (usize, usize)>,
    f: &FaultSpec,
    path: &str,
) -> Check {
    let end = s.duration;
    let at = f.at.unwrap_or_default();
    if at > end {
        return fail(
            format!("{path}.at"),
            format!("the fault starts at {at}, after the end of the scenario ({end})"),
        );
    }
    if let Some(lasts) = f.lasts {
        if lasts.get().is_zero() {
            return fail(format!("{path}.for"), "`for` is zero");
        }
        if at.get() + lasts.get() > end.get() {
            return fail(
                format!("{path}.for"),
                format!("the fault lasts {lasts} from {at}, past the end of the scenario ({end})"),
            );
        }
    }
    if let Some(until) = f.until
        && (until > end || until <= at)
    {
        return fail(
            format!("{path}.until"),
            format!(
                "`until` ({until}) must be after `at` ({at}) and at most the scenario's duration ({end})"
            ),
        );
    }
    if let Some(every) = f.every {
        if every.get().is_zero() {
            return fail(format!("{path}.every"), "the repeat period is zero");
        }
        if let Some(lasts) = f.lasts
            && every <= lasts
        {
            return fail(
                format!("{path}.every"),
                format!(
                    "the fault repeats every {every} but lasts {lasts}, so repetitions would overlap"
                ),
            );
        }
        // The last repetition must end in time, like a single fault.
        let from = at.get();
        let until = f.until.unwrap_or(end).get();
        if let Some(lasts) = f.lasts
            && until > from
        {
            // The last start before `until`, without listing them all.
            let span = (until - from).as_nanos() - 1;
            let steps = span / every.get().as_nanos();
            let last = TimeSpan(from + every.get() * u32::try_from(steps).unwrap_or(u32::MAX));
            if last.get() + lasts.get() > end.get() {
                return fail_help(
                    format!("{path}.every"),
                    format!(
                        "the last repetition starts at {last} and lasts {lasts}, past the end of \
                         the scenario ({end})"
                    ),
                    format!(
                        "end the repetitions with `until: {}` (or earlier), or shorten `for`",
                        TimeSpan(end.get().saturating_sub(lasts.get()))
                    ),
                );
            }
        }
    }
    if let Some(target) = &f.target {
        check_target(s, ids, target, &format!("{path}.target"))?;
    }
    let kinds: Vec<FaultKind> = match (f.kind, &f.random) {
        (Some(_), Some(_)) => {
            return Err(Issue {
                at_key: true,
                ..issue(
                    format!("{path}.random"),
                    "a fault has either `kind` (one fault) or `random` (a mix), not both",
                )
            });
        }
        (None, None) => {
            return fail_help(
                path,
                "a fault needs `kind` (one fault on the timeline) or `random` (a random mix)",
                "for example `kind: partition`",
            );
        }
        (Some(kind), None) => {
            if f.until.is_some() && f.every.is_none() {
                return Err(Issue {
                    at_key: true,
                    help: Some("add `every` to repeat the fault until then".to_owned()),
                    ..issue(
                        format!("{path}.until"),
                        "`until` ends repetitions, but this fault does not repeat",
                    )
                });
            }
            vec![kind]
        }
        (None, Some(random)) => {
            let rp = format!("{path}.random");
            if random.kinds.is_empty() {
                return fail(format!("{rp}.kinds"), "a random mix needs at least one kind");
            }
            if let Some(i) = random.kinds.iter().position(|k| *k == FaultKind::BrokerRestart) {
                return fail_help(
                    format!("{rp}.kinds[{i}]"),
                    "`broker-restart` cannot be part of a random mix",
                    "schedule broker restarts with `kind: broker-restart` and `at` or `every`",
                );
            }
            match (random.rate, random.mean_interval) {
                (Some(_), Some(_)) => {
                    return Err(Issue {
                        at_key: true,
                        ..issue(
                            format!("{rp}.mean_interval"),
                            "give either `rate` or `mean_interval`, not both",
                        )
                    });
                }
                (None, None) => {
                    return fail_help(
                        rp,
                        "a random mix needs `rate` or `mean_interval`",
                        "for example `rate: 4/h`",
                    );
                }
                (None, Some(m)) if m.get().is_zero() => {
                    return fail(format!("{rp}.mean_interval"), "`mean_interval` is zero");
                }
                _ => {}
            }
            forbid(
                f.every.is_some(),
                path,
                "every",
                "random",
                "a random mix draws its own times; use `at` and `until` for its window",
            )?;
            random.kinds.clone()
        }
    };
    let label = match f.kind {
        Some(k) => k.name(),
        None => "random",
    };
    // Every fault but a broker restart aims at devices: a target, or a random mix's draw.
    let require_target = |example: &str| {
        require(f.target.is_some() || f.random.is_some(), path, "target", label, example)
    };
    for kind in kinds {
        match kind {
            FaultKind::BrokerRestart => {
                forbid(
                    f.target.is_some(),
                    path,
                    "target",
                    label,
                    "a broker restart affects every device",
                )?;
                forbid(
                    f.direction.is_some(),
                    path,
                    "direction",
                    label,
                    "only `blackout` and `partition` have a direction",
                )?;
                require(f.lasts.is_some(), path, "for", label, "30s")?;
            }
            FaultKind::Blackout | FaultKind::Partition => {
                require_target("{ site: north }")?;
                require(f.lasts.is_some(), path, "for", label, "5m")?;
            }
            FaultKind::LossBurst => {
                require_target("{ group: soil }")?;
                require(f.lasts.is_some(), path, "for", label, "2m")?;
                require(f.loss.is_some(), path, "loss", label, "30%")?;
            }
            FaultKind::Flapping => {
                require_target("{ group: soil }")?;
                require(f.lasts.is_some(), path, "for", label, "10m")?;
                require(f.mean_down.is_some(), path, "mean_down", label, "20s")?;
                require(f.mean_up.is_some(), path, "mean_up", label, "1m")?;
            }
            FaultKind::Reboot => {
                require_target("{ group: soil, count: 5 }")?;
                require(f.lasts.is_some(), path, "for", label, "20s")?;
            }
            FaultKind::Crash => {
                require_target("{ device: soil-007 }")?;
                if f.random.is_none() {
                    forbid(
                        f.lasts.is_some(),
                        path,
                        "for",
                        label,
                        "a crashed device stays down; use `kind: reboot` with `for` to bring it back",
                    )?;
                }
            }
            FaultKind::PowerLoss | FaultKind::Disconnect => {
                require(
                    f.target.is_some(),
                    path,
                    "target",
                    label,
                    "{ group: soil, fraction: 10% }",
                )?;
            }
        }
    }
    let all: Vec<FaultKind> = match (&f.random, f.kind) {
        (Some(r), _) => r.kinds.clone(),
        (None, Some(k)) => vec![k],
        (None, None) => Vec::new(),
    };
    let any = |ks: &[FaultKind]| all.iter().any(|k| ks.contains(k));
    forbid(
        f.direction.is_some() && !any(&[FaultKind::Blackout, FaultKind::Partition]),
        path,
        "direction",
        label,
        "only `blackout` and `partition` have a direction",
    )?;
    forbid(
        f.loss.is_some() && !any(&[FaultKind::LossBurst]),
        path,
        "loss",
        label,
        "only `loss-burst` sets a loss rate",
    )?;
    forbid(
        (f.mean_down.is_some() || f.mean_up.is_some()) && !any(&[FaultKind::Flapping]),
        path,
        if f.mean_down.is_some() { "mean_down" } else { "mean_up" },
        label,
        "only `flapping` has `mean_down` and `mean_up`",
    )?;
    forbid(
        f.state.is_some() && !any(&[FaultKind::BrokerRestart]),
        path,
        "state",
        label,
        "only `broker-restart` overrides the broker's state",
    )?;
    forbid(
        f.reason.is_some() && !any(&[FaultKind::Disconnect]),
        path,
        "reason",
        label,
        "only `disconnect` sends a DISCONNECT with a reason",
    )?;
    for (field, v) in [("mean_down", f.mean_down), ("mean_up", f.mean_up)] {
        if v.is_some_and(|v| v.get().is_zero()) {
            return fail(format!("{path}.{field}"), format!("`{field}` is zero"));
        }
    }
    Ok(())
}
