//! Options shared by the subcommands that talk to a cluster: keys, label, addresses.

use std::net::{SocketAddr, ToSocketAddrs};

use memberlist_interop::node::DEFAULT_PORT;
use memberlist_interop::wire::{Keyring, Label, SecretKey};

#[derive(clap::Args, Clone, Debug, Default)]
pub struct Security {
    /// Gossip key in base64, as `serf keygen` or `consul keygen` prints it
    /// (repeatable; the first is the primary key, used to encrypt).
    #[arg(long = "key")]
    pub keys: Vec<String>,
    /// Label that prefixes every packet and stream (Consul's partition/segment label).
    #[arg(long, default_value = "")]
    pub label: String,
}

impl Security {
    pub fn keyring(&self) -> Result<Option<Keyring>, String> {
        let mut keys = self
            .keys
            .iter()
            .map(|k| SecretKey::from_base64(k).map_err(|e| format!("--key {k}: {e}")));
        let Some(primary) = keys.next().transpose()? else {
            return Ok(None);
        };
        let rest = keys.collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Keyring::with_keys(primary, rest)))
    }

    pub fn label(&self) -> Result<Option<Label>, String> {
        Label::parse_optional(&self.label).map_err(|e| format!("--label: {e}"))
    }
}

/// `host:port`, `ip:port`, `[v6]:port`, or a bare host or IP (port 7946).
pub fn resolve(addr: &str) -> Result<SocketAddr, String> {
    let with_port = if addr.parse::<std::net::IpAddr>().is_ok() {
        SocketAddr::new(addr.parse().map_err(|_| addr.to_string())?, DEFAULT_PORT).to_string()
    } else if addr
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        addr.to_string()
    } else {
        format!("{addr}:{DEFAULT_PORT}")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}
