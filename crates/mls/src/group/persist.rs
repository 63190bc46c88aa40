//! Versioned persistence of the whole group state: the current epoch (GroupContext, tree,
//! private path keys, epoch secrets, secret tree with its ratchets and skipped keys,
//! transcript hashes), our signature key, the proposal cache, our pending Update keys, the
//! retained past epochs, resumption and external PSKs, the pending commit and the config.
//!
//! Format: the 8-byte magic `NIPEEMLS`, a `u16` format version, then the fields in the
//! presentation language. The bytes hold secrets: encrypt them at rest.

use std::collections::VecDeque;

use nipee_codec::{Reader, Writer};
use nipee_keypackage::{CredentialType, LifetimeCheck, ValidationPolicy};
use zeroize::Zeroizing;

use super::commit::CommitSummary;
use super::{
    CachedProposal, EpochKeys, EpochState, Group, GroupConfig, GroupProvider, HandshakeFormat,
    PastEpoch, PendingState,
};
use crate::crypto::{HpkePrivateKey, Secret, SignatureSecretKey};
use crate::error::{Error, Result};
use crate::framing::{Proposal, ReInit, Sender};
use crate::schedule::GroupContext;
use crate::secret_tree::{SecretTree, SecretTreeConfig};
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;
use crate::tree::treekem::TreeKemPrivate;

/// The magic prefix of stored group state.
pub const STATE_MAGIC: &[u8; 8] = b"NIPEEMLS";
/// The format version this build writes and reads.
pub const STATE_VERSION: u16 = 1;

const MAX_ITEMS: usize = 1 << 24;

fn secret(w: &mut Writer, s: &Secret) -> Result<()> {
    Ok(w.vl_bytes("secret", s.as_bytes())?)
}

fn read_secret(r: &mut Reader<'_>) -> Result<Secret> {
    Ok(Secret::from_slice(r.vl_bytes("secret")?))
}

fn write_config(w: &mut Writer, c: &GroupConfig) -> Result<()> {
    w.u8(match c.handshake_format {
        HandshakeFormat::Public => 1,
        HandshakeFormat::Private => 2,
    });
    w.u16(c.padding_block);
    w.u16(c.max_past_epochs);
    w.u32(c.secret_tree.out_of_order_window);
    w.u32(c.secret_tree.max_forward_distance);
    w.u8(u8::from(c.ratchet_tree_extension));
    w.u8(u8::from(c.always_path));
    w.u16(c.max_resumption_psks);
    let pol = &c.key_package_policy;
    match pol.lifetime {
        LifetimeCheck::At(now) => {
            w.u8(1);
            w.u64(now);
        }
        _ => w.u8(0),
    }
    w.optional(pol.max_lifetime_secs.as_ref(), |w, m| {
        w.u64(*m);
        Ok::<(), Error>(())
    })?;
    w.vl("credential_types", |w| {
        pol.credential_types.iter().for_each(|t| w.u16(t.0));
        Ok::<(), Error>(())
    })
}

fn read_bool(r: &mut Reader<'_>, field: &'static str) -> Result<bool> {
    match r.u8(field)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(Error::UnknownValue {
            field,
            value: u64::from(v),
        }),
    }
}

fn read_config(r: &mut Reader<'_>) -> Result<GroupConfig> {
    let handshake_format = match r.u8("handshake_format")? {
        1 => HandshakeFormat::Public,
        2 => HandshakeFormat::Private,
        v => {
            return Err(Error::UnknownValue {
                field: "handshake_format",
                value: u64::from(v),
            });
        }
    };
    let padding_block = r.u16("padding_block")?;
    let max_past_epochs = r.u16("max_past_epochs")?;
    let secret_tree = SecretTreeConfig {
        out_of_order_window: r.u32("out_of_order_window")?,
        max_forward_distance: r.u32("max_forward_distance")?,
    };
    let ratchet_tree_extension = read_bool(r, "ratchet_tree_extension")?;
    let always_path = read_bool(r, "always_path")?;
    let max_resumption_psks = r.u16("max_resumption_psks")?;
    let lifetime = match r.u8("lifetime_check")? {
        1 => LifetimeCheck::At(r.u64("now")?),
        0 => LifetimeCheck::Skip,
        v => {
            return Err(Error::UnknownValue {
                field: "lifetime_check",
                value: u64::from(v),
            });
        }
    };
    let max_lifetime_secs = r.optional("max_lifetime_secs", |r| {
        Ok::<_, Error>(r.u64("max_lifetime_secs")?)
    })?;
    let credential_types = r.vl_vec("credential_types", 1024, |r| {
        Ok::<_, Error>(CredentialType(r.u16("credential_type")?))
    })?;
    let mut key_package_policy = ValidationPolicy::for_fixed_vectors();
    key_package_policy.lifetime = lifetime;
    key_package_policy.max_lifetime_secs = max_lifetime_secs;
    key_package_policy.credential_types = credential_types;
    Ok(GroupConfig {
        handshake_format,
        padding_block,
        max_past_epochs,
        secret_tree,
        ratchet_tree_extension,
        always_path,
        max_resumption_psks,
        key_package_policy,
    })
}

fn write_keys(w: &mut Writer, k: &EpochKeys) -> Result<()> {
    for s in [
        &k.sender_data_secret,
        &k.exporter_secret,
        &k.membership_key,
        &k.external_secret,
        &k.resumption_psk,
        &k.epoch_authenticator,
        &k.init_secret,
    ] {
        secret(w, s)?;
    }
    k.secret_tree.write_state(w)
}

fn read_keys(r: &mut Reader<'_>) -> Result<EpochKeys> {
    Ok(EpochKeys {
        sender_data_secret: read_secret(r)?,
        exporter_secret: read_secret(r)?,
        membership_key: read_secret(r)?,
        external_secret: read_secret(r)?,
        resumption_psk: read_secret(r)?,
        epoch_authenticator: read_secret(r)?,
        init_secret: read_secret(r)?,
        secret_tree: SecretTree::read_state(r)?,
    })
}

fn write_epoch(w: &mut Writer, e: &EpochState) -> Result<()> {
    w.vl_bytes("group_context", &e.context.encode()?)?;
    w.vl_bytes("ratchet_tree", &e.tree.encode()?)?;
    e.own.write_state(w)?;
    write_keys(w, &e.keys)?;
    w.vl_bytes("interim_transcript_hash", &e.interim_transcript_hash)?;
    w.vl_bytes("confirmation_tag", &e.confirmation_tag)?;
    Ok(())
}

fn read_epoch<P: GroupProvider>(p: &P, r: &mut Reader<'_>) -> Result<EpochState> {
    Ok(EpochState {
        context: GroupContext::decode(r.vl_bytes("group_context")?)?,
        tree: RatchetTree::decode(p, r.vl_bytes("ratchet_tree")?)?,
        own: TreeKemPrivate::read_state(r)?,
        keys: read_keys(r)?,
        interim_transcript_hash: r.vl_bytes("interim_transcript_hash")?.to_vec(),
        confirmation_tag: r.vl_bytes("confirmation_tag")?.to_vec(),
    })
}

fn write_leaves(w: &mut Writer, list: &[LeafIndex]) -> Result<()> {
    w.vl("leaves", |w| {
        list.iter().for_each(|l| w.u32(l.0));
        Ok::<(), Error>(())
    })
}

fn read_leaves(r: &mut Reader<'_>) -> Result<Vec<LeafIndex>> {
    r.vl_vec("leaves", MAX_ITEMS, |r| {
        Ok::<_, Error>(LeafIndex(r.u32("leaf")?))
    })
}

fn write_summary(w: &mut Writer, s: &CommitSummary) -> Result<()> {
    w.encode(&s.committer)?;
    w.u64(s.epoch);
    write_leaves(w, &s.added)?;
    write_leaves(w, &s.removed)?;
    write_leaves(w, &s.updated)?;
    w.u8(u8::from(s.extensions_changed));
    w.u32(u32::try_from(s.psks).unwrap_or(u32::MAX));
    w.optional(s.reinit.as_ref(), |w, ri| {
        w.encode(&Proposal::ReInit(ri.clone()))
    })
}

fn read_summary(r: &mut Reader<'_>) -> Result<CommitSummary> {
    let committer: Sender = r.decode()?;
    let epoch = r.u64("epoch")?;
    let added = read_leaves(r)?;
    let removed = read_leaves(r)?;
    let updated = read_leaves(r)?;
    let extensions_changed = read_bool(r, "extensions_changed")?;
    let psks = r.u32("psks")? as usize;
    let reinit = r.optional("reinit", |r| match r.decode::<Proposal>()? {
        Proposal::ReInit(ri) => Ok::<ReInit, Error>(ri),
        _ => Err(Error::MalformedField {
            field: "reinit",
            reason: "not a ReInit",
        }),
    })?;
    Ok(CommitSummary {
        committer,
        epoch,
        added,
        removed,
        updated,
        extensions_changed,
        psks,
        reinit,
    })
}

impl<P: GroupProvider> Group<P> {
    /// Serializes the whole group state (see the module docs). The bytes hold secrets.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut w = Writer::new();
        w.bytes(STATE_MAGIC);
        w.u16(STATE_VERSION);
        write_config(&mut w, &self.config)?;
        write_epoch(&mut w, &self.state)?;
        w.vl_bytes("signer", self.signer.expose_secret())?;
        w.vl("proposals", |w| {
            for c in &self.proposals {
                w.vl_bytes("reference", &c.reference)?;
                w.encode(&c.sender)?;
                w.encode(&c.proposal)?;
            }
            Ok::<(), Error>(())
        })?;
        w.vl("pending_updates", |w| {
            for (r, k) in &self.pending_updates {
                w.vl_bytes("reference", r)?;
                w.vl_bytes("key", k.as_bytes())?;
            }
            Ok::<(), Error>(())
        })?;
        w.vl("past_epochs", |w| {
            for e in &self.past_epochs {
                w.vl_bytes("group_context", &e.context.encode()?)?;
                secret(w, &e.sender_data_secret)?;
                e.secret_tree.write_state(w)?;
                w.vl("signature_keys", |w| {
                    for k in &e.signature_keys {
                        w.optional(k.as_ref(), |w, k| {
                            w.bytes(k);
                            Ok::<(), Error>(())
                        })?;
                    }
                    Ok::<(), Error>(())
                })?;
            }
            Ok::<(), Error>(())
        })?;
        w.vl("resumption_psks", |w| {
            for (e, s) in &self.resumption_psks {
                w.u64(*e);
                secret(w, s)?;
            }
            Ok::<(), Error>(())
        })?;
        w.vl("external_psks", |w| {
            for (id, s) in &self.external_psks {
                w.vl_bytes("psk_id", id)?;
                secret(w, s)?;
            }
            Ok::<(), Error>(())
        })?;
        w.optional(self.pending.as_deref(), |w, pd| {
            write_epoch(w, &pd.next)?;
            w.vl_bytes("message", &pd.message)?;
            write_summary(w, &pd.summary)?;
            w.optional(pd.new_signer.as_ref(), |w, s| {
                Ok::<(), Error>(w.vl_bytes("new_signer", s.expose_secret())?)
            })
        })?;
        w.u8(u8::from(self.active));
        Ok(Zeroizing::new(w.into_bytes()))
    }

    /// Loads a group state written by [`Group::to_bytes`].
    ///
    /// # Errors
    /// [`Error::StateVersion`] for a state of another format version,
    /// [`Error::MalformedField`] for bytes that are not a group state, [`Error::Malformed`].
    pub fn from_bytes(provider: P, bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        if r.bytes("magic", STATE_MAGIC.len())? != STATE_MAGIC {
            return Err(Error::MalformedField {
                field: "magic",
                reason: "not a nipee-mls group state",
            });
        }
        let version = r.u16("state_version")?;
        if version != STATE_VERSION {
            return Err(Error::StateVersion {
                expected: STATE_VERSION,
                found: version,
            });
        }
        let p = &provider;
        let config = read_config(&mut r)?;
        let state = read_epoch(p, &mut r)?;
        let signer = SignatureSecretKey::from_slice(r.vl_bytes("signer")?)?;
        let proposals = r.vl_vec("proposals", MAX_ITEMS, |r| {
            Ok::<_, Error>(CachedProposal {
                reference: r.vl_bytes("reference")?.to_vec(),
                sender: r.decode()?,
                proposal: r.decode()?,
            })
        })?;
        let pending_updates = r.vl_vec("pending_updates", MAX_ITEMS, |r| {
            Ok::<_, Error>((
                r.vl_bytes("reference")?.to_vec(),
                HpkePrivateKey::from_slice(r.vl_bytes("key")?),
            ))
        })?;
        let past_epochs: VecDeque<PastEpoch> = r
            .vl_vec("past_epochs", MAX_ITEMS, |r| {
                Ok::<_, Error>(PastEpoch {
                    context: GroupContext::decode(r.vl_bytes("group_context")?)?,
                    sender_data_secret: read_secret(r)?,
                    secret_tree: SecretTree::read_state(r)?,
                    signature_keys: r.vl_vec("signature_keys", MAX_ITEMS, |r| {
                        r.optional("signature_key", |r| {
                            Ok::<_, Error>(r.array::<32>("signature_key")?)
                        })
                    })?,
                })
            })?
            .into();
        let resumption_psks: VecDeque<(u64, Secret)> = r
            .vl_vec("resumption_psks", MAX_ITEMS, |r| {
                Ok::<_, Error>((r.u64("epoch")?, read_secret(r)?))
            })?
            .into();
        let external_psks = r.vl_vec("external_psks", MAX_ITEMS, |r| {
            Ok::<_, Error>((r.vl_bytes("psk_id")?.to_vec(), read_secret(r)?))
        })?;
        let pending = r.optional("pending", |r| {
            Ok::<_, Error>(Box::new(PendingState {
                next: read_epoch(p, r)?,
                message: r.vl_bytes("message")?.to_vec(),
                summary: read_summary(r)?,
                new_signer: r.optional("new_signer", |r| {
                    Ok::<_, Error>(SignatureSecretKey::from_slice(r.vl_bytes("new_signer")?)?)
                })?,
            }))
        })?;
        let active = read_bool(&mut r, "active")?;
        r.finish()?;
        Ok(Group {
            provider,
            config,
            state,
            signer,
            proposals,
            pending_updates,
            past_epochs,
            resumption_psks,
            external_psks,
            pending,
            active,
        })
    }
}
