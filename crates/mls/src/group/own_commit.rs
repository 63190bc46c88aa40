//! Own-commit recovery (feature `own-commit-recovery`): applying a commit that our own leaf
//! sent but whose pending state we do not hold, from the secrets the committer generated
//! for its UpdatePath.
//!
//! Two uses: replaying a recorded conversation as one of its members (a NIP-EE interop file
//! records the committer's secrets of each commit), and recovering a commit of ours whose
//! pending state was lost (for example a crash between publishing and storing it) when the
//! secrets were kept elsewhere. The secrets stay with the caller: they are only used to
//! derive and check keys, and what the group keeps of them is exactly what merging the
//! pending commit would have kept (the new leaf and path private keys, the signature key).
//!
//! The commit goes through the same checks as anyone else's (framing, signature with our
//! old leaf key, proposal validation, the path's leaf and parent hash, the policy, the
//! confirmation tag); only the path is derived from the given path secret instead of being
//! decrypted. Each derived public key, the new leaf's encryption key and its signature key
//! must equal the commit's; any failure leaves the group unchanged.

use super::commit::{self, CommitSummary, PathKeys, Staged};
use super::{Group, GroupPolicy, GroupProvider, ProcessedMessage, member_signature_key};
use crate::crypto::{HpkePrivateKey, Secret, SignatureSecretKey};
use crate::error::{Error, Result};
use crate::framing::{Content, MlsMessage, MlsMessageBody, Sender};

/// What the committer generated for the UpdatePath of one of our commits.
///
/// Holds secrets: not `Debug`-printable beyond its type, zeroized on drop (each field is).
pub struct OwnCommitSecrets {
    /// The HPKE private key of our new leaf (the UpdatePath's `leaf_node.encryption_key`).
    pub leaf_encryption_private_key: HpkePrivateKey,
    /// Our signature private key after the commit: the new one if the commit rotated it,
    /// else the current one. Its public key must be the new leaf's `signature_key`.
    pub signature_private_key: SignatureSecretKey,
    /// The path secret of the first node of our filtered direct path; the nodes above it
    /// and `commit_secret` follow by `DeriveSecret(·, "path")`. With an empty filtered
    /// direct path (we are alone in the group) it is the secret `commit_secret` is derived
    /// from, and only the confirmation tag checks it.
    pub path_secret: Secret,
}

impl core::fmt::Debug for OwnCommitSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OwnCommitSecrets").finish_non_exhaustive()
    }
}

impl<P: GroupProvider> Group<P> {
    /// Applies a commit (MLSMessage bytes, PublicMessage or PrivateMessage) that our own leaf
    /// sent in the current epoch but whose pending state we do not hold, using the secrets
    /// generated for its UpdatePath. Everything is checked as for another member's commit
    /// (`policy` included), except that the path is derived from `secrets.path_secret`
    /// rather than decrypted, and every derived public key, the new leaf's encryption key
    /// and its signature key must match `secrets`. On success the group is in the new
    /// epoch with our new leaf and path private keys and `secrets.signature_private_key` as
    /// our signer.
    ///
    /// # Errors
    /// [`Error::Misuse`] while one of our commits is pending (merge or discard it first),
    /// after we were removed, or for a commit without an UpdatePath;
    /// [`Error::InvalidSender`] for a message that is not from our own leaf;
    /// [`Error::ContentNotAllowed`] for anything but a commit; [`Error::OwnCommitMismatch`]
    /// naming the secret that does not match; [`Error::BadConfirmationTag`]; and every
    /// framing and commit check. On any error the group is unchanged.
    pub fn process_own_commit_with_secrets(
        &mut self,
        bytes: &[u8],
        secrets: OwnCommitSecrets,
        policy: &dyn GroupPolicy,
    ) -> Result<CommitSummary> {
        self.check_active()?;
        if self.pending.is_some() {
            return Err(Error::Misuse(
                "a commit of ours is pending: merge or discard it first",
            ));
        }
        let own = self.own_leaf();
        let (ac, secret_tree) = match MlsMessage::from_bytes(bytes)?.body {
            MlsMessageBody::PublicMessage(m) => {
                let Sender::Member(i) = m.content.sender else {
                    return Err(Error::InvalidSender {
                        reason: "not a message from our own leaf",
                    });
                };
                let key = member_signature_key(&self.state.tree, own, super::LeafIndex(i), true)?;
                let ac = m.unprotect(
                    &self.provider,
                    &self.state.context,
                    &self.state.keys.membership_key,
                    &key,
                )?;
                (ac, None)
            }
            MlsMessageBody::PrivateMessage(m) => {
                // Our own handshake ratchet decrypts it; a copy is kept only on success.
                let mut st = self.state.keys.secret_tree.clone();
                let tree = &self.state.tree;
                let (ac, change) = m.unprotect(
                    &self.provider,
                    &self.state.context,
                    &self.state.keys.secret_tree,
                    &self.state.keys.sender_data_secret,
                    |leaf| member_signature_key(tree, own, leaf, true),
                )?;
                st.apply(change)?;
                (ac, Some(st))
            }
            _ => {
                return Err(Error::ContentNotAllowed {
                    reason: "only a PublicMessage or PrivateMessage carries a commit",
                });
            }
        };
        if !matches!(ac.content.content, Content::Commit(_)) {
            return Err(Error::ContentNotAllowed {
                reason: "not a commit",
            });
        }
        let path_keys = PathKeys::Own(secrets);
        let staged = commit::stage_commit(self, &ac, policy, &path_keys)?;
        if let Staged::Removed(_) = staged {
            return Err(Error::Internal("our own commit cannot remove us"));
        }
        let PathKeys::Own(secrets) = path_keys else {
            return Err(Error::Internal("path keys changed"));
        };
        match self.apply_staged(staged, secret_tree) {
            ProcessedMessage::CommitApplied(summary) => {
                self.signer = secrets.signature_private_key;
                Ok(summary)
            }
            _ => Err(Error::Internal("a staged own commit did not apply")),
        }
    }
}
