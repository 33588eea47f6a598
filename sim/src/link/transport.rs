//! How a device's link reaches the broker: turmoil's TCP in the simulator, tokio's TCP or TLS
//! over it in a live run, or MQTT over WebSocket on either (`mqttsim_net::ws`). The link adapter is the same for all of them: it only needs the
//! stream split into a read half and a write half.

use std::fmt;
use std::io;

use mqttsim_codec::Protocol;
use mqttsim_net::tls::{ServerName, TlsConnector, TlsStream};
use mqttsim_net::ws::WsStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};

use crate::live::namespace::{Namespace, PrefixWrite, StripRead};

/// A stream the link adapter can run over: split into halves that its two pumps own.
///
/// Dropping the write half must close the writing side (a FIN), as tokio's and turmoil's own
/// halves do; a stream split with [`tokio::io::split`] closes when both halves are gone.
pub trait SplitStream: 'static {
    /// The half the down pump reads.
    type Read: AsyncRead + Unpin + 'static;
    /// The half the up pump writes.
    type Write: AsyncWrite + Unpin + 'static;
    /// Splits the stream.
    fn split_halves(self) -> (Self::Read, Self::Write);
}

impl SplitStream for turmoil::net::TcpStream {
    type Read = turmoil::net::tcp::OwnedReadHalf;
    type Write = turmoil::net::tcp::OwnedWriteHalf;
    fn split_halves(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

impl SplitStream for tokio::net::TcpStream {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;
    fn split_halves(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

/// Any `AsyncRead + AsyncWrite` stream, split with [`tokio::io::split`] (a TLS stream, whose
/// halves share one session).
#[derive(Debug)]
pub struct Joined<S>(pub S);

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> SplitStream for Joined<S> {
    type Read = ReadHalf<S>;
    type Write = WriteHalf<S>;
    fn split_halves(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self.0)
    }
}

/// A live run's namespace on one device's connections, and the version the device speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaced {
    /// The run's prefix.
    pub namespace: Namespace,
    /// The device's MQTT version.
    pub protocol: Protocol,
}

/// A stream whose halves rewrite names into and out of a [`Namespace`].
#[derive(Debug)]
pub struct Named<S>(pub S, pub Namespaced);

impl<S: SplitStream> SplitStream for Named<S> {
    type Read = StripRead<S::Read>;
    type Write = PrefixWrite<S::Write>;
    fn split_halves(self) -> (Self::Read, Self::Write) {
        let (read, write) = self.0.split_halves();
        let Namespaced { namespace, protocol } = self.1;
        (
            StripRead::new(read, namespace.clone(), protocol),
            PrefixWrite::new(write, namespace, protocol),
        )
    }
}

/// A byte stream of any kind, boxed: what a WebSocket connection runs over (TCP or TLS).
pub trait AnyStream: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> AnyStream for T {}

/// How a device connects to the broker.
#[derive(Clone)]
pub enum Transport {
    /// TCP on turmoil's simulated network, to `host:port`.
    Turmoil(String),
    /// Real TCP to `addr` (`host:port`).
    Tcp {
        /// `host:port`.
        addr: String,
        /// The run's namespace, if names are rewritten.
        namespace: Option<Namespaced>,
    },
    /// TLS over real TCP to `addr` (`host:port`), verifying the server as `name`.
    Tls {
        /// `host:port`.
        addr: String,
        /// The rustls client configuration.
        connector: TlsConnector,
        /// The name the server's certificate must carry.
        name: ServerName<'static>,
        /// The run's namespace, if names are rewritten.
        namespace: Option<Namespaced>,
    },
    /// MQTT over WebSocket to `addr` (`host:port`), over TLS if `tls` says how.
    WebSocket {
        /// `host:port`.
        addr: String,
        /// The opening handshake's URL (`ws://host:port/path` or `wss://...`).
        url: String,
        /// TLS under the WebSocket: the rustls client configuration and the name the server's
        /// certificate must carry.
        tls: Option<(TlsConnector, ServerName<'static>)>,
        /// The run's namespace, if names are rewritten.
        namespace: Option<Namespaced>,
    },
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Turmoil(addr) => write!(f, "Turmoil({addr})"),
            Transport::Tcp { addr, .. } => write!(f, "Tcp({addr})"),
            Transport::Tls { addr, name, .. } => write!(f, "Tls({addr}, {name:?})"),
            Transport::WebSocket { url, .. } => write!(f, "WebSocket({url})"),
        }
    }
}

/// A connected stream of one of the [`Transport`]s.
pub enum TransportStream {
    /// Turmoil's TCP.
    Turmoil(turmoil::net::TcpStream),
    /// tokio's TCP.
    Tcp(tokio::net::TcpStream, Option<Namespaced>),
    /// TLS over tokio's TCP.
    Tls(Joined<Box<TlsStream<tokio::net::TcpStream>>>, Option<Namespaced>),
    /// MQTT over WebSocket over tokio's TCP or TLS.
    WebSocket(Joined<Box<WsStream<Box<dyn AnyStream>>>>, Option<Namespaced>),
}

impl fmt::Debug for TransportStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportStream::Turmoil(_) => "TransportStream::Turmoil",
            TransportStream::Tcp(..) => "TransportStream::Tcp",
            TransportStream::Tls(..) => "TransportStream::Tls",
            TransportStream::WebSocket(..) => "TransportStream::WebSocket",
        })
    }
}

impl Transport {
    /// Opens a connection (TCP, then the TLS handshake for [`Transport::Tls`], then the
    /// WebSocket handshake for [`Transport::WebSocket`]).
    ///
    /// # Errors
    ///
    /// The connection's or the handshake's error.
    pub async fn connect(&self) -> io::Result<TransportStream> {
        match self {
            Transport::Turmoil(addr) => {
                Ok(TransportStream::Turmoil(turmoil::net::TcpStream::connect(addr.as_str()).await?))
            }
            Transport::Tcp { addr, namespace } => {
                let stream = tokio::net::TcpStream::connect(addr.as_str()).await?;
                stream.set_nodelay(true)?;
                Ok(TransportStream::Tcp(stream, namespace.clone()))
            }
            Transport::Tls { addr, connector, name, namespace } => {
                let stream = tokio::net::TcpStream::connect(addr.as_str()).await?;
                stream.set_nodelay(true)?;
                let tls = connector.connect(name.clone(), stream).await?;
                Ok(TransportStream::Tls(Joined(Box::new(tls)), namespace.clone()))
            }
            Transport::WebSocket { addr, url, tls, namespace } => {
                let stream = tokio::net::TcpStream::connect(addr.as_str()).await?;
                stream.set_nodelay(true)?;
                let stream: Box<dyn AnyStream> = match tls {
                    None => Box::new(stream),
                    Some((connector, name)) => {
                        Box::new(connector.connect(name.clone(), stream).await?)
                    }
                };
                let ws = mqttsim_net::ws::connect(stream, url).await?;
                Ok(TransportStream::WebSocket(Joined(Box::new(ws)), namespace.clone()))
            }
        }
    }
}
