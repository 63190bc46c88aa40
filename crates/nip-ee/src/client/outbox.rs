//! The outbox: every event the core asks the host to publish is written here in the same
//! atomic batch as the state change that produced it, and leaves only when the host
//! reports that a relay took it. A crash between the two therefore loses nothing: after a
//! restart [`Client::outbox`](crate::Client::outbox) lists it again.

use nipee_codec::{Reader, Writer};
use nipee_nostr::{Event, PublicKey};
use zeroize::Zeroizing;

use super::types::{Outgoing, Purpose};
use crate::error::{Error, Result};
use crate::ids::GroupId;
use crate::storage::{Blob, Table, WriteBatch};

const OUTBOX_VERSION: u8 = 1;
const MAX_RELAYS: usize = 256;

fn encode_purpose(w: &mut Writer, p: &Purpose) -> Result<()> {
    match p {
        Purpose::KeyPackage => w.u8(0),
        Purpose::RelayList => w.u8(1),
        Purpose::KeyPackageDeletion => w.u8(2),
        Purpose::Welcome { group_id, invitee } => {
            w.u8(3);
            w.vl_bytes("group_id", group_id.as_bytes())?;
            w.bytes(invitee.as_bytes());
        }
        Purpose::GroupMessage { group_id } => {
            w.u8(4);
            w.vl_bytes("group_id", group_id.as_bytes())?;
        }
        Purpose::Commit { group_id, epoch } => {
            w.u8(5);
            w.vl_bytes("group_id", group_id.as_bytes())?;
            w.u64(*epoch);
        }
        Purpose::RatchetTree { group_id } => {
            w.u8(6);
            w.vl_bytes("group_id", group_id.as_bytes())?;
        }
    }
    Ok(())
}

fn decode_purpose(r: &mut Reader<'_>) -> Result<Purpose> {
    let group = |r: &mut Reader<'_>| -> Result<GroupId> {
        Ok(GroupId::new(r.vl_bytes("group_id")?.to_vec()))
    };
    Ok(match r.u8("purpose")? {
        0 => Purpose::KeyPackage,
        1 => Purpose::RelayList,
        2 => Purpose::KeyPackageDeletion,
        3 => Purpose::Welcome {
            group_id: group(r)?,
            invitee: PublicKey::from_bytes(&r.array::<32>("invitee")?)?,
        },
        4 => Purpose::GroupMessage {
            group_id: group(r)?,
        },
        5 => Purpose::Commit {
            group_id: group(r)?,
            epoch: r.u64("epoch")?,
        },
        6 => Purpose::RatchetTree {
            group_id: group(r)?,
        },
        _ => return Err(Error::malformed("outbox row", "unknown purpose")),
    })
}

/// The stored form of an outgoing event.
pub(crate) fn encode(o: &Outgoing) -> Result<Zeroizing<Vec<u8>>> {
    let mut w = Writer::new();
    w.vl_bytes("event", o.event.to_json().as_bytes())?;
    w.vl("relays", |w| {
        for r in &o.relays {
            w.vl_bytes("relay", r.as_bytes())?;
        }
        Ok::<(), Error>(())
    })?;
    encode_purpose(&mut w, &o.purpose)?;
    Ok(Blob::encode(OUTBOX_VERSION, w.as_bytes()))
}

/// Reads an outbox row.
pub(crate) fn decode(blob: &[u8]) -> Result<Outgoing> {
    let mut r = Reader::new(Blob::decode(OUTBOX_VERSION, blob)?);
    let json = core::str::from_utf8(r.vl_bytes("event")?)
        .map_err(|_| Error::malformed("outbox row", "event is not UTF-8"))?;
    let event = Event::from_json(json)?;
    let relays = r.vl_vec("relays", MAX_RELAYS, |r| {
        String::from_utf8(r.vl_bytes("relay")?.to_vec())
            .map_err(|_| Error::malformed("outbox row", "relay is not UTF-8"))
    })?;
    let purpose = decode_purpose(&mut r)?;
    r.finish()?;
    Ok(Outgoing {
        event,
        relays,
        purpose,
    })
}

/// Adds `o` to the outbox in `batch`.
pub(crate) fn put(batch: &mut WriteBatch, o: &Outgoing) -> Result<()> {
    batch.put(Table::Outbox, o.event.id().as_bytes().to_vec(), encode(o)?);
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use nipee_nostr::{EventBuilder, Keys, Kind, Timestamp};

    #[test]
    fn every_purpose_round_trips() {
        let keys = Keys::generate(&mut rand::rng());
        let event = EventBuilder::new(Kind::new(1), "x")
            .sign(&keys, Timestamp::from_secs(1_700_000_000))
            .unwrap();
        let g = GroupId::new(vec![1, 2, 3]);
        for purpose in [
            Purpose::KeyPackage,
            Purpose::RelayList,
            Purpose::KeyPackageDeletion,
            Purpose::Welcome {
                group_id: g.clone(),
                invitee: keys.public_key(),
            },
            Purpose::GroupMessage {
                group_id: g.clone(),
            },
            Purpose::Commit {
                group_id: g.clone(),
                epoch: 7,
            },
            Purpose::RatchetTree {
                group_id: g.clone(),
            },
        ] {
            let o = Outgoing {
                event: event.clone(),
                relays: vec!["wss://a.example".into(), "wss://b.example".into()],
                purpose,
            };
            assert_eq!(decode(&encode(&o).unwrap()).unwrap(), o);
        }
    }

    #[test]
    fn a_truncated_row_is_a_typed_error() {
        assert!(decode(&[OUTBOX_VERSION, 0x05]).is_err());
        assert!(decode(&[9]).is_err());
    }
}
