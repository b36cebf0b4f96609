//! Which transport the shell runs the machine over. The machine only sees packets and
//! stream frames with their peer's address; how they travel is the shell's business.

/// How packets and streams reach other members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// Memberlist's own: packets as UDP datagrams, streams as TCP connections, both on
    /// the bound port.
    #[default]
    Standard,
    /// grafana/dskit's TCP-only transport (Loki, Mimir, Tempo, Cortex): each packet on a
    /// connection of its own with the sender's address and an MD5 digest, each stream
    /// behind a one-byte marker ([`crate::wire::dskit`]). Nothing listens on UDP.
    Dskit,
}
