//! Targets: where the broker under test is and how to open a byte stream to it.
//!
//! A check never sees which target it runs against. It asks its context for a connection and
//! gets a boxed `AsyncRead + AsyncWrite` stream: a tokio TCP (or TLS over TCP) stream for an
//! external broker, or MQTT over WebSocket on either, or a turmoil TCP stream for a broker inside the simulator. A target also
//! says how to log in (user name and password), which every CONNECT of the suite then carries.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use mqttsim_net::tls::{TlsConnector, server_name};
use tokio::io::{AsyncRead, AsyncWrite};

/// A byte stream to the broker.
pub trait Stream: AsyncRead + AsyncWrite + Unpin {}

impl<T: AsyncRead + AsyncWrite + Unpin> Stream for T {}

/// A stream of any target, boxed.
pub type BoxStream = Box<dyn Stream>;

/// A boxed future that need not be `Send`: the suite runs on one thread.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Something the suite can open connections to.
pub trait Target: fmt::Debug {
    /// Opens a fresh byte stream to the broker.
    fn connect(&self) -> BoxFuture<'_, io::Result<BoxStream>>;

    /// A short description for reports, such as `tcp 127.0.0.1:1883`.
    fn describe(&self) -> String;

    /// The user name and password the suite's clients log in with; none by default.
    fn credentials(&self) -> Option<&Credentials> {
        None
    }
}

/// A user name and an optional password, sent in every CONNECT of the suite (but those that
/// test the broker's handling of malformed credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Option<Bytes>,
}

/// An external broker reached over tokio TCP, or TLS over it, or WebSocket over either.
#[derive(Clone)]
pub struct TcpTarget {
    /// `host:port`, resolved on every connect.
    pub addr: String,
    /// The host, as the TLS server name.
    host: String,
    /// TLS over the TCP stream, when the URL is `mqtts://` or `wss://`.
    tls: Option<TlsConnector>,
    /// The WebSocket request's URL, when the URL is `ws://` or `wss://`.
    websocket: Option<String>,
    /// How the suite's clients log in.
    credentials: Option<Credentials>,
}

impl fmt::Debug for TcpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpTarget")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("websocket", &self.websocket)
            .field("username", &self.credentials.as_ref().map(|c| &c.username))
            .finish()
    }
}

impl TcpTarget {
    /// A target for a broker URL without TLS (for `mqtts://` and `wss://`, see
    /// [`TcpTarget::tls`]): plain TCP, or WebSocket over it for `ws://`.
    pub fn new(url: &BrokerUrl) -> TcpTarget {
        TcpTarget {
            addr: url.authority(),
            host: url.host.clone(),
            tls: None,
            websocket: url.websocket_url(),
            credentials: None,
        }
    }

    /// A plain TCP target for `host:port`.
    pub fn plain(addr: impl Into<String>) -> TcpTarget {
        let addr = addr.into();
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h).to_owned();
        TcpTarget { addr, host, tls: None, websocket: None, credentials: None }
    }

    /// A TLS target for a broker URL (WebSocket over TLS for `wss://`), with the connector that says which certificates to trust.
    pub fn tls(url: &BrokerUrl, connector: TlsConnector) -> TcpTarget {
        TcpTarget { tls: Some(connector), ..TcpTarget::new(url) }
    }

    /// The same target, logging in with `credentials`.
    pub fn with_credentials(self, credentials: Credentials) -> TcpTarget {
        TcpTarget { credentials: Some(credentials), ..self }
    }
}

impl Target for TcpTarget {
    fn connect(&self) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(&self.addr).await?;
            stream.set_nodelay(true)?;
            let stream = match &self.tls {
                None => Box::new(stream) as BoxStream,
                Some(connector) => {
                    let name = server_name(&self.host)?;
                    Box::new(connector.connect(name, stream).await?)
                }
            };
            match &self.websocket {
                None => Ok(stream),
                Some(url) => {
                    Ok(Box::new(mqttsim_net::ws::connect(stream, url).await?) as BoxStream)
                }
            }
        })
    }

    fn describe(&self) -> String {
        match (&self.websocket, self.tls.is_some()) {
            (Some(url), _) => url.clone(),
            (None, true) => format!("tls {}", self.addr),
            (None, false) => format!("tcp {}", self.addr),
        }
    }

    fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }
}

/// A broker on a host of the turmoil simulation, reached over turmoil TCP.
///
/// The checks must then run inside a turmoil client or host, where tokio time is simulated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurmoilTarget {
    /// The simulated host name of the broker.
    pub host: String,
    /// Its port.
    pub port: u16,
}

impl Target for TurmoilTarget {
    fn connect(&self) -> BoxFuture<'_, io::Result<BoxStream>> {
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect((self.host.as_str(), self.port)).await?;
            Ok(Box::new(stream) as BoxStream)
        })
    }

    fn describe(&self) -> String {
        format!("turmoil {}:{}", self.host, self.port)
    }
}

/// A broker address given as `mqtt://host[:port]`, `mqtts://host[:port]`, or for MQTT over
/// WebSocket `ws://host[:port][/path]` or `wss://host[:port][/path]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or IP address; an IPv6 address keeps its brackets.
    pub host: String,
    /// The port unless given: 1883 for `mqtt://`, 8883 for `mqtts://`, 80 for `ws://`, 443
    /// for `wss://`.
    pub port: u16,
    /// `mqtts://` or `wss://`: over TLS.
    pub tls: bool,
    /// `ws://` or `wss://`: MQTT over WebSocket, with the request's path (`/mqtt` unless given;
    /// a query stays with it).
    pub websocket: Option<String>,
}

/// Why a broker URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL does not start with a scheme.
    #[error(
        "broker URL {0:?} has no scheme; expected mqtt://host[:port] or ws://host[:port][/path]"
    )]
    NoScheme(String),
    /// The scheme is not one of `mqtt`, `mqtts`, `ws` or `wss`.
    #[error(
        "unsupported scheme {0:?}; expected mqtt:// (TCP), mqtts:// (TLS), ws:// (WebSocket) or \
         wss:// (WebSocket over TLS)"
    )]
    Scheme(String),
    /// The host part is empty or malformed.
    #[error("broker URL {0:?} has no valid host")]
    Host(String),
    /// The port is not a number from 1 to 65535.
    #[error("broker URL port {0:?} is not a number from 1 to 65535")]
    Port(String),
    /// Something follows the authority of an `mqtt://` URL, or a `ws://` URL has user info or a
    /// fragment.
    #[error(
        "broker URL {0:?} must not have a path, query or user info (a path is for ws:// and \
         wss:// only)"
    )]
    Extra(String),
    /// A WebSocket path with characters a request line cannot carry, a fragment or user info.
    #[error(
        "broker URL {0:?}: a WebSocket path must be printable ASCII without spaces or '#', and \
         the URL must not have user info"
    )]
    Path(String),
}

impl BrokerUrl {
    /// Parses `mqtt://host[:port][/]`, `mqtts://host[:port][/]` (`tcp://` and `ssl://`, as
    /// some tools write them, too), `ws://host[:port][/path]` or `wss://host[:port][/path]`.
    pub fn parse(url: &str) -> Result<BrokerUrl, UrlError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(UrlError::NoScheme(url.to_string()));
        };
        let (tls, websocket) = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => (false, false),
            "mqtts" | "ssl" | "tls" => (true, false),
            "ws" => (false, true),
            "wss" => (true, true),
            _ => return Err(UrlError::Scheme(scheme.to_string())),
        };
        let (authority, path) = if websocket {
            let at = rest.find(['/', '?']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(at);
            let printable = |c: char| c.is_ascii_graphic() && c != '#';
            if authority.contains(['@', '#']) || !path.chars().all(printable) {
                return Err(UrlError::Path(url.to_string()));
            }
            let path = match path {
                "" => "/mqtt".to_owned(),
                p if p.starts_with('?') => format!("/mqtt{p}"),
                p => p.to_owned(),
            };
            (authority, Some(path))
        } else {
            let authority = rest.strip_suffix('/').unwrap_or(rest);
            if authority.contains(['/', '?', '#', '@']) {
                return Err(UrlError::Extra(url.to_string()));
            }
            (authority, None)
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let Some((addr, after)) = v6.split_once(']') else {
                return Err(UrlError::Host(url.to_string()));
            };
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| UrlError::Host(url.to_string()))?),
            };
            (format!("[{addr}]"), port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let valid_host = |h: &str| {
            !h.is_empty()
                && h.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']')
                })
        };
        if !valid_host(&host) || host == "[]" {
            return Err(UrlError::Host(url.to_string()));
        }
        let port = match port {
            None => match (tls, websocket) {
                (false, false) => 1883,
                (true, false) => 8883,
                (false, true) => 80,
                (true, true) => 443,
            },
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(UrlError::Port(p.to_string())),
                Ok(n) => n,
            },
        };
        Ok(BrokerUrl { host, port, tls, websocket: path })
    }

    /// `host:port`, as a socket address string.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// For MQTT over WebSocket, the URL of the opening handshake's request
    /// (`ws://host:port/path` or `wss://...`).
    pub fn websocket_url(&self) -> Option<String> {
        let path = self.websocket.as_ref()?;
        let scheme = if self.tls { "wss" } else { "ws" };
        Some(format!("{scheme}://{}{path}", self.authority()))
    }

    /// The URL in its full form, as reports show it.
    pub fn display(&self) -> String {
        match self.websocket_url() {
            Some(url) => url,
            None if self.tls => format!("mqtts://{}", self.authority()),
            None => format!("mqtt://{}", self.authority()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        // (URL, Ok((host, port, tls, WebSocket request URL)) or Err(part of the message))
        type Case<'a> = (&'a str, Result<(&'a str, u16, bool, Option<&'a str>), &'a str>);
        let cases: &[Case] = &[
            ("mqtt://127.0.0.1:1883", Ok(("127.0.0.1", 1883, false, None))),
            ("mqtt://localhost", Ok(("localhost", 1883, false, None))),
            ("mqtt://broker.example:2000/", Ok(("broker.example", 2000, false, None))),
            ("mqtt://[::1]:1884", Ok(("[::1]", 1884, false, None))),
            ("tcp://h:1", Ok(("h", 1, false, None))),
            ("127.0.0.1:1883", Err("has no scheme")),
            ("mqtts://h:8884", Ok(("h", 8884, true, None))),
            ("mqtts://h", Ok(("h", 8883, true, None))),
            ("ws://h:8080", Ok(("h", 8080, false, Some("ws://h:8080/mqtt")))),
            ("ws://h", Ok(("h", 80, false, Some("ws://h:80/mqtt")))),
            ("WS://h/", Ok(("h", 80, false, Some("ws://h:80/")))),
            ("ws://h:9001/ws/mqtt", Ok(("h", 9001, false, Some("ws://h:9001/ws/mqtt")))),
            ("ws://h:9001?token=x", Ok(("h", 9001, false, Some("ws://h:9001/mqtt?token=x")))),
            ("ws://[::1]:8080/m", Ok(("[::1]", 8080, false, Some("ws://[::1]:8080/m")))),
            ("wss://h", Ok(("h", 443, true, Some("wss://h:443/mqtt")))),
            ("wss://h:8443/mqtt", Ok(("h", 8443, true, Some("wss://h:8443/mqtt")))),
            ("ws://:8080/mqtt", Err("no valid host")),
            ("ws://h:0/mqtt", Err("port \"0\"")),
            ("ws://h:x/mqtt", Err("port \"x\"")),
            ("ws://u@h/mqtt", Err("must not have user info")),
            ("ws://h/mqtt#top", Err("a WebSocket path must be printable")),
            ("ws://h/a b", Err("a WebSocket path must be printable")),
            ("http://h:8080", Err("unsupported scheme \"http\"; expected mqtt:// (TCP)")),
            ("mqtt://:1883", Err("no valid host")),
            ("mqtt://h:0", Err("port \"0\"")),
            ("mqtt://h:99999", Err("port \"99999\"")),
            ("mqtt://h:x", Err("port \"x\"")),
            ("mqtt://u@h", Err("must not have a path")),
            ("mqtt://h/topic", Err("a path is for ws:// and wss:// only")),
        ];
        for (url, want) in cases {
            let got = BrokerUrl::parse(url)
                .map(|u| (u.host.clone(), u.port, u.tls, u.websocket_url()))
                .map_err(|e| e.to_string());
            match (want, got) {
                (Ok((h, p, t, w)), Ok((gh, gp, gt, gw))) => {
                    assert_eq!((*h, *p, *t, *w), (gh.as_str(), gp, gt, gw.as_deref()), "{url}")
                }
                (Err(part), Err(msg)) => assert!(msg.contains(part), "{url}: {msg}"),
                (want, got) => panic!("{url}: wanted {want:?}, got {got:?}"),
            }
        }
    }
}
