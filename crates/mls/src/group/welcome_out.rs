//! The Welcome a commit sends its new members (RFC 9420 §12.4.3): one signed GroupInfo,
//! encrypted once, and each new member's GroupSecrets sealed to its init key.

use nipee_codec::Encode;
use nipee_keypackage::{ExtensionType, KeyPackage, SignatureSecretKey};

use super::config::GroupConfig;
use super::grease;
use super::proposals::Applied;
use crate::crypto::{GroupProvider, SealJob, Secret, key_package_ref};
use crate::error::Result;
use crate::extensions::Extension;
use crate::framing::{MlsMessage, MlsMessageBody};
use crate::schedule::{EpochSecrets, GroupContext};
use crate::tree::math::{self, LeafIndex, NodeIndex};
use crate::welcome::{EncryptedGroupSecrets, GroupInfo, GroupSecrets, Welcome};

/// What a Welcome is made of.
pub(crate) struct WelcomeInput<'a> {
    pub(crate) config: &'a GroupConfig,
    /// Signs the GroupInfo: our key in the new epoch (the new one if the commit rotated it).
    pub(crate) signer: &'a SignatureSecretKey,
    pub(crate) me: LeafIndex,
    pub(crate) context: &'a GroupContext,
    pub(crate) confirmation_tag: &'a [u8],
    pub(crate) secrets: &'a EpochSecrets,
    pub(crate) applied: &'a Applied,
    /// The path secret of each node of our filtered direct path (empty without a path).
    pub(crate) path_secrets: &'a [(NodeIndex, Secret)],
}

fn encode_kp(kp: &KeyPackage) -> Result<Vec<u8>> {
    let mut w = nipee_codec::Writer::new();
    kp.encode(&mut w)?;
    Ok(w.into_bytes())
}

/// One Welcome (MLSMessage bytes) for every member the commit adds; `None` if it adds none.
pub(crate) fn build_welcome<P: GroupProvider>(
    p: &P,
    input: WelcomeInput<'_>,
) -> Result<Option<Vec<u8>>> {
    let WelcomeInput {
        config,
        signer,
        me,
        context,
        confirmation_tag,
        secrets,
        applied,
        path_secrets,
    } = input;
    if applied.added.is_empty() {
        return Ok(None);
    }
    let mut extensions = vec![];
    if config.ratchet_tree_extension {
        extensions.push(Extension::new(
            ExtensionType::RATCHET_TREE,
            applied.tree.encode()?,
        ));
    }
    grease::group_info(p, config, &mut extensions)?;
    let mut gi = GroupInfo {
        group_context: context.clone(),
        extensions,
        confirmation_tag: confirmation_tag.to_vec(),
        signer: me.0,
        signature: vec![],
    };
    gi.sign(p, signer)?;
    let egi = Welcome::encrypt_group_info(p, &secrets.welcome_secret, &gi)?;
    // EncryptWithLabel(init_key, "Welcome", encrypted_group_info, GroupSecrets): the HPKE
    // info is the same for every new member, so it is hashed once.
    let info_hash = p.hpke_info_hash(&crate::crypto::sign_content(b"Welcome", &egi)?);
    // Every new member's GroupSecrets are encoded first (zeroized when dropped), then sealed
    // in one batch the provider may spread over threads.
    let mut plaintexts = Vec::with_capacity(applied.added.len());
    for (leaf, _) in &applied.added {
        let path_secret = if path_secrets.is_empty() {
            None
        } else {
            let anc = math::common_ancestor(leaf.node(), me.node());
            path_secrets
                .iter()
                .find(|(x, _)| *x == anc)
                .map(|(_, s)| s.clone())
        };
        let gs = GroupSecrets {
            joiner_secret: secrets.joiner_secret.clone(),
            path_secret,
            psks: applied.psk_ids.clone(),
        };
        let mut pt = nipee_codec::Writer::new();
        nipee_codec::Encode::encode(&gs, &mut pt)?;
        plaintexts.push(zeroize::Zeroizing::new(pt.into_bytes()));
    }
    let jobs: Vec<SealJob<'_>> = applied
        .added
        .iter()
        .zip(&plaintexts)
        .map(|((_, kp), pt)| SealJob {
            public_key: &kp.init_key,
            plaintext: pt,
        })
        .collect();
    let cts = p.hpke_seal_many_prehashed(&info_hash, &[], &jobs)?;
    drop(jobs);
    drop(plaintexts);
    let mut entries = Vec::with_capacity(applied.added.len());
    for ((_, kp), ct) in applied.added.iter().zip(cts) {
        entries.push(EncryptedGroupSecrets {
            new_member: key_package_ref(p, &encode_kp(kp)?)?,
            encrypted_group_secrets: ct,
        });
    }
    let w = Welcome {
        cipher_suite: context.cipher_suite,
        secrets: entries,
        encrypted_group_info: egi,
    };
    Ok(Some(
        MlsMessage {
            body: MlsMessageBody::Welcome(w),
        }
        .to_bytes()?,
    ))
}
