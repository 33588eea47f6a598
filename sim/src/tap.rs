//! The packet-level trace: a stream wrapper that decodes what a device writes to and reads from
//! its connection and records one [`Event::PacketSent`] or [`Event::PacketReceived`] per
//! control packet, at the moment the device wrote or read it.
//!
//! It only looks: bytes pass through unchanged. A stream that stops decoding (a malformed
//! packet, which the client core reports itself) stops being recorded for that direction.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::BytesMut;
use mqttsim_codec::{Packet, Protocol, decode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::trace::Event;

/// The largest packet the tap decodes (the devices' own limit, plus room for headers).
const MAX_PACKET: usize = (1 << 20) + 1024;

/// One direction's decoder.
struct Decoder {
    protocol: Protocol,
    buf: BytesMut,
    broken: bool,
}

impl Decoder {
    fn new(protocol: Protocol) -> Decoder {
        Decoder { protocol, buf: BytesMut::new(), broken: false }
    }

    /// Decodes what `bytes` complete; `on_packet` gets each packet and, for MQTT 5.0, its size.
    fn feed(&mut self, bytes: &[u8], mut on_packet: impl FnMut(&Packet, Option<u32>)) {
        if self.broken {
            return;
        }
        self.buf.extend_from_slice(bytes);
        loop {
            let before = self.buf.len();
            match decode(&mut self.buf, self.protocol, MAX_PACKET) {
                Ok(Some(packet)) => {
                    // 5.0's Maximum Packet Size counts whole packets; 3.1.1 records stay as
                    // they were.
                    let size = (self.protocol == Protocol::V5)
                        .then(|| u32::try_from(before - self.buf.len()).unwrap_or(u32::MAX));
                    on_packet(&packet, size);
                }
                Ok(None) => return,
                Err(_) => {
                    self.broken = true;
                    self.buf = BytesMut::new();
                    return;
                }
            }
        }
    }
}

/// A device's stream with its packets recorded through `record`.
pub(crate) struct PacketTap<S, F> {
    inner: S,
    up: Decoder,
    down: Decoder,
    record: F,
}

impl<S, F: Fn(Event)> PacketTap<S, F> {
    pub(crate) fn new(inner: S, protocol: Protocol, record: F) -> PacketTap<S, F> {
        PacketTap { inner, up: Decoder::new(protocol), down: Decoder::new(protocol), record }
    }
}

impl<S: AsyncRead + Unpin, F: Fn(Event) + Unpin> AsyncRead for PacketTap<S, F> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let record = &this.record;
            this.down.feed(&buf.filled()[before..], |p, size| {
                record(Event::packet_sized(p, false, size));
            });
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin, F: Fn(Event) + Unpin> AsyncWrite for PacketTap<S, F> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            let record = &this.record;
            this.up.feed(&buf[..*n], |p, size| record(Event::packet_sized(p, true, size)));
        }
        poll
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
