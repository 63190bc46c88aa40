//! Joining a group: from a Welcome (§12.4.3.1) or by external commit (§12.4.3.2), and the
//! GroupInfo a member publishes for external joiners.

use nipee_codec::Encode;
use nipee_keypackage::{Capabilities, Credential, ExtensionType, KeyPackage, KeyPackageBundle};

use super::commit_create::{CommitPlan, ExternalJoin};
use super::config::GroupConfig;
use super::epoch::{EpochKeys, EpochState};
use super::ext;
use super::grease;
use super::proposals::{GroupFacts, validate_and_apply};
use super::state::Group;
use crate::crypto::{
    CryptoProvider, GroupProvider, HpkePrivateKey, RustCryptoSuite1, Secret, SignatureSecretKey,
    key_package_ref,
};
use crate::error::{Error, Result};
use crate::extensions::Extension;
use crate::framing::{MlsMessage, MlsMessageBody, Proposal, ProposalOrRef, Sender};
use crate::schedule::{
    EpochSecrets, PreSharedKeyId, Psk, interim_transcript_hash, psk_secret, welcome_secret,
};
use crate::tree::RatchetTree;
use crate::tree::math::{self, LeafIndex};
use crate::tree::treekem::TreeKemPrivate;
use crate::welcome::{GroupInfo, GroupSecrets, Welcome};

/// Our KeyPackage and its private keys, as needed to join.
pub struct JoinKeys {
    /// The KeyPackage the Welcome was made for (or whose leaf joins externally).
    pub key_package: KeyPackage,
    /// The private key of `key_package.init_key`.
    pub init_secret: HpkePrivateKey,
    /// The private key of the leaf's `encryption_key`.
    pub encryption_secret: HpkePrivateKey,
    /// The private key of the leaf's `signature_key`.
    pub signature_secret: SignatureSecretKey,
}

impl core::fmt::Debug for JoinKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JoinKeys")
            .field("key_package", &self.key_package)
            .finish_non_exhaustive()
    }
}

impl From<KeyPackageBundle> for JoinKeys {
    fn from(b: KeyPackageBundle) -> Self {
        let (key_package, init, enc, sig) = b.into_parts();
        JoinKeys {
            key_package,
            init_secret: HpkePrivateKey::from_slice(init.expose_secret()),
            encryption_secret: HpkePrivateKey::from_slice(enc.expose_secret()),
            signature_secret: sig,
        }
    }
}

impl JoinKeys {
    /// Checks that the leaf's private keys belong to the KeyPackage's public keys.
    ///
    /// # Errors
    /// [`Error::Misuse`] naming the key that does not match.
    pub fn check<P: CryptoProvider + ?Sized>(&self, p: &P) -> Result<()> {
        // The init key needs no check: a wrong one cannot decrypt the Welcome.
        if p.hpke_public_key(&self.encryption_secret)? != self.key_package.leaf_node.encryption_key
        {
            return Err(Error::Misuse(
                "encryption_secret does not match the KeyPackage",
            ));
        }
        if p.signature_public_key(&self.signature_secret)?
            != self.key_package.leaf_node.signature_key
        {
            return Err(Error::Misuse(
                "signature_secret does not match the KeyPackage",
            ));
        }
        Ok(())
    }
}

/// The KeyPackageRefs a Welcome (MLSMessage bytes) carries GroupSecrets for, so that the
/// application can find which of its KeyPackages to join with.
///
/// # Errors
/// [`Error::Malformed`], [`Error::ContentNotAllowed`] for another message type.
pub fn welcome_key_package_refs(welcome: &[u8]) -> Result<Vec<Vec<u8>>> {
    match MlsMessage::from_bytes(welcome)?.body {
        MlsMessageBody::Welcome(w) => Ok(w.secrets.into_iter().map(|s| s.new_member).collect()),
        _ => Err(Error::ContentNotAllowed {
            reason: "not a Welcome",
        }),
    }
}

/// The tree of a GroupInfo: from its `ratchet_tree` extension or supplied out of band.
fn tree_of<P: CryptoProvider + ?Sized>(
    p: &P,
    gi: &GroupInfo,
    ratchet_tree: Option<&[u8]>,
) -> Result<RatchetTree> {
    match (
        ext::find(&gi.extensions, ExtensionType::RATCHET_TREE),
        ratchet_tree,
    ) {
        (Some(e), _) => RatchetTree::decode(p, &e.data),
        (None, Some(bytes)) => RatchetTree::decode(p, bytes),
        (None, None) => Err(Error::Misuse(
            "the GroupInfo has no ratchet_tree extension and no tree was supplied",
        )),
    }
}

/// Verifies a GroupInfo and its tree (§12.4.3.1 steps 4–6) for a joiner whose own
/// capabilities are `own`: we support every GroupContext extension, the required
/// capabilities and every credential type in use (checked first: it needs no
/// cryptography); the signer is a member and signed it; the tree hash matches; the tree is
/// valid (parent hashes, unmerged leaves, unique keys, leaf signatures in one batch); every
/// leaf supports the group's extensions, required capabilities and credential types and
/// lists its own extensions. `GroupInfo.extensions` other than those the caller reads
/// (`ratchet_tree`, `external_pub`) are ignored, GREASE or not (§12.4.3: "unknown
/// extensions in `GroupInfo.extensions` MUST be ignored").
fn verify_group_info<P: CryptoProvider + ?Sized>(
    p: &P,
    gi: &GroupInfo,
    tree: &RatchetTree,
    own: &Capabilities,
) -> Result<()> {
    let ctx = &gi.group_context;
    if ctx.cipher_suite != p.cipher_suite() {
        return Err(Error::UnsupportedCipherSuite(ctx.cipher_suite.0));
    }
    ext::check_extensions_list(&ctx.extensions)?;
    let required = ext::required_capabilities(&ctx.extensions)?;
    let facts = GroupFacts::of(tree);
    ext::check_we_support(own, &ctx.extensions, &required, facts.credentials_in_use())?;
    let signer = tree
        .leaf(LeafIndex(gi.signer))
        .ok_or(Error::InvalidSender {
            reason: "the GroupInfo signer is not a member",
        })?;
    gi.verify(p, &signer.signature_key)?;
    if tree.tree_hash() != ctx.tree_hash.as_slice() {
        return Err(Error::InvalidTree {
            reason: "the tree hash differs from the GroupContext",
        });
    }
    tree.validate(p, ctx.group_id.as_bytes())?;
    for (_, leaf) in tree.leaves() {
        ext::check_leaf_supports(leaf, &ctx.extensions, &required)?;
        facts.check_credentials(leaf)?;
        if leaf
            .extensions
            .iter()
            .any(|e| !leaf.capabilities.supports_extension(e.extension_type))
        {
            return Err(Error::CapabilityMissing {
                what: "a leaf extension missing from the leaf's capabilities",
            });
        }
    }
    Ok(())
}

/// A group joined from a Welcome, every check passed, not yet handed over: the application
/// can look at who signed the GroupInfo and at the group (its epoch, members, extensions,
/// our leaf) before accepting it with [`StagedJoin::into_group`], or drop it.
pub struct StagedJoin<P: GroupProvider = RustCryptoSuite1> {
    group: Group<P>,
    signer: LeafIndex,
    signer_credential: Credential,
}

impl<P: GroupProvider> StagedJoin<P> {
    /// The leaf of the member who signed the GroupInfo (the committer who added us).
    pub fn group_info_signer(&self) -> LeafIndex {
        self.signer
    }

    /// That member's credential.
    pub fn group_info_signer_credential(&self) -> &Credential {
        &self.signer_credential
    }

    /// The group we would join (read-only).
    pub fn group(&self) -> &Group<P> {
        &self.group
    }

    /// Accepts the join.
    pub fn into_group(self) -> Group<P> {
        self.group
    }
}

impl<P: GroupProvider> core::fmt::Debug for StagedJoin<P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StagedJoin")
            .field("group", &self.group)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// The PSKs a Welcome names, from the external PSKs we were given (a new member holds no
/// resumption PSK).
fn welcome_psks(gs: &GroupSecrets, external_psks: &[(Vec<u8>, Secret)]) -> Result<Vec<Psk>> {
    gs.psks
        .iter()
        .map(|id| match id {
            PreSharedKeyId::External { psk_id, .. } => external_psks
                .iter()
                .find(|(i, _)| i == psk_id)
                .map(|(_, s)| Psk {
                    id: id.clone(),
                    secret: s.clone(),
                })
                .ok_or(Error::PskNotFound),
            PreSharedKeyId::Resumption { .. } => Err(Error::PskNotFound),
        })
        .collect()
}

impl<P: GroupProvider> Group<P> {
    /// Joins a group from a Welcome (MLSMessage bytes) made for `keys.key_package`
    /// (§12.4.3.1), without handing the group over yet: see [`StagedJoin`].
    /// `ratchet_tree` is the encoded tree when the GroupInfo does not carry it;
    /// `external_psks` are the PSKs the Welcome may require.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if the Welcome names none of our KeyPackages,
    /// [`Error::HpkeDecryptionFailed`], [`Error::DecryptionFailed`], [`Error::BadSignature`],
    /// [`Error::InvalidTree`], [`Error::BadConfirmationTag`], [`Error::PskNotFound`],
    /// [`Error::CapabilityMissing`], and [`Error::NotSupportedByUs`] when the group uses a
    /// GroupContext extension, a required capability or a credential type our KeyPackage's
    /// capabilities do not list once GREASE is taken out (a GREASE value there included).
    pub fn stage_join(
        provider: P,
        config: GroupConfig,
        welcome: &[u8],
        keys: JoinKeys,
        ratchet_tree: Option<&[u8]>,
        external_psks: Vec<(Vec<u8>, Secret)>,
    ) -> Result<StagedJoin<P>> {
        let p = &provider;
        let MlsMessageBody::Welcome(welcome) = MlsMessage::from_bytes(welcome)?.body else {
            return Err(Error::ContentNotAllowed {
                reason: "not a Welcome",
            });
        };
        if welcome.cipher_suite != p.cipher_suite() {
            return Err(Error::UnsupportedCipherSuite(welcome.cipher_suite.0));
        }
        keys.check(p)?;
        let (gs, gi, psk) = open_welcome(p, &welcome, &keys, &external_psks)?;
        let tree = tree_of(p, &gi, ratchet_tree)?;
        let leaf = &keys.key_package.leaf_node;
        verify_group_info(p, &gi, &tree, &leaf.capabilities)?;

        let me = tree
            .leaves()
            .find(|(_, l)| {
                l.encryption_key == leaf.encryption_key && l.signature_key == leaf.signature_key
            })
            .map(|(i, _)| i)
            .ok_or(Error::InvalidState {
                reason: "our leaf is not in the tree",
            })?;
        let mut own = TreeKemPrivate::new(me, keys.encryption_secret);
        let signer = LeafIndex(gi.signer);
        let signer_credential =
            tree.leaf(signer)
                .map(|l| l.credential.clone())
                .ok_or(Error::InvalidSender {
                    reason: "the GroupInfo signer is not a member",
                })?;
        if let Some(path_secret) = gs.path_secret {
            let node = math::common_ancestor(me.node(), signer.node());
            own.set_path_secret_from(p, &tree, signer, node, path_secret)?;
        }

        let ctx = gi.group_context.clone();
        let secrets =
            EpochSecrets::from_joiner_secret(p, gs.joiner_secret, Some(&psk), &ctx.encode()?)?;
        gi.verify_confirmation_tag(p, &secrets.confirmation_key)?;
        let interim =
            interim_transcript_hash(p, &ctx.confirmed_transcript_hash, &gi.confirmation_tag)?;
        let epoch_keys = EpochKeys::new(secrets, tree.n_leaves(), config.secret_tree)?;
        let state = EpochState {
            context: ctx,
            tree,
            own,
            keys: epoch_keys,
            interim_transcript_hash: interim,
            confirmation_tag: gi.confirmation_tag,
            last_commit_path: vec![],
        };
        Ok(StagedJoin {
            group: Group::assemble(
                provider,
                config,
                state,
                keys.signature_secret,
                external_psks,
            ),
            signer,
            signer_credential,
        })
    }

    /// [`Group::stage_join`], accepted at once.
    ///
    /// # Errors
    /// Those of [`Group::stage_join`].
    pub fn join(
        provider: P,
        config: GroupConfig,
        welcome: &[u8],
        keys: JoinKeys,
        ratchet_tree: Option<&[u8]>,
        external_psks: Vec<(Vec<u8>, Secret)>,
    ) -> Result<Self> {
        Ok(
            Self::stage_join(provider, config, welcome, keys, ratchet_tree, external_psks)?
                .into_group(),
        )
    }

    /// A signed GroupInfo of the current epoch (MLSMessage bytes), for external joiners or
    /// out-of-band Welcomes: with the `ratchet_tree` extension if `with_tree`, the
    /// `external_pub` extension if `with_external_pub`, and a GREASE extension with
    /// [`GroupConfig::grease`].
    ///
    /// # Errors
    /// Signing and encoding failures.
    pub fn group_info(&self, with_tree: bool, with_external_pub: bool) -> Result<Vec<u8>> {
        let p = &self.provider;
        let mut extensions = vec![];
        if with_tree {
            extensions.push(Extension::new(
                ExtensionType::RATCHET_TREE,
                self.state.tree.encode()?,
            ));
        }
        if with_external_pub {
            let (_, pk) = p.hpke_derive_key_pair(self.state.keys.external_secret.as_bytes())?;
            let mut w = nipee_codec::Writer::new();
            w.vl_bytes("external_pub", &pk)?;
            extensions.push(Extension::new(ExtensionType::EXTERNAL_PUB, w.into_bytes()));
        }
        grease::group_info(p, &self.config, &mut extensions)?;
        let mut gi = GroupInfo {
            group_context: self.state.context.clone(),
            extensions,
            confirmation_tag: self.state.confirmation_tag.clone(),
            signer: self.own_leaf().0,
            signature: vec![],
        };
        gi.sign(p, self.signer()?)?;
        MlsMessage {
            body: MlsMessageBody::GroupInfo(Box::new(gi)),
        }
        .to_bytes()
    }

    /// Joins by external commit (§12.4.3.2) from a GroupInfo (MLSMessage bytes) carrying
    /// `external_pub`: returns our group, already in the new epoch, and the commit to send.
    /// `resync` removes an old leaf of ours in the same commit. If the commit is rejected by
    /// the delivery service, drop the returned group.
    ///
    /// # Errors
    /// Those of GroupInfo and tree verification (see [`Group::stage_join`]),
    /// [`Error::Misuse`] without `external_pub`.
    pub fn join_external(
        provider: P,
        config: GroupConfig,
        group_info: &[u8],
        ratchet_tree: Option<&[u8]>,
        keys: JoinKeys,
        resync: Option<LeafIndex>,
        authenticated_data: &[u8],
    ) -> Result<(Self, Vec<u8>)> {
        let p = &provider;
        let MlsMessageBody::GroupInfo(gi) = MlsMessage::from_bytes(group_info)?.body else {
            return Err(Error::ContentNotAllowed {
                reason: "not a GroupInfo",
            });
        };
        let gi = *gi;
        let tree = tree_of(p, &gi, ratchet_tree)?;
        let leaf = keys.key_package.leaf_node.clone();
        verify_group_info(p, &gi, &tree, &leaf.capabilities)?;
        leaf.validate(
            &config.leaf_policy(),
            nipee_keypackage::LeafNodeContext::KeyPackage,
        )?;
        let e = ext::find(&gi.extensions, ExtensionType::EXTERNAL_PUB)
            .ok_or(Error::Misuse("the GroupInfo has no external_pub extension"))?;
        let external_pub = {
            let mut r = nipee_codec::Reader::new(&e.data);
            let k = r.vl_bytes("external_pub")?.to_vec();
            r.finish()?;
            k
        };
        let (kem_output, init_secret) = ext::external_init_secret_sender(p, &external_pub)?;
        let ctx = gi.group_context.clone();
        let interim =
            interim_transcript_hash(p, &ctx.confirmed_transcript_hash, &gi.confirmation_tag)?;
        // A provisional state for the GroupInfo's epoch: we know its public part only.
        let zero = EpochSecrets::from_joiner_secret(p, Secret::zero(p.hash_len()), None, &[])?;
        let provisional_keys = EpochKeys::new(zero, tree.n_leaves(), config.secret_tree)?;
        let state = EpochState {
            context: ctx,
            tree,
            own: TreeKemPrivate::new(LeafIndex(u32::MAX), keys.encryption_secret.clone()),
            keys: provisional_keys,
            interim_transcript_hash: interim,
            confirmation_tag: gi.confirmation_tag.clone(),
            last_commit_path: vec![],
        };
        let mut group = Group::assemble(
            provider.clone(),
            config,
            state,
            keys.signature_secret,
            vec![],
        );
        let mut list = vec![(
            Sender::NewMemberCommit,
            Proposal::ExternalInit { kem_output },
        )];
        if let Some(old) = resync {
            list.push((Sender::NewMemberCommit, Proposal::Remove { removed: old.0 }));
        }
        let refs = list
            .iter()
            .map(|(_, p)| ProposalOrRef::Proposal(p.clone()))
            .collect();
        let applied = validate_and_apply(&group, None, &list)?;
        let plan = CommitPlan {
            applied,
            list,
            refs,
            with_path: true,
            rotate: false,
        };
        let out = group.build_commit(
            plan,
            authenticated_data,
            Some(ExternalJoin {
                init_secret,
                leaf,
                leaf_key: keys.encryption_secret,
            }),
        )?;
        let pending = group
            .pending
            .take()
            .ok_or(Error::Internal("external commit not staged"))?;
        // The provisional epoch has no secrets worth retiring: the new one replaces it.
        group.state = *pending
            .staged
            .next
            .ok_or(Error::Internal("external commit without a next epoch"))?;
        group.touch();
        let _ = out.pending;
        Ok((group, out.commit))
    }
}

/// Decrypts our GroupSecrets and the GroupInfo of a Welcome; returns them with the PSK
/// secret the Welcome's PSKs give.
fn open_welcome<P: CryptoProvider + ?Sized>(
    p: &P,
    welcome: &Welcome,
    keys: &JoinKeys,
    external_psks: &[(Vec<u8>, Secret)],
) -> Result<(GroupSecrets, GroupInfo, Secret)> {
    let mut kp_bytes = nipee_codec::Writer::new();
    keys.key_package.encode(&mut kp_bytes)?;
    let kp_ref = key_package_ref(p, kp_bytes.as_bytes())?;
    let gs = welcome.decrypt_group_secrets(p, &kp_ref, &keys.init_secret)?;
    let psks = welcome_psks(&gs, external_psks)?;
    let psk = psk_secret(p, &psks)?;
    let ws = welcome_secret(p, &gs.joiner_secret, Some(&psk))?;
    let gi = welcome.decrypt_group_info(p, &ws)?;
    Ok((gs, gi, psk))
}
