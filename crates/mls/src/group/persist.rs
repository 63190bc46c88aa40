//! Versioned persistence of the whole group state: the current epoch (GroupContext, tree,
//! private path keys, epoch secrets, secret tree with its ratchets and skipped keys,
//! transcript hashes, the last commit's path), our signature key, the proposal cache, our
//! pending Update keys, the retained past epochs, resumption and external PSKs, the
//! pending commit (with the view [`Group::pending_commit`] gives) and the config.
//!
//! Format: the 8-byte magic `NIPEEMLS`, a `u16` format version, then the fields in the
//! presentation language. The bytes hold secrets: encrypt them at rest.
//!
//! Version 4 is the split form of version 3 ([`Group::to_split_bytes`], module `pieces`):
//! before each secret tree a flag says whether the tree follows whole or only its header,
//! its pieces being stored apart. Only [`Group::from_split_bytes`] reads it.
//!
//! Version 3 (the whole state [`Group::to_bytes`] writes) added the two GREASE settings of the config at its end. Version 2
//! states still load, with the default GREASE settings (GREASE on, no GREASE leaf
//! extensions); they are written back as version 3.
//!
//! Version 2 added the last commit's path, each past epoch's leaves (credentials next to
//! signature keys; a leaf unchanged since is stored as a reference to the current tree's)
//! and the pending commit's view. Version 1 states are refused with
//! [`Error::StateVersion`]: they lack the past epochs' credentials.

use std::collections::VecDeque;

use nipee_codec::{Reader, Writer};
use nipee_keypackage::{CredentialType, LifetimeCheck, ValidationPolicy};
use zeroize::Zeroizing;

use std::sync::Arc;

use nipee_keypackage::{Credential, LeafNode};

use super::config::{GroupConfig, HandshakeFormat};
use super::epoch::{EpochKeys, EpochState, Member, PastEpoch, next_stamp};
use super::staged::{CommitSummary, StagedCommit};
use super::state::{CachedProposal, Group, PendingState};
use crate::crypto::{GroupProvider, HpkePrivateKey, Secret, SignatureSecretKey};
use crate::error::{Error, Result};
use crate::framing::{Proposal, ReInit, Sender};
use crate::schedule::GroupContext;
use crate::secret_tree::{SecretTree, SecretTreeConfig};
use crate::tree::RatchetTree;
use crate::tree::math::LeafIndex;
use crate::tree::treekem::TreeKemPrivate;

/// The magic prefix of stored group state.
pub const STATE_MAGIC: &[u8; 8] = b"NIPEEMLS";
/// The format version this build writes (see the module docs); it reads this one and
/// [`OLDEST_STATE_VERSION`].
pub const STATE_VERSION: u16 = 3;
/// The split form ([`Group::to_split_bytes`]): version 3 with each secret tree flagged as
/// whole or stored apart in pieces.
pub const SPLIT_STATE_VERSION: u16 = 4;
/// The oldest format version this build still reads.
pub const OLDEST_STATE_VERSION: u16 = 2;

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
    })?;
    w.u8(u8::from(c.grease));
    w.u8(u8::from(c.grease_leaf_extensions));
    Ok(())
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

fn read_config(r: &mut Reader<'_>, version: u16) -> Result<GroupConfig> {
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
    let (grease, grease_leaf_extensions) = if version >= 3 {
        (
            read_bool(r, "grease")?,
            read_bool(r, "grease_leaf_extensions")?,
        )
    } else {
        let defaults = GroupConfig::new(0);
        (defaults.grease, defaults.grease_leaf_extensions)
    };
    Ok(GroupConfig {
        handshake_format,
        padding_block,
        max_past_epochs,
        secret_tree,
        ratchet_tree_extension,
        always_path,
        max_resumption_psks,
        key_package_policy,
        grease,
        grease_leaf_extensions,
    })
}

/// How a secret tree is written: whole (format 3), or in the split form of format 4, where a
/// flag says whether it is whole here or stored outside as pieces (see [`Group::to_split_bytes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TreeForm {
    Whole,
    Split { external: bool },
}

fn write_tree(w: &mut Writer, t: &SecretTree, form: TreeForm) -> Result<()> {
    match form {
        TreeForm::Whole => t.write_state(w),
        TreeForm::Split { external } => {
            w.u8(u8::from(external));
            if external {
                t.write_header(w);
                Ok(())
            } else {
                t.write_state(w)
            }
        }
    }
}

/// Reads a tree written by [`write_tree`]; in the split form, whether its pieces are
/// stored outside.
fn read_tree(r: &mut Reader<'_>, split: bool) -> Result<(SecretTree, bool)> {
    if !split {
        return Ok((SecretTree::read_state(r)?, false));
    }
    if read_bool(r, "secret_tree_external")? {
        Ok((SecretTree::read_header(r)?, true))
    } else {
        Ok((SecretTree::read_state(r)?, false))
    }
}

fn write_keys(w: &mut Writer, k: &EpochKeys, form: TreeForm) -> Result<()> {
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
    write_tree(w, &k.secret_tree, form)
}

fn read_keys(r: &mut Reader<'_>, split: bool) -> Result<EpochKeys> {
    Ok(EpochKeys {
        sender_data_secret: read_secret(r)?,
        exporter_secret: read_secret(r)?,
        membership_key: read_secret(r)?,
        external_secret: read_secret(r)?,
        resumption_psk: read_secret(r)?,
        epoch_authenticator: read_secret(r)?,
        init_secret: read_secret(r)?,
        secret_tree: read_tree(r, split)?.0,
    })
}

fn write_epoch(w: &mut Writer, e: &EpochState, form: TreeForm) -> Result<()> {
    w.vl_bytes("group_context", &e.context.encode()?)?;
    w.vl_bytes("ratchet_tree", &e.tree.encode()?)?;
    e.own.write_state(w)?;
    write_keys(w, &e.keys, form)?;
    w.vl_bytes("interim_transcript_hash", &e.interim_transcript_hash)?;
    w.vl_bytes("confirmation_tag", &e.confirmation_tag)?;
    w.vl("last_commit_path", |w| {
        e.last_commit_path.iter().for_each(|x| w.u32(*x));
        Ok::<(), Error>(())
    })
}

fn read_epoch<P: GroupProvider>(p: &P, r: &mut Reader<'_>, split: bool) -> Result<EpochState> {
    Ok(EpochState {
        context: GroupContext::decode(r.vl_bytes("group_context")?)?,
        tree: RatchetTree::decode(p, r.vl_bytes("ratchet_tree")?)?,
        own: TreeKemPrivate::read_state(r)?,
        keys: read_keys(r, split)?,
        interim_transcript_hash: r.vl_bytes("interim_transcript_hash")?.to_vec(),
        confirmation_tag: r.vl_bytes("confirmation_tag")?.to_vec(),
        last_commit_path: r.vl_vec("last_commit_path", 64, |r| Ok::<_, Error>(r.u32("node")?))?,
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

fn write_members(w: &mut Writer, list: &[Member]) -> Result<()> {
    w.vl("members", |w| {
        for m in list {
            w.u32(m.index.0);
            w.encode(&m.credential)?;
            w.bytes(&m.signature_key);
            w.bytes(&m.encryption_key);
        }
        Ok::<(), Error>(())
    })
}

fn read_members(r: &mut Reader<'_>) -> Result<Vec<Member>> {
    r.vl_vec("members", MAX_ITEMS, |r| {
        Ok::<_, Error>(Member {
            index: LeafIndex(r.u32("leaf")?),
            credential: r.decode::<Credential>()?,
            signature_key: r.array::<32>("signature_key")?,
            encryption_key: r.array::<32>("encryption_key")?,
        })
    })
}

/// A past epoch's leaves: each blank (0), the same as the current tree's leaf at that
/// index (1: most members do not change between epochs), or written out (2).
fn write_past_leaves(
    w: &mut Writer,
    leaves: &[Option<Arc<LeafNode>>],
    current: &RatchetTree,
) -> Result<()> {
    w.vl("leaves", |w| {
        for (i, leaf) in leaves.iter().enumerate() {
            let index = LeafIndex(u32::try_from(i).map_err(|_| Error::Internal("leaf index"))?);
            match leaf {
                None => w.u8(0),
                Some(l) => match current.leaf_shared(index) {
                    Some(c) if Arc::ptr_eq(c, l) || c == l => w.u8(1),
                    _ => {
                        w.u8(2);
                        w.encode(l.as_ref())?;
                    }
                },
            }
        }
        Ok::<(), Error>(())
    })
}

fn read_past_leaves(
    r: &mut Reader<'_>,
    current: &RatchetTree,
) -> Result<Vec<Option<Arc<LeafNode>>>> {
    let mut i = 0u32;
    r.vl_vec("leaves", MAX_ITEMS, |r| {
        let index = LeafIndex(i);
        i = i.saturating_add(1);
        match r.u8("leaf_kind")? {
            0 => Ok(None),
            1 => current
                .leaf_shared(index)
                .cloned()
                .map(Some)
                .ok_or(Error::MalformedField {
                    field: "past_epoch_leaves",
                    reason: "a reference to a blank leaf of the current tree",
                }),
            2 => Ok(Some(Arc::new(r.decode::<LeafNode>()?))),
            v => Err(Error::UnknownValue {
                field: "leaf_kind",
                value: u64::from(v),
            }),
        }
    })
}

fn write_pending<P: GroupProvider>(
    w: &mut Writer,
    pd: &PendingState<P>,
    form: TreeForm,
) -> Result<()> {
    let c = &pd.staged;
    let next = c
        .next
        .as_deref()
        .ok_or(Error::Internal("a pending commit without a next epoch"))?;
    write_epoch(w, next, form)?;
    w.vl_bytes("message", &pd.message)?;
    write_summary(w, &c.summary)?;
    w.optional(c.new_signer.as_ref(), |w, s| {
        w.vl_bytes("new_signer", s.expose_secret())
    })?;
    w.optional(c.committer_credential.as_ref(), |w, cred| w.encode(cred))?;
    w.optional(c.committer_new_leaf.as_ref(), |w, leaf| w.encode(leaf))?;
    w.vl("proposals", |w| {
        for (sender, proposal) in &c.proposals {
            w.encode(sender)?;
            w.encode(proposal)?;
        }
        Ok::<(), Error>(())
    })?;
    write_members(w, &c.added)?;
    write_members(w, &c.removed)?;
    w.vl_bytes("authenticated_data", &c.authenticated_data)?;
    Ok(())
}

fn read_pending<P: GroupProvider>(
    p: &P,
    r: &mut Reader<'_>,
    split: bool,
) -> Result<PendingState<P>> {
    let next = read_epoch(p, r, split)?;
    let message = r.vl_bytes("message")?.to_vec();
    let summary = read_summary(r)?;
    let new_signer = r.optional("new_signer", |r| {
        Ok::<_, Error>(SignatureSecretKey::from_slice(r.vl_bytes("new_signer")?)?)
    })?;
    let committer_credential = r.optional("committer_credential", |r| r.decode::<Credential>())?;
    let committer_new_leaf = r.optional("committer_new_leaf", |r| r.decode::<LeafNode>())?;
    let proposals = r.vl_vec("proposals", MAX_ITEMS, |r| {
        Ok::<_, Error>((r.decode::<Sender>()?, r.decode::<Proposal>()?))
    })?;
    let added = read_members(r)?;
    let removed = read_members(r)?;
    let authenticated_data = r.vl_bytes("authenticated_data")?.to_vec();
    let staged = StagedCommit {
        provider: p.clone(),
        binding: super::epoch::Binding {
            group_id: next.context.group_id.clone(),
            epoch: 0,
            stamp: 0,
        },
        own: true,
        committer: summary.committer,
        committer_credential,
        committer_new_leaf,
        proposals,
        added,
        removed,
        new_context: next.context.clone(),
        authenticated_data,
        summary,
        next: Some(Box::new(next)),
        change: None,
        new_signer,
    };
    Ok(PendingState { staged, message })
}

impl<P: GroupProvider> Group<P> {
    /// Serializes the whole group state (see the module docs). The bytes hold secrets.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        self.encode_state(false)
    }

    /// The state in format 3 (`split` false), or in the split form of format 4: the
    /// secret trees of the current epoch (while active) and of the past epochs are
    /// written as headers, their pieces stored apart.
    pub(super) fn encode_state(&self, split: bool) -> Result<Zeroizing<Vec<u8>>> {
        let (current, past, pending) = if split {
            (
                TreeForm::Split {
                    external: self.active,
                },
                TreeForm::Split { external: true },
                TreeForm::Split { external: false },
            )
        } else {
            (TreeForm::Whole, TreeForm::Whole, TreeForm::Whole)
        };
        let mut w = Writer::new();
        w.bytes(STATE_MAGIC);
        w.u16(if split {
            SPLIT_STATE_VERSION
        } else {
            STATE_VERSION
        });
        write_config(&mut w, &self.config)?;
        write_epoch(&mut w, &self.state, current)?;
        w.optional(self.signer.as_ref(), |w, s| {
            w.vl_bytes("signer", s.expose_secret())
        })?;
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
                write_tree(w, &e.secret_tree, past)?;
                write_past_leaves(w, &e.leaves, &self.state.tree)?;
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
            write_pending(w, pd, pending)
        })?;
        w.u8(u8::from(self.active));
        Ok(Zeroizing::new(w.into_bytes()))
    }

    /// Loads a group state written by [`Group::to_bytes`].
    ///
    /// # Errors
    /// [`Error::StateVersion`] for a state of a format version other than 3 or 2 (version 1
    /// included, and the split form 4 of [`Group::to_split_bytes`]),
    /// [`Error::MalformedField`] for bytes that are not a group state, [`Error::Malformed`].
    pub fn from_bytes(provider: P, bytes: &[u8]) -> Result<Self> {
        // The split form (format 4) lacks its secret trees: only
        // [`Group::from_split_bytes`] reads it.
        if bytes.get(STATE_MAGIC.len()..STATE_MAGIC.len() + 2)
            == Some(&SPLIT_STATE_VERSION.to_be_bytes()[..])
        {
            return Err(Error::StateVersion {
                expected: STATE_VERSION,
                found: SPLIT_STATE_VERSION,
            });
        }
        Ok(Self::decode_state(provider, bytes)?.0)
    }

    /// Reads format 2, 3 or 4 (then `true`: the trees marked external hold no pieces yet).
    pub(super) fn decode_state(provider: P, bytes: &[u8]) -> Result<(Self, bool)> {
        let mut r = Reader::new(bytes);
        if r.bytes("magic", STATE_MAGIC.len())? != STATE_MAGIC {
            return Err(Error::MalformedField {
                field: "magic",
                reason: "not a nipee-mls group state",
            });
        }
        let version = r.u16("state_version")?;
        if !(OLDEST_STATE_VERSION..=SPLIT_STATE_VERSION).contains(&version) {
            return Err(Error::StateVersion {
                expected: STATE_VERSION,
                found: version,
            });
        }
        let p = &provider;
        let split = version == SPLIT_STATE_VERSION;
        let config = read_config(&mut r, version)?;
        let state = read_epoch(p, &mut r, split)?;
        let signer = r.optional("signer", |r| {
            Ok::<_, Error>(SignatureSecretKey::from_slice(r.vl_bytes("signer")?)?)
        })?;
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
                    secret_tree: read_tree(r, split)?.0,
                    leaves: read_past_leaves(r, &state.tree)?,
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
            Ok::<_, Error>(Box::new(read_pending(p, r, split)?))
        })?;
        let active = read_bool(&mut r, "active")?;
        r.finish()?;
        if active && signer.is_none() {
            return Err(Error::MalformedField {
                field: "signer",
                reason: "an active group without a signature key",
            });
        }
        let mut group = Group {
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
            stamp: next_stamp(),
        };
        let binding = group.binding();
        if let Some(pd) = group.pending.as_mut() {
            pd.staged.binding = binding;
        }
        Ok((group, split))
    }
}
