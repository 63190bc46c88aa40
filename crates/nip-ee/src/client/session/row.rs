//! The group row: a session's stored form and its versions. What is kept and how it is
//! read back; the types are the session's ([`super`]).

use nipee_codec::{Reader, Writer};
use nipee_mls::RustCryptoSuite1;
use nipee_mls::group::{Group, RatchetPiece};
use nipee_nostr::{Event, EventId, PublicKey};
use zeroize::Zeroizing;

use super::{
    CommitRecord, EpochKey, Identities, Invitee, LeftRace, Live, MAX_LOSERS, PendingOwn,
    RaceRecord, Session, Stored, StoredPiece, Tombstone,
};
use crate::error::{Error, Result};
use crate::ids::NostrGroupId;
use crate::profile::Profile;
use crate::storage::Blob;

/// Format version of the group rows this build writes: 4, whose MLS state is in the split
/// form (its secret trees stored apart in [`crate::storage::Table::Ratchet`]) and whose
/// pending commit names each invitee's KeyPackageRef (to give each a Welcome of its own).
/// Version 3 (no KeyPackageRefs: a pending invite's Welcome then goes whole to every
/// invitee) is still read. Version 2 (the whole MLS state in the row) is still read, and
/// rewritten as 4 when the client loads it. Version 1 was the session of the first client,
/// keyed by `nostr_group_id`; it is not read.
const GROUP_ROW_VERSION: u8 = 4;
/// Version 3, still read.
const GROUP_ROW_VERSION_NO_REFS: u8 = 3;
/// Version 2, still read.
pub(super) const GROUP_ROW_VERSION_WHOLE: u8 = 2;
const MAX_ITEMS: usize = 4096;

impl Session {
    /// The stored form.
    pub(crate) fn encode(&self) -> Result<Stored> {
        let mut w = Writer::new();
        let mut pieces = Vec::new();
        match self {
            Session::Left(t) => {
                w.u8(if t.race.is_some() { 2 } else { 0 });
                w.bytes(t.nostr_group_id.as_bytes());
                w.u64(t.epoch);
                w.vl_bytes("name", t.name.as_bytes())?;
                w.u64(t.left_at);
                if let Some(r) = &t.race {
                    encode_left_race(&mut w, r)?;
                }
            }
            Session::Active(l) => {
                w.u8(1);
                pieces = encode_live(&mut w, l)?;
            }
        }
        let row = Blob::encode(GROUP_ROW_VERSION, w.as_bytes());
        zeroize::Zeroize::zeroize(&mut w.into_bytes());
        Ok(Stored { row, pieces })
    }

    /// Reads the stored form: the row and the secret-tree pieces stored with it. Returns
    /// the session and whether the row is of the previous version (to be rewritten).
    ///
    /// # Errors
    /// [`Error::Storage`] for another version or a corrupt row; pieces beside a row that
    /// has no place for them.
    pub(crate) fn decode(blob: &[u8], pieces: &[StoredPiece<'_>]) -> Result<(Self, bool)> {
        let version = match blob.first() {
            Some(&v @ (GROUP_ROW_VERSION_WHOLE | GROUP_ROW_VERSION_NO_REFS)) => v,
            _ => GROUP_ROW_VERSION,
        };
        let old = version == GROUP_ROW_VERSION_WHOLE;
        let refs = version == GROUP_ROW_VERSION;
        let payload = Blob::decode(version, blob)?;
        let mut r = Reader::new(payload);
        let s = match r.u8("session")? {
            tag @ (0 | 2) => Session::Left(Tombstone {
                nostr_group_id: NostrGroupId::from_bytes(r.array::<32>("nostr_group_id")?),
                epoch: r.u64("epoch")?,
                name: String::from_utf8_lossy(r.vl_bytes("name")?).into_owned(),
                left_at: r.u64("left_at")?,
                race: if tag == 2 {
                    Some(Box::new(decode_left_race(&mut r)?))
                } else {
                    None
                },
            }),
            1 => Session::Active(Box::new(decode_live(&mut r, pieces, refs)?)),
            _ => return Err(Error::malformed("group row", "unknown session state")),
        };
        r.finish()?;
        if matches!(s, Session::Left(_)) && !pieces.is_empty() {
            return Err(Error::malformed(
                "group row",
                "secret-tree pieces stored for a group we left",
            ));
        }
        Ok((s, old))
    }
}

fn encode_record(w: &mut Writer, c: &CommitRecord) -> Result<()> {
    w.vl_bytes("content_id", &c.content_id)?;
    w.u64(c.key.0);
    w.bytes(&c.key.1);
    w.optional(c.committer.as_ref(), |w, l| {
        w.u32(*l);
        Ok::<(), Error>(())
    })?;
    w.vl("removed", |w| {
        for l in &c.removed {
            w.u32(*l);
        }
        Ok::<(), Error>(())
    })
}

fn decode_record(r: &mut Reader<'_>) -> Result<CommitRecord> {
    Ok(CommitRecord {
        content_id: r.vl_bytes("content_id")?.to_vec(),
        key: (r.u64("created_at")?, r.array::<32>("event_id")?),
        committer: r.optional("committer", |r| Ok::<_, Error>(r.u32("leaf")?))?,
        removed: r.vl_vec("removed", MAX_ITEMS, |r| Ok::<_, Error>(r.u32("leaf")?))?,
    })
}

fn encode_race(w: &mut Writer, rec: &RaceRecord) -> Result<()> {
    encode_record(w, &rec.applied)?;
    w.vl("losers", |w| {
        for (c, k) in &rec.losers {
            w.vl_bytes("content_id", c)?;
            w.u64(k.0);
            w.bytes(&k.1);
        }
        Ok::<(), Error>(())
    })?;
    w.vl("digests", |w| {
        for d in &rec.digests {
            w.bytes(d);
        }
        Ok::<(), Error>(())
    })
}

fn decode_race(r: &mut Reader<'_>) -> Result<RaceRecord> {
    let applied = decode_record(r)?;
    let losers = r.vl_vec("losers", MAX_LOSERS, |r| {
        Ok::<_, Error>((
            r.vl_bytes("content_id")?.to_vec(),
            (r.u64("created_at")?, r.array::<32>("event_id")?),
        ))
    })?;
    let digests = r.vl_vec("digests", 2 * MAX_LOSERS + 1, |r| {
        Ok::<_, Error>(r.array::<32>("digest")?)
    })?;
    Ok(RaceRecord {
        applied,
        losers,
        digests,
    })
}

/// A group's profile in its stored row.
fn encode_profile(p: Profile) -> u8 {
    match p {
        Profile::NipEe => 0,
        Profile::Marmot => 1,
    }
}

fn decode_profile(r: &mut Reader<'_>) -> Result<Profile> {
    match r.u8("profile")? {
        0 => Ok(Profile::NipEe),
        1 => Ok(Profile::Marmot),
        _ => Err(Error::malformed("group row", "unknown profile")),
    }
}

fn encode_left_race(w: &mut Writer, r: &LeftRace) -> Result<()> {
    w.u8(encode_profile(r.profile));
    w.u64(r.key.epoch);
    w.bytes(r.key.nostr_group_id.as_bytes());
    w.bytes(r.key.key.expose_exporter_secret());
    encode_race(w, &r.record)?;
    w.u64(r.joined_epoch);
    encode_strings(w, &r.relays)
}

fn decode_left_race(r: &mut Reader<'_>) -> Result<LeftRace> {
    let profile = decode_profile(r)?;
    let epoch = r.u64("epoch")?;
    let nostr_group_id = NostrGroupId::from_bytes(r.array::<32>("nostr_group_id")?);
    let secret = Zeroizing::new(r.array::<32>("exporter_secret")?);
    let key = EpochKey {
        epoch,
        nostr_group_id,
        key: profile.group_event_key_from_secret(&secret)?,
    };
    Ok(LeftRace {
        profile,
        key,
        record: decode_race(r)?,
        joined_epoch: r.u64("joined_epoch")?,
        relays: decode_strings(r)?,
    })
}

fn encode_live(w: &mut Writer, l: &Live) -> Result<Vec<RatchetPiece>> {
    encode_live_as(w, l, GROUP_ROW_VERSION)
}

/// The live session with its MLS state split and invitees' KeyPackageRefs (this format),
/// or whole and without them (version 2 rows).
/// (`version` 2 and 3 are written only by tests, as earlier builds wrote them.)
pub(super) fn encode_live_as(w: &mut Writer, l: &Live, version: u8) -> Result<Vec<RatchetPiece>> {
    let split = version != GROUP_ROW_VERSION_WHOLE;
    let refs = version == GROUP_ROW_VERSION;
    w.u8(encode_profile(l.profile));
    let (state, pieces) = if split {
        l.group.to_split_bytes()?
    } else {
        (l.group.to_bytes()?, Vec::new())
    };
    w.vl_bytes("group", &state)?;
    w.u64(l.joined_epoch);
    w.vl("dropped_own", |w| {
        for d in &l.dropped_own {
            w.bytes(d);
        }
        Ok::<(), Error>(())
    })?;
    w.vl("keys", |w| {
        for k in &l.keys {
            w.u64(k.epoch);
            w.bytes(k.nostr_group_id.as_bytes());
            w.bytes(k.key.expose_exporter_secret());
        }
        Ok::<(), Error>(())
    })?;
    w.vl("races", |w| {
        for (epoch, rec) in &l.races {
            w.u64(*epoch);
            encode_race(w, rec)?;
        }
        Ok::<(), Error>(())
    })?;
    w.optional(l.pending.as_ref(), |w, p| {
        w.vl_bytes("event", p.event.to_json().as_bytes())?;
        w.u64(p.epoch);
        w.vl_bytes("content_id", &p.content_id)?;
        w.bytes(&p.mls_digest);
        w.optional(p.welcome.as_ref(), |w, b| {
            w.vl_bytes("welcome", b)?;
            Ok::<(), Error>(())
        })?;
        encode_invitees(w, &p.invitees, refs)?;
        encode_strings(w, &p.relays)?;
        if refs {
            w.u8(u8::from(p.tree_out_of_band));
        }
        Ok::<(), Error>(())
    })?;
    Ok(pieces)
}

/// Invitees with (`refs`) or without their KeyPackageRefs.
pub(crate) fn encode_invitees(w: &mut Writer, invitees: &[Invitee], refs: bool) -> Result<()> {
    w.vl("invitees", |w| {
        for i in invitees {
            w.bytes(i.pubkey.as_bytes());
            w.bytes(i.key_package_event_id.as_bytes());
            encode_strings(w, &i.relays)?;
            if refs {
                w.optional(i.key_package_ref.as_ref(), |w, r| {
                    w.bytes(r);
                    Ok::<(), Error>(())
                })?;
            }
        }
        Ok::<(), Error>(())
    })
}

/// See [`encode_invitees`].
pub(crate) fn decode_invitees(r: &mut Reader<'_>, refs: bool) -> Result<Vec<Invitee>> {
    r.vl_vec("invitees", 65_536, |r| {
        Ok::<_, Error>(Invitee {
            pubkey: PublicKey::from_bytes(&r.array::<32>("pubkey")?)?,
            key_package_event_id: EventId::from_bytes(r.array::<32>("kp_event")?),
            relays: decode_strings(r)?,
            key_package_ref: if refs {
                r.optional("key_package_ref", |r| {
                    Ok::<_, Error>(r.array::<32>("key_package_ref")?)
                })?
            } else {
                None
            },
        })
    })
}

fn encode_strings(w: &mut Writer, list: &[String]) -> Result<()> {
    w.vl("strings", |w| {
        for s in list {
            w.vl_bytes("string", s.as_bytes())?;
        }
        Ok::<(), Error>(())
    })
}

fn decode_strings(r: &mut Reader<'_>) -> Result<Vec<String>> {
    r.vl_vec("strings", MAX_ITEMS, |r| {
        let b = r.vl_bytes("string")?;
        String::from_utf8(b.to_vec()).map_err(|_| Error::malformed("stored string", "not UTF-8"))
    })
}

/// `refs`: the row is of this version (invitees with their KeyPackageRefs).
fn decode_live(r: &mut Reader<'_>, pieces: &[StoredPiece<'_>], refs: bool) -> Result<Live> {
    let profile = decode_profile(r)?;
    let group = Group::from_split_bytes(
        RustCryptoSuite1::new(),
        r.vl_bytes("group")?,
        pieces.iter().copied(),
    )?;
    let joined_epoch = r.u64("joined_epoch")?;
    let dropped_own = r.vl_vec("dropped_own", MAX_LOSERS, |r| {
        Ok::<_, Error>(r.array::<32>("digest")?)
    })?;
    let keys = r.vl_vec("keys", MAX_ITEMS, |r| {
        let epoch = r.u64("epoch")?;
        let nostr_group_id = NostrGroupId::from_bytes(r.array::<32>("nostr_group_id")?);
        let secret = Zeroizing::new(r.array::<32>("exporter_secret")?);
        Ok::<_, Error>(EpochKey {
            epoch,
            nostr_group_id,
            key: profile.group_event_key_from_secret(&secret)?,
        })
    })?;
    let races = r
        .vl_vec("races", MAX_ITEMS, |r| {
            let epoch = r.u64("epoch")?;
            Ok::<_, Error>((epoch, decode_race(r)?))
        })?
        .into_iter()
        .collect();
    let pending = r.optional("pending", |r| {
        let json = core::str::from_utf8(r.vl_bytes("event")?)
            .map_err(|_| Error::malformed("pending commit", "event is not UTF-8"))?;
        let event = Event::from_json(json)?;
        let epoch = r.u64("epoch")?;
        let content_id = r.vl_bytes("content_id")?.to_vec();
        let mls_digest = r.array::<32>("mls_digest")?;
        let welcome = r.optional("welcome", |r| {
            Ok::<_, Error>(r.vl_bytes("welcome")?.to_vec())
        })?;
        let invitees = decode_invitees(r, refs)?;
        let relays = decode_strings(r)?;
        let tree_out_of_band = refs
            && match r.u8("tree_out_of_band")? {
                0 => false,
                1 => true,
                _ => return Err(Error::malformed("pending commit", "bad out-of-band flag")),
            };
        Ok::<_, Error>(PendingOwn {
            event,
            epoch,
            content_id,
            mls_digest,
            welcome,
            invitees,
            tree_out_of_band,
            relays,
        })
    })?;
    Ok(Live {
        profile,
        group,
        keys,
        races,
        pending,
        joined_epoch,
        dropped_own,
        identities: Identities::default(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use nipee_nostr::{Keys, Timestamp};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::client::{Client, ClientConfig, NewGroup};
    use crate::storage::{MemoryStorage, Storage, Table, WriteBatch, group_key};

    impl Session {
        /// The row a build of the previous format wrote (the whole MLS state in it).
        fn encode_version_2(&self) -> Zeroizing<Vec<u8>> {
            let Session::Active(l) = self else {
                panic!("not active")
            };
            let mut w = Writer::new();
            w.u8(1);
            encode_live_as(&mut w, l, GROUP_ROW_VERSION_WHOLE).unwrap();
            Blob::encode(GROUP_ROW_VERSION_WHOLE, w.as_bytes())
        }

        /// The row and pieces a build of version 3 wrote (no KeyPackageRefs of invitees).
        fn encode_version_3(&self) -> (Zeroizing<Vec<u8>>, Vec<RatchetPiece>) {
            let Session::Active(l) = self else {
                panic!("not active")
            };
            let mut w = Writer::new();
            w.u8(1);
            let pieces = encode_live_as(&mut w, l, GROUP_ROW_VERSION_NO_REFS).unwrap();
            (
                Blob::encode(GROUP_ROW_VERSION_NO_REFS, w.as_bytes()),
                pieces,
            )
        }
    }

    const T: u64 = 1_800_000_000;

    fn config() -> ClientConfig {
        ClientConfig::with_relays(["wss://relay.test"])
    }

    /// A client with fresh keys in memory.
    fn client(config: &ClientConfig, rng: &mut StdRng) -> Client<MemoryStorage> {
        Client::new(Keys::generate(rng), MemoryStorage::new(), config.clone()).unwrap()
    }

    #[test]
    fn a_row_of_the_previous_format_loads_and_is_rewritten_split() {
        let (mut rng, config, now) = (StdRng::seed_from_u64(3), config(), T);
        let mut c = client(&config, &mut rng);
        let (gid, _) = c
            .create_group(NewGroup::new("g", vec![]), now, &mut rng)
            .unwrap();
        let me = c.public_key();
        let inner = crate::inner::chat_message(me, "hi", Timestamp::from_secs(now));
        c.send(&gid, &inner, now, &mut rng).unwrap();
        let auth = c.epoch_authenticator(&gid).unwrap();
        let old = c.sessions[&gid].encode_version_2();
        let mut storage = c.into_storage();
        let key = group_key(gid.as_bytes());
        let mut b = WriteBatch::new();
        b.put(Table::Group, key.clone(), old);
        b.delete_prefix(Table::Ratchet, key.clone());
        storage.apply(b).unwrap();

        let mut c = Client::open(storage, config).unwrap();
        assert_eq!(c.epoch_authenticator(&gid).unwrap(), auth);
        let row = c.storage().get(Table::Group, &key).unwrap().unwrap();
        assert_eq!(row.first(), Some(&GROUP_ROW_VERSION));
        assert!(!c.storage().scan(Table::Ratchet, &key).unwrap().is_empty());
        // A message sent after the rewrite writes only its pieces, and a reload gives back
        // exactly the MLS state in memory (ratchets included).
        c.send(&gid, &inner, now, &mut rng).unwrap();
        let state = c.mls_group(&gid).unwrap().to_bytes().unwrap();
        let config = c.config().clone();
        let c = Client::open(c.into_storage(), config).unwrap();
        assert_eq!(
            c.mls_group(&gid).unwrap().to_bytes().unwrap().as_slice(),
            state.as_slice()
        );
    }

    /// A pending invite stored by a build of version 3 (which did not keep the invitees'
    /// KeyPackageRefs) still sends its Welcome once confirmed: the whole Welcome.
    #[test]
    fn a_pending_invite_of_a_version_3_row_sends_the_whole_welcome() {
        let (mut rng, config, now) = (StdRng::seed_from_u64(4), config(), T);
        let mut c = client(&config, &mut rng);
        let mut bob = client(&config, &mut rng);
        let mut carol = client(&config, &mut rng);
        let kps = vec![
            bob.create_key_package(false, now, &mut rng).unwrap().event,
            carol
                .create_key_package(false, now, &mut rng)
                .unwrap()
                .event,
        ];
        let (gid, _) = c
            .create_group(NewGroup::new("g", vec![]), now, &mut rng)
            .unwrap();
        let pending = c.invite(&gid, &kps, now, &mut rng).unwrap();
        let (row, pieces) = c.sessions[&gid].encode_version_3();
        let mut storage = c.into_storage();
        let key = group_key(gid.as_bytes());
        let mut b = WriteBatch::new();
        b.put(Table::Group, key.clone(), row);
        b.delete_prefix(Table::Ratchet, key.clone());
        for p in pieces {
            if let Some(bytes) = p.bytes {
                b.put(
                    Table::Ratchet,
                    crate::storage::ratchet_key(gid.as_bytes(), p.epoch, p.slot),
                    Blob::encode(crate::client::PIECE_VERSION, &bytes),
                );
            }
        }
        storage.apply(b).unwrap();

        let mut c = Client::open(storage, config).unwrap();
        let confirmed = c
            .published(
                &pending.outgoing.event.id(),
                &[crate::RelayAnswer::Accepted {
                    relay: "wss://relay.test".to_owned(),
                }],
                now,
                &mut rng,
            )
            .unwrap();
        let wraps: Vec<_> = confirmed
            .publish
            .iter()
            .filter(|o| o.event.kind() == nipee_nostr::Kind::GIFT_WRAP)
            .collect();
        assert_eq!(wraps.len(), 2);
        for (who, w) in [bob, carol].iter_mut().zip(&wraps) {
            let opened = crate::open_welcome(who.keys(), &w.event).unwrap();
            assert_eq!(
                nipee_mls::welcome_key_package_refs(&opened.rumor.mls_message)
                    .unwrap()
                    .len(),
                2,
                "the whole Welcome"
            );
            let joined = who.process(&w.event, now, &mut rng).unwrap();
            assert!(
                joined
                    .outcomes
                    .iter()
                    .any(|o| matches!(o, crate::Outcome::Joined { .. }))
            );
        }
        assert_eq!(
            c.storage()
                .get(Table::Group, &key)
                .unwrap()
                .unwrap()
                .first(),
            Some(&GROUP_ROW_VERSION)
        );
    }
}
