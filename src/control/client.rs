//! A blocking client of serf's RPC, for the `memberlist` subcommands: it talks to
//! our `--serf` agent and to a real `serf agent` alike.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_bytes::ByteBuf;

use super::codec::{write_frame, CodecError, Values};
use super::errors::{AUTH_REQUIRED, PLAIN_AGENT};
use super::messages::*;
use super::{AuthToken, IPC_VERSION};

/// Why a command did not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no agent at {addr} ({source}); start one with `memberlist agent --serf` or `serf agent`, or pass --rpc-addr (a plain `memberlist agent` listens on 127.0.0.1:7380)")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "{addr} is a plain `memberlist agent` (started without --serf), which has no Serf commands"
    )]
    PlainAgent { addr: SocketAddr },
    #[error("{addr} did not answer in time: is it a Serf agent's RPC address?")]
    Timeout { addr: SocketAddr },
    #[error("{addr}: {source}")]
    Codec {
        addr: SocketAddr,
        source: CodecError,
    },
    #[error("the agent wants a token: pass --rpc-auth-file, --rpc-auth or MEMBERLIST_RPC_AUTH")]
    AuthRequired,
    #[error("{0}")]
    Agent(String),
    #[error("{addr}: an answer to request {got} while waiting for {want}")]
    Sequence {
        addr: SocketAddr,
        got: u64,
        want: u64,
    },
}

/// A connection that has done its handshake (and `auth`).
pub struct Client {
    addr: SocketAddr,
    conn: Values<TcpStream>,
    seq: u64,
}

/// An answer: the agent's error string (empty on success) and the body, if any.
pub struct Answer<T> {
    pub error: String,
    pub body: Option<T>,
}

impl<T> Answer<T> {
    /// The body, or the agent's error.
    pub fn ok(self) -> Result<T, ClientError> {
        match (self.error.is_empty(), self.body) {
            (true, Some(b)) => Ok(b),
            (_, _) if self.error == AUTH_REQUIRED => Err(ClientError::AuthRequired),
            (false, _) => Err(ClientError::Agent(self.error)),
            (true, None) => Err(ClientError::Agent("the agent sent no answer body".into())),
        }
    }
}

fn check(error: String) -> Result<(), ClientError> {
    match error.as_str() {
        "" => Ok(()),
        AUTH_REQUIRED => Err(ClientError::AuthRequired),
        _ => Err(ClientError::Agent(error)),
    }
}

impl Client {
    /// Connects, shakes hands and authenticates; `timeout` bounds each answer.
    pub fn connect(
        addr: SocketAddr,
        auth: Option<&AuthToken>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let conn = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|source| ClientError::Connect { addr, source })?;
        let io = |source: std::io::Error| ClientError::Codec {
            addr,
            source: source.into(),
        };
        conn.set_read_timeout(Some(timeout)).map_err(io)?;
        conn.set_write_timeout(Some(timeout)).map_err(io)?;
        let mut c = Client {
            addr,
            conn: Values::new(conn),
            seq: 0,
        };
        let hs = c.call::<_, ()>(
            "handshake",
            Some(&Handshake {
                version: IPC_VERSION,
            }),
            false,
        )?;
        if hs.error == PLAIN_AGENT {
            return Err(ClientError::PlainAgent { addr });
        }
        check(hs.error)?;
        if let Some(t) = auth {
            let a = c.call::<_, ()>(
                "auth",
                Some(&Auth {
                    auth_key: t.expose().to_owned(),
                }),
                false,
            )?;
            check(a.error)?;
        }
        Ok(c)
    }

    /// How long to wait for each answer from now on (queries take their timeout).
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.conn
            .get_mut()
            .set_read_timeout(timeout)
            .map_err(|e| self.codec(e.into()))
    }

    fn codec(&self, e: CodecError) -> ClientError {
        match e {
            CodecError::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                ClientError::Timeout { addr: self.addr }
            }
            source => ClientError::Codec {
                addr: self.addr,
                source,
            },
        }
    }

    /// Sends one request and reads its header and, if `has_body`, its body (which
    /// serf's agent sends even with an error, except "Authentication required").
    pub fn call<B: Serialize, R: DeserializeOwned>(
        &mut self,
        command: &str,
        body: Option<&B>,
        has_body: bool,
    ) -> Result<Answer<R>, ClientError> {
        let seq = self.send(command, body)?;
        let header = self.header(seq)?;
        let body = if has_body && header.error != AUTH_REQUIRED {
            Some(self.read()?)
        } else {
            None
        };
        Ok(Answer {
            error: header.error,
            body,
        })
    }

    /// Sends a request; returns its sequence number.
    pub fn send<B: Serialize>(
        &mut self,
        command: &str,
        body: Option<&B>,
    ) -> Result<u64, ClientError> {
        let seq = self.seq;
        self.seq += 1;
        let header = RequestHeader {
            command: command.to_owned(),
            seq,
        };
        write_frame(self.conn.get_mut(), &header, body).map_err(|e| self.codec(e.into()))?;
        Ok(seq)
    }

    /// The next response header, which must be for `seq`.
    pub fn header(&mut self, seq: u64) -> Result<ResponseHeader, ClientError> {
        let h: ResponseHeader = self.read()?;
        if h.seq != seq {
            return Err(ClientError::Sequence {
                addr: self.addr,
                got: h.seq,
                want: seq,
            });
        }
        Ok(h)
    }

    /// The next value on the connection.
    pub fn read<T: DeserializeOwned>(&mut self) -> Result<T, ClientError> {
        self.conn.read().map_err(|e| self.codec(e))
    }

    pub fn members(&mut self, filter: &MembersFiltered) -> Result<Vec<Member>, ClientError> {
        let a: Answer<MembersResponse> = self.call("members-filtered", Some(filter), true)?;
        Ok(a.ok()?.members)
    }

    pub fn user_event(
        &mut self,
        name: &str,
        payload: &[u8],
        coalesce: bool,
    ) -> Result<(), ClientError> {
        let req = EventRequest {
            coalesce,
            name: name.to_owned(),
            payload: Some(ByteBuf::from(payload)),
        };
        check(self.call::<_, ()>("event", Some(&req), false)?.error)
    }

    pub fn update_tags(&mut self, req: &TagsRequest) -> Result<(), ClientError> {
        check(self.call::<_, ()>("tags", Some(req), false)?.error)
    }

    /// A key command (`install-key`, `use-key`, `remove-key`, `list-keys`): serf's
    /// report comes with an error too, so both are returned.
    pub fn key_command(
        &mut self,
        command: &str,
        key: Option<&str>,
    ) -> Result<Answer<KeyResponse>, ClientError> {
        match key {
            Some(k) => self.call(command, Some(&KeyRequest { key: k.to_owned() }), true),
            None => self.call::<(), _>(command, None, true),
        }
    }

    pub fn stats(&mut self) -> Result<Stats, ClientError> {
        self.call::<(), Stats>("stats", None, true)?.ok()
    }

    /// Starts a query; read its records with [`Client::query_record`] until `done`.
    pub fn query(&mut self, req: &QueryRequest) -> Result<u64, ClientError> {
        let seq = self.send("query", Some(req))?;
        check(self.header(seq)?.error)?;
        Ok(seq)
    }

    pub fn query_record(&mut self, seq: u64) -> Result<QueryRecord, ClientError> {
        self.header(seq)?;
        self.read()
    }
}
