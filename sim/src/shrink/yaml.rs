//! A scenario written back as YAML that parses to the same scenario.
//!
//! Only fields that differ from their defaults are written, small mappings in flow style as in
//! the shipped scenarios. Every struct is taken apart field by field, so a field added to the
//! scenario model does not compile here until it is written too (a shrunk scenario must never
//! lose part of what it was run with).

use std::fmt::Write as _;

use crate::scenario::{
    Bound, BrokerSpec, Burst, Credentials, DeviceGroup, EventRate, Expectations, ExpectedLoss,
    FaultSpec, Flapping, KeepaliveSpec, Latency, LinkSpec, Liveness, ProtocolVersion, PublishSpec,
    QueueSpec, RandomFaults, Ratio, ReconnectSpec, RequestSpec, RespondSpec, Resubscribe,
    Retransmission, Scenario, Site, StartSpec, SubscribeSpec, Target, TimeSpan, UserPropertySpec,
    WillSpec,
};

/// The scenario as YAML text, ending with a newline.
pub fn to_yaml(scenario: &Scenario) -> String {
    let Scenario {
        name,
        description,
        seed,
        duration,
        protocol,
        broker,
        sites,
        devices,
        faults,
        expect,
    } = scenario;
    let mut out = String::new();
    let _ = writeln!(out, "name: {}", string(name));
    if !description.is_empty() {
        let _ = writeln!(out, "description: {}", string(description));
    }
    let _ = writeln!(out, "seed: {seed}");
    let _ = writeln!(out, "duration: {duration}");
    let _ = writeln!(out, "protocol: {}", protocol_version(*protocol));
    let broker = broker_spec(broker);
    if !broker.is_empty() {
        let _ = writeln!(out, "broker: {}", flow(&broker));
    }
    out.push_str("sites:\n");
    for site in sites {
        let _ = writeln!(out, "  - {}", flow(&site_fields(site)));
    }
    out.push_str("devices:\n");
    for group in devices {
        group_block(&mut out, group);
    }
    if !faults.is_empty() {
        out.push_str("faults:\n");
        for fault in faults {
            let _ = writeln!(out, "  - {}", flow(&fault_fields(fault)));
        }
    }
    let expect = expectations(expect);
    if !expect.is_empty() {
        out.push_str("expect:\n");
        for (key, value) in expect {
            let _ = writeln!(out, "  {key}: {value}");
        }
    }
    out
}

/// Key-value pairs of a mapping, values already rendered.
type Fields = Vec<(&'static str, String)>;

fn flow(fields: &Fields) -> String {
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{ {} }}", inner.join(", "))
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    format!("[{}]", items.into_iter().collect::<Vec<_>>().join(", "))
}

/// A string as a YAML scalar: plain when that is unambiguous, else double-quoted (JSON's
/// escapes are YAML's).
fn string(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
        && s.as_bytes()[0].is_ascii_alphabetic()
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain { s.to_owned() } else { serde_json::Value::String(s.to_owned()).to_string() }
}

/// The kebab-case name serde gives a unit variant, from its `Debug` name (`DropOldest` →
/// `drop-oldest`), so that new variants need nothing here.
pub(crate) fn kebab(value: &impl std::fmt::Debug) -> String {
    let debug = format!("{value:?}");
    let mut out = String::with_capacity(debug.len() + 4);
    for (i, c) in debug.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn span(t: TimeSpan) -> String {
    t.to_string()
}

/// A number written so that it reads back as the same `f64`.
fn number(v: f64) -> String {
    format!("{v}")
}

/// A ratio as a percentage when that reads back exactly, else as a fraction.
fn ratio(r: Ratio) -> String {
    let percent = format!("{}%", r.get() * 100.0);
    if Ratio::parse(&percent).is_ok_and(|p| p.get() == r.get()) { percent } else { number(r.get()) }
}

fn event_rate(rate: EventRate) -> String {
    format!("{}/h", rate.per_hour())
}

fn bound(b: Bound) -> String {
    let op = match b.op {
        crate::scenario::BoundOp::Less => "<",
        crate::scenario::BoundOp::AtMost => "<=",
        crate::scenario::BoundOp::Equal => "=",
        crate::scenario::BoundOp::AtLeast => ">=",
        crate::scenario::BoundOp::Greater => ">",
    };
    string(&format!("{op} {}", ratio(b.value)))
}

fn protocol_version(p: ProtocolVersion) -> String {
    match p.get() {
        mqttsim_codec::Protocol::V5 => "\"5.0\"".to_owned(),
        _ => "\"3.1.1\"".to_owned(),
    }
}

fn qos(q: crate::scenario::Qos) -> String {
    q.get().as_u8().to_string()
}

fn broker_spec(b: &BrokerSpec) -> Fields {
    let BrokerSpec {
        state,
        max_inflight,
        max_queued,
        keepalive,
        bugs,
        receive_maximum,
        max_packet_size,
        topic_alias_maximum,
        maximum_qos,
        retain_available,
        restart_command,
    } = b;
    let default = BrokerSpec::default();
    let mut f = Fields::new();
    if *state != default.state {
        f.push(("state", kebab(state)));
    }
    if *max_inflight != default.max_inflight {
        f.push(("max_inflight", max_inflight.to_string()));
    }
    if *max_queued != default.max_queued {
        f.push(("max_queued", max_queued.to_string()));
    }
    let KeepaliveSpec { grace, server_override } = keepalive;
    let mut k = Fields::new();
    if *grace != default.keepalive.grace {
        k.push(("grace", number(*grace)));
    }
    if let Some(o) = server_override {
        k.push(("server_override", span(*o)));
    }
    if !k.is_empty() {
        f.push(("keepalive", flow(&k)));
    }
    if !bugs.is_empty() {
        f.push(("bugs", list(bugs.iter().map(kebab))));
    }
    if let Some(v) = receive_maximum {
        f.push(("receive_maximum", v.to_string()));
    }
    if let Some(v) = max_packet_size {
        f.push(("max_packet_size", v.to_string()));
    }
    if let Some(v) = topic_alias_maximum {
        f.push(("topic_alias_maximum", v.to_string()));
    }
    if let Some(q) = maximum_qos {
        f.push(("maximum_qos", qos(*q)));
    }
    if let Some(v) = retain_available {
        f.push(("retain_available", v.to_string()));
    }
    if let Some(c) = restart_command {
        f.push(("restart_command", string(c)));
    }
    f
}

fn site_fields(site: &Site) -> Fields {
    let Site { name, link } = site;
    let mut f = vec![("name", string(name))];
    let link = link_fields(link);
    if !link.is_empty() {
        f.push(("link", flow(&link)));
    }
    f
}

fn latency(l: Latency) -> String {
    match l {
        Latency::Fixed(v) => span(v),
        Latency::Uniform { min, max } => {
            format!("{{ uniform: {{ min: {}, max: {} }} }}", span(min), span(max))
        }
        Latency::Normal { mean, stddev } => {
            format!("{{ normal: {{ mean: {}, stddev: {} }} }}", span(mean), span(stddev))
        }
        Latency::Lognormal { median, sigma } => {
            format!("{{ lognormal: {{ median: {}, sigma: {} }} }}", span(median), number(sigma))
        }
        Latency::Pareto { scale, shape } => {
            format!("{{ pareto: {{ scale: {}, shape: {} }} }}", span(scale), number(shape))
        }
    }
}

fn link_fields(link: &LinkSpec) -> Fields {
    let LinkSpec { latency: lat, jitter, loss, retransmission, flapping } = link;
    let mut f = Fields::new();
    if let Some(l) = lat {
        f.push(("latency", latency(*l)));
    }
    if let Some(j) = jitter {
        f.push(("jitter", span(*j)));
    }
    if let Some(l) = loss {
        f.push(("loss", ratio(*l)));
    }
    if let Some(r) = retransmission {
        let Retransmission { initial_rto, backoff, max_rto, max_retransmissions } = r;
        let r = vec![
            ("initial_rto", span(*initial_rto)),
            ("backoff", number(*backoff)),
            ("max_rto", span(*max_rto)),
            ("max_retransmissions", max_retransmissions.to_string()),
        ];
        f.push(("retransmission", flow(&r)));
    }
    if let Some(Flapping { mean_down, mean_up }) = flapping {
        let fl = vec![("mean_down", span(*mean_down)), ("mean_up", span(*mean_up))];
        f.push(("flapping", flow(&fl)));
    }
    f
}

fn group_block(out: &mut String, g: &DeviceGroup) {
    let DeviceGroup {
        group,
        site,
        count,
        client_id,
        protocol,
        clean_session,
        keepalive,
        session_expiry,
        credentials,
        will,
        reconnect,
        start,
        link,
        queue,
        publish,
        subscribe,
        streams_from,
        receive_maximum,
        maximum_packet_size,
        topic_alias_maximum,
        topic_aliases,
        respond,
    } = g;
    let mut f = vec![
        ("group", string(group)),
        ("site", string(site)),
        ("count", count.to_string()),
        ("client_id", string(client_id.as_str())),
    ];
    if let Some(p) = protocol {
        f.push(("protocol", protocol_version(*p)));
    }
    if let Some(n) = streams_from {
        f.push(("streams_from", n.to_string()));
    }
    if !clean_session {
        f.push(("clean_session", "false".to_owned()));
    }
    if *keepalive != TimeSpan::from_secs(60) {
        f.push(("keepalive", span(*keepalive)));
    }
    if let Some(e) = session_expiry {
        f.push(("session_expiry", span(*e)));
    }
    if let Some(Credentials { username, password }) = credentials {
        let mut c = vec![("username", string(username))];
        if let Some(p) = password {
            c.push(("password", string(p)));
        }
        f.push(("credentials", flow(&c)));
    }
    if let Some(WillSpec {
        topic,
        payload,
        qos: q,
        retain,
        delay,
        expiry,
        user_properties,
        content_type,
        payload_format,
        response_topic,
        correlation_data,
    }) = will
    {
        let mut w = vec![("topic", string(topic.as_str()))];
        if !payload.is_empty() {
            w.push(("payload", string(payload)));
        }
        w.push(("qos", qos(*q)));
        if *retain {
            w.push(("retain", "true".to_owned()));
        }
        if let Some(d) = delay {
            w.push(("delay", span(*d)));
        }
        if let Some(e) = expiry {
            w.push(("expiry", span(*e)));
        }
        if !user_properties.is_empty() {
            w.push(("user_properties", user_property_list(user_properties)));
        }
        if let Some(c) = content_type {
            w.push(("content_type", string(c)));
        }
        if let Some(p) = payload_format {
            w.push(("payload_format", kebab(p)));
        }
        if let Some(t) = response_topic {
            w.push(("response_topic", string(t.as_str())));
        }
        if let Some(c) = correlation_data {
            w.push(("correlation_data", string(c.as_str())));
        }
        f.push(("will", flow(&w)));
    }
    if *reconnect != ReconnectSpec::default() {
        let ReconnectSpec { initial, max, multiplier, jitter } = reconnect;
        let r = vec![
            ("initial", span(*initial)),
            ("max", span(*max)),
            ("multiplier", number(*multiplier)),
            ("jitter", ratio(*jitter)),
        ];
        f.push(("reconnect", flow(&r)));
    }
    if *start != StartSpec::default() {
        let StartSpec { at, stagger } = start;
        f.push(("start", flow(&vec![("at", span(*at)), ("stagger", span(*stagger))])));
    }
    let link = link_fields(link);
    if !link.is_empty() {
        f.push(("link", flow(&link)));
    }
    if *queue != QueueSpec::default() {
        let QueueSpec { capacity, policy } = queue;
        f.push((
            "queue",
            flow(&vec![("capacity", capacity.to_string()), ("policy", kebab(policy))]),
        ));
    }
    let limits = [
        ("receive_maximum", receive_maximum.map(u32::from)),
        ("maximum_packet_size", *maximum_packet_size),
        ("topic_alias_maximum", topic_alias_maximum.map(u32::from)),
        ("topic_aliases", topic_aliases.map(u32::from)),
    ];
    for (key, value) in limits {
        if let Some(v) = value {
            f.push((key, v.to_string()));
        }
    }
    if let Some(RespondSpec { to, qos: q, payload_size }) = respond {
        let mut r = vec![("to", string(to.as_str())), ("qos", qos(*q))];
        if *payload_size != 32 {
            r.push(("payload_size", payload_size.to_string()));
        }
        f.push(("respond", flow(&r)));
    }
    let mut first = true;
    for (key, value) in f {
        let lead = if first { "  - " } else { "    " };
        first = false;
        let _ = writeln!(out, "{lead}{key}: {value}");
    }
    if !publish.is_empty() {
        out.push_str("    publish:\n");
        for p in publish {
            let _ = writeln!(out, "      - {}", flow(&publish_fields(p)));
        }
    }
    if !subscribe.is_empty() {
        out.push_str("    subscribe:\n");
        for SubscribeSpec {
            filter,
            qos: q,
            no_local,
            retain_handling,
            retain_as_published,
            resubscribe,
        } in subscribe
        {
            let mut s = vec![("filter", string(filter.as_str())), ("qos", qos(*q))];
            if *no_local {
                s.push(("no_local", "true".to_owned()));
            }
            if *retain_as_published {
                s.push(("retain_as_published", "true".to_owned()));
            }
            if let Some(h) = retain_handling {
                s.push(("retain_handling", kebab(h)));
            }
            if *resubscribe != Resubscribe::default() {
                s.push(("resubscribe", kebab(resubscribe)));
            }
            let _ = writeln!(out, "      - {}", flow(&s));
        }
    }
}

/// User Properties (of a publish entry or a Will) as a flow list.
fn user_property_list(user_properties: &[UserPropertySpec]) -> String {
    list(user_properties.iter().map(|UserPropertySpec { key, value }| {
        flow(&vec![("key", string(key.as_str())), ("value", string(value.as_str()))])
    }))
}

fn publish_fields(p: &PublishSpec) -> Fields {
    let PublishSpec {
        topic,
        qos: q,
        retain,
        payload_size,
        every,
        burst,
        user_properties,
        content_type,
        payload_format,
        request,
        expiry,
    } = p;
    let mut f = vec![("topic", string(topic.as_str())), ("qos", qos(*q))];
    if *retain {
        f.push(("retain", "true".to_owned()));
    }
    if *payload_size != 32 {
        f.push(("payload_size", payload_size.to_string()));
    }
    f.push(("every", span(*every)));
    if let Some(Burst { size, spacing }) = burst {
        f.push(("burst", flow(&vec![("size", size.to_string()), ("spacing", span(*spacing))])));
    }
    if let Some(expiry) = expiry {
        f.push(("expiry", span(*expiry)));
    }
    if !user_properties.is_empty() {
        f.push(("user_properties", user_property_list(user_properties)));
    }
    if let Some(c) = content_type {
        f.push(("content_type", string(c)));
    }
    if let Some(p) = payload_format {
        f.push(("payload_format", kebab(p)));
    }
    if let Some(RequestSpec { response_topic }) = request {
        f.push(("request", flow(&vec![("response_topic", string(response_topic.as_str()))])));
    }
    f
}

fn fault_fields(fault: &FaultSpec) -> Fields {
    let FaultSpec {
        kind,
        random,
        target,
        direction,
        at,
        lasts,
        every,
        until,
        loss,
        mean_down,
        mean_up,
        state,
        reason,
    } = fault;
    let mut f = Fields::new();
    if let Some(k) = kind {
        f.push(("kind", k.name().to_owned()));
    }
    if let Some(RandomFaults { kinds, rate, mean_interval }) = random {
        let mut r = vec![("kinds", list(kinds.iter().map(|k| k.name().to_owned())))];
        if let Some(rate) = rate {
            r.push(("rate", event_rate(*rate)));
        }
        if let Some(m) = mean_interval {
            r.push(("mean_interval", span(*m)));
        }
        f.push(("random", flow(&r)));
    }
    if let Some(t) = target {
        f.push(("target", flow(&target_fields(t))));
    }
    if let Some(d) = direction {
        f.push(("direction", kebab(d)));
    }
    if let Some(at) = at {
        f.push(("at", span(*at)));
    }
    if let Some(l) = lasts {
        f.push(("for", span(*l)));
    }
    if let Some(e) = every {
        f.push(("every", span(*e)));
    }
    if let Some(u) = until {
        f.push(("until", span(*u)));
    }
    if let Some(l) = loss {
        f.push(("loss", ratio(*l)));
    }
    if let Some(m) = mean_down {
        f.push(("mean_down", span(*m)));
    }
    if let Some(m) = mean_up {
        f.push(("mean_up", span(*m)));
    }
    if let Some(s) = state {
        f.push(("state", kebab(s)));
    }
    if let Some(r) = reason {
        f.push(("reason", r.name().to_owned()));
    }
    f
}

fn target_fields(t: &Target) -> Fields {
    let Target { device, group, site, count, fraction } = t;
    let mut f = Fields::new();
    if let Some(d) = device {
        f.push(("device", string(d)));
    }
    if let Some(g) = group {
        f.push(("group", string(g)));
    }
    if let Some(s) = site {
        f.push(("site", string(s)));
    }
    if let Some(c) = count {
        f.push(("count", c.to_string()));
    }
    if let Some(fr) = fraction {
        f.push(("fraction", ratio(*fr)));
    }
    f
}

fn expectations(e: &Expectations) -> Fields {
    let Expectations {
        qos0_max_duplicates,
        qos1_at_least_once,
        qos2_exactly_once,
        ordering,
        wills,
        retained,
        liveness,
        expected_loss,
        shared_subscriptions,
        shared_redistribution,
        no_local,
        sessions,
        message_expiry,
        receive_maximum,
        maximum_packet_size,
        topic_aliases,
        message_properties,
        request_response,
        retain_as_published,
        maximum_qos,
    } = e;
    let mut f = Fields::new();
    if let Some(n) = qos0_max_duplicates {
        f.push(("qos0_max_duplicates", n.to_string()));
    }
    let flags = [
        ("qos1_at_least_once", qos1_at_least_once),
        ("qos2_exactly_once", qos2_exactly_once),
        ("ordering", ordering),
        ("wills", wills),
        ("retained", retained),
        ("shared_subscriptions", shared_subscriptions),
        ("shared_redistribution", shared_redistribution),
        ("no_local", no_local),
        ("message_expiry", message_expiry),
        ("receive_maximum", receive_maximum),
        ("maximum_packet_size", maximum_packet_size),
        ("topic_aliases", topic_aliases),
        ("message_properties", message_properties),
        ("request_response", request_response),
        ("retain_as_published", retain_as_published),
        ("maximum_qos", maximum_qos),
    ];
    for (key, value) in flags {
        if let Some(v) = value {
            f.push((key, v.to_string()));
        }
    }
    if let Some(Liveness { quiet_period }) = liveness {
        f.push(("liveness", flow(&vec![("quiet_period", span(*quiet_period))])));
    }
    if let Some(ExpectedLoss { qos0, qos1, qos2, excluding }) = expected_loss {
        let mut l = Fields::new();
        for (key, b) in [("qos0", qos0), ("qos1", qos1), ("qos2", qos2)] {
            if let Some(b) = b {
                l.push((key, bound(*b)));
            }
        }
        if !excluding.is_empty() {
            l.push(("excluding", list(excluding.iter().map(kebab))));
        }
        f.push(("expected_loss", flow(&l)));
    }
    if let Some(v) = sessions {
        f.push(("sessions", v.to_string()));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_plain_only_when_unambiguous() {
        assert_eq!(string("tracker-05"), "tracker-05");
        assert_eq!(string("fleet/05/status"), "fleet/05/status");
        assert_eq!(string("farm/#"), "\"farm/#\"");
        assert_eq!(string("soil-{i:03}"), "\"soil-{i:03}\"");
        assert_eq!(string("true"), "\"true\"");
        assert_eq!(string("05"), "\"05\"");
        assert_eq!(string("a \"b\""), "\"a \\\"b\\\"\"");
        assert_eq!(string(""), "\"\"");
    }

    #[test]
    fn enum_names_are_kebab_case() {
        assert_eq!(kebab(&crate::scenario::BrokerBug::DuplicateQos2OnDup), "duplicate-qos2-on-dup");
        assert_eq!(kebab(&crate::scenario::QueuePolicy::DropOldest), "drop-oldest");
        assert_eq!(kebab(&crate::scenario::Direction::FromBroker), "from-broker");
    }

    #[test]
    fn ratios_read_back_exactly() {
        for v in [0.0, 0.03, 0.25, 0.1, 0.07, 0.030000000000000002, 1.0 / 3.0, 0.5] {
            let r = Ratio::new(v).unwrap();
            assert_eq!(Ratio::parse(&ratio(r)).unwrap().get(), v, "{}", ratio(r));
        }
        assert_eq!(ratio(Ratio::new(0.03).unwrap()), "3%");
    }
}
