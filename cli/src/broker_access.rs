//! How `mqtt-sim conformance` and `mqtt-sim run --broker` reach a real broker: the URL
//! (`mqtt://`, `mqtts://`, or MQTT over WebSocket `ws://` and `wss://`), the TLS trust (`--ca-file`, `--insecure`) and the login
//! (`--username`, `--password` or `MQTT_SIM_PASSWORD`).

use clap::Args;
use mqttsim_conformance::BrokerUrl;
use mqttsim_net::tls::{self, ServerTrust, TlsConnector};

use crate::Failure;

/// The TLS and login options shared by the commands that talk to a real broker.
#[derive(Debug, Clone, Args)]
pub struct BrokerAccess {
    /// With mqtts:// or wss://, the CA certificates (PEM) the broker's certificate must chain to.
    #[arg(long, value_name = "FILE", conflicts_with = "insecure")]
    pub ca_file: Option<std::path::PathBuf>,
    /// With mqtts:// or wss://, accept any certificate (self-signed test brokers): encrypted, but the
    /// broker is not authenticated.
    #[arg(long)]
    pub insecure: bool,
    /// Log in with this user name.
    #[arg(long, value_name = "NAME")]
    pub username: Option<String>,
    /// The password for --username; read from the MQTT_SIM_PASSWORD variable when not given.
    #[arg(long, value_name = "PASSWORD", requires = "username")]
    pub password: Option<String>,
}

/// A broker reached: its URL, the TLS connector for `mqtts://` and `wss://`, the login.
pub struct Access {
    pub url: BrokerUrl,
    pub tls: Option<TlsConnector>,
    pub login: Option<(String, Option<String>)>,
}

impl BrokerAccess {
    /// Parses `broker` (the `--broker` URL) and checks the options that go with it.
    pub fn resolve(&self, broker: &str) -> Result<Access, Failure> {
        let url = BrokerUrl::parse(broker).map_err(Failure::input)?;
        let tls = if url.tls {
            let trust = match (&self.ca_file, self.insecure) {
                (Some(path), _) => ServerTrust::CaFile(path.clone()),
                (None, true) => ServerTrust::Insecure,
                (None, false) => {
                    return Err(Failure::input(anyhow::anyhow!(
                        "{broker} needs --ca-file FILE (the CA certificates the broker's \
                         certificate chains to), or --insecure for a self-signed test broker"
                    )));
                }
            };
            Some(tls::connector(&trust).map_err(Failure::input)?)
        } else {
            if self.ca_file.is_some() || self.insecure {
                return Err(Failure::input(anyhow::anyhow!(
                    "--ca-file and --insecure are for mqtts:// and wss:// brokers; {broker} is \
                     not over TLS"
                )));
            }
            None
        };
        let login = self.username.clone().map(|username| {
            let password =
                self.password.clone().or_else(|| std::env::var("MQTT_SIM_PASSWORD").ok());
            (username, password)
        });
        Ok(Access { url, tls, login })
    }
}
