//! The Go-shaped face of a running member: what an application embedding memberlist
//! calls on `*memberlist.Memberlist` (`Members`, `LocalNode`, `NumMembers`,
//! `GetHealthScore`, `SendBestEffort`, `SendReliable`, the keyring), as async methods
//! on the cloneable [`Memberlist`] handle, and [`Events`], the stream of membership
//! changes a member started with the ready-made [`EventDelegate`] delivers.
//!
//! Every method is one round trip to the member's task (see [`Memberlist::with`]), so
//! each answer is a consistent snapshot; none of them blocks the protocol.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::config::Config;
use super::delegate::Delegate;
use super::events::{Event, EventDelegate};
use super::member::Member;
use super::runtime::{Memberlist, RuntimeError};
use crate::wire::SecretKey;

impl<D: Delegate + Send + 'static> Memberlist<D> {
    /// Go's `Members`: every member that is neither dead nor left, ourselves
    /// included (suspects too: they may still refute).
    pub async fn members(&self) -> Result<Vec<Member>, RuntimeError> {
        self.with(|m, _| m.members().cloned().collect()).await
    }

    /// The member named `name` in any state, dead and left ones included, while it is
    /// still in the list.
    pub async fn member(&self, name: &str) -> Result<Option<Member>, RuntimeError> {
        let name = name.to_owned();
        self.with(move |m, _| m.member(&name).cloned()).await
    }

    /// Go's `LocalNode`: our own entry as peers see it (advertised address, meta,
    /// incarnation).
    pub async fn local_member(&self) -> Result<Member, RuntimeError> {
        self.with(|m, _| m.local_member().clone()).await
    }

    /// Go's `NumMembers`: how many members [`Self::members`] would return.
    pub async fn num_members(&self) -> Result<usize, RuntimeError> {
        self.with(|m, _| m.num_members()).await
    }

    /// Go's `GetHealthScore`: Lifeguard's awareness, 0 when our own probes succeed;
    /// higher values mean this member is the slow one and stretches its timeouts.
    pub async fn health_score(&self) -> Result<u32, RuntimeError> {
        self.with(|m, _| m.health_score()).await
    }

    /// Go's `SendBestEffort`: `msg` to member `to` in one UDP packet, no delivery
    /// guarantee. The peer's delegate gets it in `notify_msg`.
    pub async fn send_best_effort(&self, to: &str, msg: Vec<u8>) -> Result<(), RuntimeError> {
        let to = to.to_owned();
        Ok(self
            .with(move |m, _| m.send_best_effort(&to, &msg))
            .await??)
    }

    /// Go's `SendReliable`: `msg` to member `to` over a TCP stream. Returns once the
    /// stream is started; a failed delivery is counted in the member's diagnostics.
    pub async fn send_reliable(&self, to: &str, msg: Vec<u8>) -> Result<(), RuntimeError> {
        let to = to.to_owned();
        Ok(self
            .with(move |m, now| m.send_reliable(now, &to, &msg))
            .await??)
    }

    /// The keys of our keyring, primary first (Go's `Keyring.GetKeys`); empty when
    /// encryption is off.
    pub async fn keys(&self) -> Result<Vec<SecretKey>, RuntimeError> {
        self.with(|m, _| {
            m.config()
                .keyring
                .as_ref()
                .map(|k| k.keys().to_vec())
                .unwrap_or_default()
        })
        .await
    }

    /// Adds a key this member decrypts with (Go's `Keyring.AddKey`); only this
    /// member's ring changes: a Serf cluster rotates keys on every member with
    /// `Serf::key_manager`.
    pub async fn install_key(&self, key: SecretKey) -> Result<(), RuntimeError> {
        self.with(move |m, _| {
            m.keyring_mut()
                .ok_or(RuntimeError::NoKeyring)
                .map(|ring| ring.add(key))
        })
        .await?
    }

    /// Makes an installed key the one we encrypt with (Go's `Keyring.UseKey`).
    pub async fn use_key(&self, key: SecretKey) -> Result<(), RuntimeError> {
        self.with(move |m, _| {
            let ring = m.keyring_mut().ok_or(RuntimeError::NoKeyring)?;
            ring.use_key(&key).map_err(RuntimeError::Keyring)
        })
        .await?
    }

    /// Removes a key that is not the primary one (Go's `Keyring.RemoveKey`).
    pub async fn remove_key(&self, key: SecretKey) -> Result<(), RuntimeError> {
        self.with(move |m, _| {
            let ring = m.keyring_mut().ok_or(RuntimeError::NoKeyring)?;
            ring.remove(&key).map_err(RuntimeError::Keyring)
        })
        .await?
    }
}

impl Memberlist<EventDelegate> {
    /// Go's `memberlist.Create`: binds, starts the member with empty meta and the
    /// [`EventDelegate`], and returns the handle and its event stream. Join with
    /// [`Memberlist::join`]; [`super::Builder`] sets meta and the common options.
    pub async fn create(config: Config) -> Result<(Self, Events), RuntimeError> {
        super::Builder::from_config(config).start().await
    }

    /// Gossips `msg` to every member, piggybacked on probes and gossip like Go's
    /// `TransmitLimitedQueue` (each peer's delegate gets it in `notify_msg`; ours
    /// does not).
    pub async fn broadcast(&self, msg: Vec<u8>) -> Result<(), RuntimeError> {
        self.with(move |m, _| m.delegate_mut().queue_broadcast(msg))
            .await
    }
}

/// The membership events of a member started with [`EventDelegate`]: joins, leaves
/// (dead or left), meta updates, user messages, conflicts and ping round trips, in
/// the order the member saw them. Ends after [`Memberlist::shutdown`].
///
/// Read it with [`Events::next`] or as a [`futures_core::Stream`]. Events wait in an
/// unbounded queue, so a reader that falls behind costs memory, not lost events.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Events {
    /// The next event, waiting for it; `None` once the member has shut down.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl From<mpsc::UnboundedReceiver<Event>> for Events {
    /// Wraps the receiver [`EventDelegate::new`] returns.
    fn from(rx: mpsc::UnboundedReceiver<Event>) -> Self {
        Events { rx }
    }
}

impl futures_core::Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::node::State;

    fn config(name: &str) -> Config {
        Config {
            name: name.into(),
            bind_addr: [127, 0, 0, 1].into(),
            bind_port: 0,
            ..Config::local()
        }
    }

    /// The next event `pred` accepts, within a bound.
    async fn expect(events: &mut Events, pred: impl Fn(&Event) -> bool) -> Event {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.next().await {
                    Some(e) if pred(&e) => return e,
                    Some(_) => continue,
                    None => panic!("event stream ended"),
                }
            }
        })
        .await
        .expect("event within 10 s")
    }

    #[tokio::test]
    async fn two_members_through_the_handle() {
        let (a, mut a_events) = Memberlist::create(config("a")).await.unwrap();
        let (b, mut b_events) = Memberlist::create(config("b")).await.unwrap();
        assert_eq!(b.join(vec![a.local_addr()]).await.unwrap(), 1);
        expect(
            &mut a_events,
            |e| matches!(e, Event::Join(m) if m.name == "b"),
        )
        .await;
        assert_eq!(a.num_members().await.unwrap(), 2);
        let seen = a.member("b").await.unwrap().expect("b is listed");
        assert_eq!(seen.socket_addr(), Some(b.local_addr()));
        assert_eq!(a.member("nobody").await.unwrap(), None);

        b.broadcast(b"to-all".to_vec()).await.unwrap();
        a.send_reliable("b", b"to-b".to_vec()).await.unwrap();
        expect(&mut a_events, |e| *e == Event::Message(b"to-all".to_vec())).await;
        expect(&mut b_events, |e| *e == Event::Message(b"to-b".to_vec())).await;

        b.update_meta(b"v2".to_vec(), Duration::from_secs(5))
            .await
            .unwrap();
        expect(
            &mut a_events,
            |e| matches!(e, Event::Update(m) if m.meta == b"v2"),
        )
        .await;

        b.leave(Duration::from_secs(5)).await.unwrap();
        expect(
            &mut a_events,
            |e| matches!(e, Event::Leave(m) if m.name == "b" && m.state == State::Left),
        )
        .await;
        assert_eq!(a.num_members().await.unwrap(), 1);
        b.shutdown().await.unwrap();
        a.shutdown().await.unwrap();
        assert!(matches!(
            a.local_member().await,
            Err(RuntimeError::Shutdown)
        ));
    }
}
