//! A live run's namespace on the wire: every client id, topic and filter a device sends gets
//! the run's prefix (`mqtt-sim/<tag>/`), and every topic it receives loses it, so a run never
//! collides with other traffic on the broker while the device, its trace and the checker speak
//! the scenario's own names.
//!
//! The rewriting sits under the link adapter, on the halves of the real stream: it decodes
//! whole packets, rewrites them and encodes them again. A packet it cannot decode (a broken
//! broker) stops the rewriting of that direction: the bytes then pass unchanged, and the
//! device's client core reports the error itself.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use bytestring::ByteString;
use mqttsim_codec::{Packet, Properties, Property, Protocol, decode, encode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The largest packet rewritten (the devices' own limit, plus room for the prefix).
const MAX_PACKET: usize = (1 << 20) + 4096;

/// The prefix of one live run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
}

impl Namespace {
    /// The namespace `mqtt-sim/<tag>/`.
    pub fn new(tag: &str) -> Namespace {
        Namespace { prefix: format!("mqtt-sim/{tag}/") }
    }

    /// The prefix, ending in `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A topic name or filter as the broker sees it: prefixed, inside a shared subscription's
    /// `$share/<group>/`; an empty topic (a 5.0 topic alias stands in for it) stays empty.
    pub fn outward(&self, topic: &str) -> String {
        if topic.is_empty() {
            return String::new();
        }
        if let Some(rest) = topic.strip_prefix("$share/")
            && let Some((group, filter)) = rest.split_once('/')
        {
            return format!("$share/{group}/{}{filter}", self.prefix);
        }
        format!("{}{topic}", self.prefix)
    }

    /// A topic as the device sees it: without the prefix.
    pub fn inward<'a>(&self, topic: &'a str) -> &'a str {
        topic.strip_prefix(self.prefix.as_str()).unwrap_or(topic)
    }

    fn outward_properties(&self, properties: &mut Properties) {
        for p in &mut properties.0 {
            if let Property::ResponseTopic(t) = p {
                *t = self.outward(t);
            }
        }
    }

    fn inward_properties(&self, properties: &mut Properties) {
        for p in &mut properties.0 {
            if let Property::ResponseTopic(t) = p {
                *t = self.inward(t).to_owned();
            }
        }
    }

    /// Rewrites a packet the device sends.
    fn outgoing(&self, packet: &mut Packet) {
        match packet {
            Packet::Connect(c) => {
                c.client_id = format!("{}{}", self.prefix, c.client_id);
                if let Some(w) = &mut c.will {
                    w.topic = ByteString::from(self.outward(&w.topic));
                    self.outward_properties(&mut w.properties);
                }
            }
            Packet::Publish(p) => {
                p.topic = ByteString::from(self.outward(&p.topic));
                self.outward_properties(&mut p.properties);
            }
            Packet::Subscribe(s) => {
                for f in &mut s.filters {
                    f.filter = self.outward(&f.filter);
                }
            }
            Packet::Unsubscribe(u) => {
                for f in &mut u.filters {
                    *f = self.outward(f);
                }
            }
            _ => {}
        }
    }

    /// Rewrites a packet the device receives.
    fn incoming(&self, packet: &mut Packet) {
        if let Packet::Publish(p) = packet {
            p.topic = ByteString::from(self.inward(&p.topic));
            self.inward_properties(&mut p.properties);
        }
    }
}

/// One direction's rewriter: bytes in, whole rewritten packets out.
#[derive(Debug)]
struct Rewriter {
    namespace: Namespace,
    protocol: Protocol,
    outgoing: bool,
    input: BytesMut,
    output: BytesMut,
    broken: bool,
}

impl Rewriter {
    fn new(namespace: Namespace, protocol: Protocol, outgoing: bool) -> Rewriter {
        Rewriter {
            namespace,
            protocol,
            outgoing,
            input: BytesMut::new(),
            output: BytesMut::new(),
            broken: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        if self.broken {
            self.output.extend_from_slice(bytes);
            return;
        }
        self.input.extend_from_slice(bytes);
        loop {
            match decode(&mut self.input, self.protocol, MAX_PACKET) {
                Ok(Some(mut packet)) => {
                    if let Packet::Connect(c) = &packet {
                        // The CONNECT says which version the rest of the connection speaks.
                        self.protocol = c.protocol;
                    }
                    if self.outgoing {
                        self.namespace.outgoing(&mut packet);
                    } else {
                        self.namespace.incoming(&mut packet);
                    }
                    if encode(&packet, self.protocol, &mut self.output).is_err() {
                        // Only a name made too long by the prefix (over 65,535 bytes) fails:
                        // the packet is left out and the rest passes unchanged.
                        self.broken = true;
                        let rest = std::mem::take(&mut self.input);
                        self.output.extend_from_slice(&rest);
                        return;
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    self.broken = true;
                    let rest = std::mem::take(&mut self.input);
                    self.output.extend_from_slice(&rest);
                    return;
                }
            }
        }
    }
}

/// The write half of a namespaced stream: prefixes what the device sends.
#[derive(Debug)]
pub struct PrefixWrite<W> {
    inner: W,
    rewriter: Rewriter,
}

impl<W> PrefixWrite<W> {
    /// Wraps `inner` for a device speaking `protocol`.
    pub fn new(inner: W, namespace: Namespace, protocol: Protocol) -> PrefixWrite<W> {
        PrefixWrite { inner, rewriter: Rewriter::new(namespace, protocol, true) }
    }
}

impl<W: AsyncWrite + Unpin> PrefixWrite<W> {
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.rewriter.output.is_empty() {
            let n =
                std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.rewriter.output))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.rewriter.output.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for PrefixWrite<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        this.rewriter.feed(buf);
        // Whatever is left goes out on the next write, flush or shutdown.
        if let Poll::Ready(Err(e)) = this.drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The read half of a namespaced stream: strips the prefix from what the device receives.
#[derive(Debug)]
pub struct StripRead<R> {
    inner: R,
    rewriter: Rewriter,
    eof: bool,
}

impl<R> StripRead<R> {
    /// Wraps `inner` for a device speaking `protocol`.
    pub fn new(inner: R, namespace: Namespace, protocol: Protocol) -> StripRead<R> {
        StripRead { inner, rewriter: Rewriter::new(namespace, protocol, false), eof: false }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for StripRead<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut chunk = [0u8; 4096];
        while this.rewriter.output.is_empty() && !this.eof {
            let mut read = ReadBuf::new(&mut chunk);
            std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                this.eof = true;
            } else {
                this.rewriter.feed(read.filled());
            }
        }
        let n = this.rewriter.output.len().min(buf.remaining());
        buf.put_slice(&this.rewriter.output[..n]);
        this.rewriter.output.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_filters_and_shared_subscriptions_get_the_prefix_and_lose_it() {
        let ns = Namespace::new("t1");
        let cases = [
            ("farm/1/temp", "mqtt-sim/t1/farm/1/temp"),
            ("#", "mqtt-sim/t1/#"),
            ("$share/g/farm/+", "$share/g/mqtt-sim/t1/farm/+"),
            ("", ""),
        ];
        for (topic, wire) in cases {
            assert_eq!(ns.outward(topic), wire);
        }
        assert_eq!(ns.inward("mqtt-sim/t1/farm/1/temp"), "farm/1/temp");
        assert_eq!(ns.inward("other/topic"), "other/topic");
    }
}
