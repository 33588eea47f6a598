//! MQTT over WebSocket: a WebSocket connection as a plain byte stream.
//!
//! MQTT 3.1.1 and 5.0 (section 6 of both) carry MQTT over WebSocket in binary frames: a frame
//! may hold part of a packet or several packets, the client offers the `mqtt` sub-protocol and
//! the server selects it ([MQTT-6.0.0-1] to [MQTT-6.0.0-4]). [`WsStream`] turns a
//! tokio-tungstenite `WebSocketStream` back into an `AsyncRead + AsyncWrite` byte stream, so
//! the broker driver, the client driver, the conformance suite and the live links run over it
//! unchanged:
//!
//! - a write becomes one binary message (and is flushed as far as the socket takes it);
//! - reads concatenate the binary messages' payloads; pings and pongs are answered and skipped;
//! - a text message or a protocol error is an `InvalidData` error ([MQTT-6.0.0-1]);
//! - a close frame, or the end of the underlying stream, is the end of the byte stream;
//! - shutdown sends a close frame.
//!
//! [`connect`] runs the client's opening handshake over any stream (tokio TCP, or TLS over it),
//! [`accept`] the server's, which refuses a client that does not offer `mqtt`.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use futures_util::sink::Sink;
use futures_util::stream::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// The WebSocket sub-protocol MQTT is carried in.
pub const SUBPROTOCOL: &str = "mqtt";

/// The header that names sub-protocols.
const PROTOCOL_HEADER: &str = "sec-websocket-protocol";

/// A WebSocket connection carrying MQTT, as a byte stream.
pub struct WsStream<S> {
    inner: WebSocketStream<S>,
    /// What is left of the binary message being read.
    pending: Bytes,
    /// A close frame arrived or the stream ended: reads return end of stream.
    eof: bool,
    /// Messages were queued but not yet flushed to the socket.
    unflushed: bool,
}

impl<S> fmt::Debug for WsStream<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WsStream")
            .field("pending", &self.pending.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl<S> WsStream<S> {
    /// Wraps a WebSocket connection whose handshake is done.
    pub fn new(inner: WebSocketStream<S>) -> WsStream<S> {
        WsStream { inner, pending: Bytes::new(), eof: false, unflushed: false }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        self.inner.get_ref()
    }
}

/// A tungstenite error as an io error: io errors stay what they were, the rest are bad data.
fn io_error(error: WsError) -> io::Error {
    match error {
        WsError::Io(error) => error,
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            io::Error::new(io::ErrorKind::NotConnected, "the WebSocket connection is closed")
        }
        other => io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {other}")),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// Flushes queued messages if there are any.
    fn poll_flush_queued(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.unflushed {
            ready!(Pin::new(&mut self.inner).poll_flush(cx)).map_err(io_error)?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A writer that never flushes still gets its bytes out while the peer is waited for.
        if this.unflushed {
            let _ = this.poll_flush_queued(cx);
        }
        loop {
            if !this.pending.is_empty() {
                let n = this.pending.len().min(buf.remaining());
                buf.put_slice(&this.pending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "WebSocket text frame: MQTT travels in binary frames [MQTT-6.0.0-1]",
                    )));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                // The end of the underlying stream without a close frame ends it too, as a
                // TCP FIN would.
                Some(Ok(Message::Close(_)))
                | None
                | Some(Err(
                    WsError::ConnectionClosed
                    | WsError::AlreadyClosed
                    | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                )) => this.eof = true,
                Some(Err(error)) => return Poll::Ready(Err(io_error(error))),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // What an earlier write queued goes first: that is the back-pressure.
        ready!(this.poll_flush_queued(cx))?;
        ready!(Pin::new(&mut this.inner).poll_ready(cx)).map_err(io_error)?;
        Pin::new(&mut this.inner)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io_error)?;
        this.unflushed = true;
        // Out as far as the socket takes it now; the rest goes with the next call.
        if let Poll::Ready(result) = this.poll_flush_queued(cx) {
            result?;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.unflushed = true;
        this.poll_flush_queued(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match ready!(Pin::new(&mut this.inner).poll_close(cx)) {
            Ok(()) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed) => Poll::Ready(Ok(())),
            Err(error) => Poll::Ready(Err(io_error(error))),
        }
    }
}

/// The WebSocket limits for MQTT: one message (and one frame) at most `max_message` bytes.
fn config(max_message: usize) -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(max_message)).max_frame_size(Some(max_message))
}

/// Runs the client's opening handshake for `url` (`ws://host:port/path` or `wss://...`; the
/// scheme only chooses what the request says, TLS is whatever `stream` is) over `stream`,
/// offering the `mqtt` sub-protocol.
///
/// # Errors
///
/// The URL cannot be a request, the handshake failed, or the server did not select `mqtt`
/// ([MQTT-6.0.0-4]).
pub async fn connect<S>(stream: S, url: &str) -> io::Result<WsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut request = url.into_client_request().map_err(|e| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("WebSocket URL {url:?}: {e}"))
    })?;
    request.headers_mut().insert(PROTOCOL_HEADER, HeaderValue::from_static(SUBPROTOCOL));
    // An MQTT packet is at most 256 MiB; the client core bounds what it accepts itself.
    let (ws, response) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config(1 << 28)))
            .await
            .map_err(|e| match e {
            WsError::Io(e) => e,
            other => io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("WebSocket handshake with {url}: {other}"),
            ),
        })?;
    let selected = response.headers().get(PROTOCOL_HEADER).and_then(|v| v.to_str().ok());
    if selected != Some(SUBPROTOCOL) {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "WebSocket server at {url} did not select the \"mqtt\" sub-protocol \
                 [MQTT-6.0.0-4] (it answered {selected:?})"
            ),
        ));
    }
    Ok(WsStream::new(ws))
}

/// Whether a request's `Sec-WebSocket-Protocol` headers offer `mqtt`.
fn offers_mqtt(request: &Request) -> bool {
    request
        .headers()
        .get_all(PROTOCOL_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL)
}

/// The server's answer to an opening handshake: `mqtt` selected, or 400 if it is not offered.
// The signature is tungstenite's callback's, its error a whole HTTP response.
#[allow(clippy::result_large_err)]
fn select_mqtt(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    if !offers_mqtt(request) {
        let mut refusal = ErrorResponse::new(Some(
            "MQTT over WebSocket needs the \"mqtt\" sub-protocol (Sec-WebSocket-Protocol: mqtt)"
                .to_owned(),
        ));
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        return Err(refusal);
    }
    response.headers_mut().insert(PROTOCOL_HEADER, HeaderValue::from_static(SUBPROTOCOL));
    Ok(response)
}

/// Runs the server's opening handshake over `stream`: the client must offer the `mqtt`
/// sub-protocol ([MQTT-6.0.0-3]), which the answer selects ([MQTT-6.0.0-4]); any path is
/// accepted. A message (and a frame) may be at most `max_message` bytes.
///
/// # Errors
///
/// The handshake failed, or the client did not offer `mqtt` (it is answered 400).
pub async fn accept<S>(stream: S, max_message: usize) -> io::Result<WsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ws = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        select_mqtt,
        Some(config(max_message)),
    )
    .await
    .map_err(|e| match e {
        WsError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    })?;
    Ok(WsStream::new(ws))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
    use tokio_tungstenite::tungstenite::protocol::Role;

    /// A client and a server adapter over an in-memory pipe, handshake done.
    async fn pair() -> (WsStream<DuplexStream>, WsStream<DuplexStream>) {
        let (a, b) = duplex(1 << 16);
        let (client, server) = tokio::join!(connect(a, "ws://localhost/mqtt"), accept(b, 1 << 20));
        (client.unwrap(), server.unwrap())
    }

    /// Raw WebSocket ends (no adapter), to send what the adapter must handle.
    async fn raw_pair() -> (WebSocketStream<DuplexStream>, WsStream<DuplexStream>) {
        let (a, b) = duplex(1 << 16);
        let raw = WebSocketStream::from_raw_socket(a, Role::Client, None).await;
        let ws = WebSocketStream::from_raw_socket(b, Role::Server, None).await;
        (raw, WsStream::new(ws))
    }

    #[tokio::test]
    async fn bytes_cross_both_ways_and_frames_concatenate() {
        let (mut client, mut server) = pair().await;
        // An MQTT CONNECT split over two writes, then a PINGREQ: three binary messages.
        client.write_all(&[0x10, 0x0C, 0x00, 0x04]).await.unwrap();
        client.write_all(b"MQTT\x04\x02\x00\x3C\x00\x00").await.unwrap();
        client.write_all(&[0xC0, 0x00]).await.unwrap();
        let mut got = vec![0u8; 16];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..4], &[0x10, 0x0C, 0x00, 0x04]);
        assert_eq!(&got[14..], &[0xC0, 0x00]);
        server.write_all(&[0x20, 0x02, 0x00, 0x00]).await.unwrap();
        server.flush().await.unwrap();
        let mut connack = [0u8; 4];
        client.read_exact(&mut connack).await.unwrap();
        assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    }

    #[tokio::test]
    async fn a_small_read_buffer_takes_a_message_in_pieces() {
        let (mut client, mut server) = pair().await;
        client.write_all(&[1, 2, 3, 4, 5]).await.unwrap();
        let mut first = [0u8; 2];
        server.read_exact(&mut first).await.unwrap();
        let mut rest = [0u8; 3];
        server.read_exact(&mut rest).await.unwrap();
        assert_eq!((first, rest), ([1, 2], [3, 4, 5]));
    }

    #[tokio::test]
    async fn shutdown_is_a_close_frame_and_the_peer_sees_eof() {
        let (mut client, mut server) = pair().await;
        client.write_all(&[0xE0, 0x00]).await.unwrap();
        let closing = async {
            client.shutdown().await.unwrap();
        };
        let reading = async {
            let mut all = Vec::new();
            server.read_to_end(&mut all).await.unwrap();
            all
        };
        let ((), all) = tokio::join!(closing, reading);
        assert_eq!(all, [0xE0, 0x00]);
    }

    #[tokio::test]
    async fn what_the_adapter_reads() {
        // (messages sent, bytes read before the end or the error, error expected)
        let cases: Vec<(Vec<Message>, &[u8], bool)> = vec![
            (vec![Message::binary(vec![1, 2]), Message::binary(vec![3])], &[1, 2, 3], false),
            (
                vec![
                    Message::Ping(Bytes::from_static(b"p")),
                    Message::binary(vec![7]),
                    Message::Close(None),
                ],
                &[7],
                false,
            ),
            (vec![Message::binary(Vec::new()), Message::binary(vec![9])], &[9], false),
            (
                vec![Message::binary(vec![1]), Message::Close(None), Message::binary(vec![2])],
                &[1],
                false,
            ),
            (vec![Message::binary(vec![1]), Message::text("hello")], &[1], true),
            (vec![Message::binary(vec![4, 5])], &[4, 5], false),
        ];
        for (messages, want, error) in cases {
            let (mut raw, mut ws) = raw_pair().await;
            let closes = messages.iter().any(Message::is_close);
            let sending = async {
                use futures_util::{SinkExt as _, StreamExt as _};
                for message in messages.clone() {
                    // After a close, the raw end refuses to send more: that is the point.
                    if raw.send(message).await.is_err() {
                        break;
                    }
                }
                if closes {
                    // Take the answers (pongs, the close) until the adapter's end is gone.
                    while let Some(Ok(_)) = raw.next().await {}
                }
                // The pipe ends here: without a close frame unless one was sent.
                drop(raw);
            };
            let reading = async move {
                let mut got = Vec::new();
                let mut byte = [0u8; 1];
                let end = loop {
                    match ws.read(&mut byte).await {
                        Ok(0) => break Ok(()),
                        Ok(_) => got.push(byte[0]),
                        Err(e) => break Err(e),
                    }
                };
                drop(ws);
                (got, end)
            };
            let ((), (got, end)) = tokio::join!(sending, reading);
            assert_eq!(got, want, "{messages:?}");
            match end {
                Ok(()) => assert!(!error, "{messages:?}: wanted an error"),
                Err(e) => {
                    assert!(error, "{messages:?}: {e}");
                    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                }
            }
        }
    }

    #[tokio::test]
    async fn a_client_without_the_mqtt_subprotocol_is_refused() {
        let (a, b) = duplex(1 << 16);
        let plain = async { tokio_tungstenite::client_async("ws://localhost/mqtt", a).await };
        let (client, server) = tokio::join!(plain, accept(b, 1 << 20));
        assert!(client.is_err());
        assert!(server.is_err());
    }

    #[tokio::test]
    async fn a_server_that_does_not_select_mqtt_is_refused() {
        let (a, b) = duplex(1 << 16);
        // A plain WebSocket server, which selects no sub-protocol.
        let answer_without = tokio_tungstenite::accept_async(b);
        let (client, _server) = tokio::join!(connect(a, "ws://localhost/mqtt"), answer_without);
        let error = client.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused, "{error}");
    }
}
