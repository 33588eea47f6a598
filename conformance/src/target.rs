//! Targets: where the broker under test is and how to open a byte stream to it.
//!
//! A check never sees which target it runs against. It asks its context for a connection and
//! gets a boxed `AsyncRead + AsyncWrite` stream: a tokio TCP (or TLS over TCP) stream for an
//! external broker, or a turmoil TCP stream for a broker inside the simulator. A target also
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

/// An external broker reached over tokio TCP, or TLS over it.
#[derive(Clone)]
pub struct TcpTarget {
    /// `host:port`, resolved on every connect.
    pub addr: String,
    /// The host, as the TLS server name.
    host: String,
    /// TLS over the TCP stream, when the URL is `mqtts://`.
    tls: Option<TlsConnector>,
    /// How the suite's clients log in.
    credentials: Option<Credentials>,
}

impl fmt::Debug for TcpTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpTarget")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("username", &self.credentials.as_ref().map(|c| &c.username))
            .finish()
    }
}

impl TcpTarget {
    /// A plain TCP target for a broker URL (for an `mqtts://` URL, see [`TcpTarget::tls`]).
    pub fn new(url: &BrokerUrl) -> TcpTarget {
        TcpTarget { addr: url.authority(), host: url.host.clone(), tls: None, credentials: None }
    }

    /// A plain TCP target for `host:port`.
    pub fn plain(addr: impl Into<String>) -> TcpTarget {
        let addr = addr.into();
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h).to_owned();
        TcpTarget { addr, host, tls: None, credentials: None }
    }

    /// A TLS target for a broker URL, with the connector that says which certificates to trust.
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
            match &self.tls {
                None => Ok(Box::new(stream) as BoxStream),
                Some(connector) => {
                    let name = server_name(&self.host)?;
                    let stream = connector.connect(name, stream).await?;
                    Ok(Box::new(stream) as BoxStream)
                }
            }
        })
    }

    fn describe(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "tcp" };
        format!("{scheme} {}", self.addr)
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

/// A broker address given as `mqtt://host[:port]` or `mqtts://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or IP address; an IPv6 address keeps its brackets.
    pub host: String,
    /// The port: 1883 (8883 for `mqtts://`) unless given.
    pub port: u16,
    /// `mqtts://`: MQTT over TLS.
    pub tls: bool,
}

/// Why a broker URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UrlError {
    /// The URL does not start with a scheme.
    #[error("broker URL {0:?} has no scheme; expected mqtt://host[:port]")]
    NoScheme(String),
    /// The scheme is not `mqtt` or `mqtts` (WebSocket is not supported).
    #[error("unsupported scheme {0:?}; expected mqtt:// (TCP) or mqtts:// (TLS)")]
    Scheme(String),
    /// The host part is empty or malformed.
    #[error("broker URL {0:?} has no valid host")]
    Host(String),
    /// The port is not a number from 1 to 65535.
    #[error("broker URL port {0:?} is not a number from 1 to 65535")]
    Port(String),
    /// Something follows the authority.
    #[error("broker URL {0:?} must not have a path, query or user info")]
    Extra(String),
}

impl BrokerUrl {
    /// Parses `mqtt://host[:port][/]` or `mqtts://host[:port][/]` (`tcp://` and `ssl://`, as
    /// some tools write them, too).
    pub fn parse(url: &str) -> Result<BrokerUrl, UrlError> {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(UrlError::NoScheme(url.to_string()));
        };
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" | "tls" => true,
            _ => return Err(UrlError::Scheme(scheme.to_string())),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(UrlError::Extra(url.to_string()));
        }
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
            None if tls => 8883,
            None => 1883,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(UrlError::Port(p.to_string())),
                Ok(n) => n,
            },
        };
        Ok(BrokerUrl { host, port, tls })
    }

    /// `host:port`, as a socket address string.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        type Case<'a> = (&'a str, Result<(&'a str, u16), &'a str>);
        let cases: &[Case] = &[
            ("mqtt://127.0.0.1:1883", Ok(("127.0.0.1", 1883))),
            ("mqtt://localhost", Ok(("localhost", 1883))),
            ("mqtt://broker.example:2000/", Ok(("broker.example", 2000))),
            ("mqtt://[::1]:1884", Ok(("[::1]", 1884))),
            ("tcp://h:1", Ok(("h", 1))),
            ("127.0.0.1:1883", Err("has no scheme")),
            ("mqtts://h:8884", Ok(("h", 8884))),
            ("mqtts://h", Ok(("h", 8883))),
            ("ws://h:8080", Err("unsupported scheme \"ws\"")),
            ("mqtt://:1883", Err("no valid host")),
            ("mqtt://h:0", Err("port \"0\"")),
            ("mqtt://h:99999", Err("port \"99999\"")),
            ("mqtt://h:x", Err("port \"x\"")),
            ("mqtt://u@h", Err("must not have a path")),
            ("mqtt://h/topic", Err("must not have a path")),
        ];
        for (url, want) in cases {
            let got =
                BrokerUrl::parse(url).map(|u| (u.host.clone(), u.port)).map_err(|e| e.to_string());
            match (want, got) {
                (Ok((h, p)), Ok((gh, gp))) => assert_eq!((*h, *p), (gh.as_str(), gp), "{url}"),
                (Err(part), Err(msg)) => assert!(msg.contains(part), "{url}: {msg}"),
                (want, got) => panic!("{url}: wanted {want:?}, got {got:?}"),
            }
        }
    }
}
