//! Own-commit recovery (feature `own-commit-recovery`): staging a commit that our own leaf
//! sent but whose pending state we do not hold, from the secrets the committer generated
//! for its UpdatePath, to merge it like any staged commit.
//!
//! Two uses: replaying a recorded conversation as one of its members (a NIP-EE interop file
//! records the committer's secrets of each commit), and recovering a commit of ours whose
//! pending state was lost (for example a crash between publishing and storing it) when the
//! secrets were kept elsewhere. The secrets stay with the caller: they are only used to
//! derive and check keys, and what the group keeps of them is exactly what merging the
//! pending commit would have kept (the new leaf and path private keys, the signature key).
//!
//! The commit goes through the same checks as anyone else's (framing, signature with our
//! old leaf key, proposal validation, the path's leaf and parent hash, the confirmation
//! tag); only the path is derived from the given path secret instead of being decrypted.
//! Each derived public key, the new leaf's encryption key and its signature key must equal
//! the commit's. Staging changes nothing.

use super::commit_stage::{OwnCommitSecrets, PathKeys, stage_commit};
use super::message_in::MlsMessageIn;
use super::stage::member_leaf;
use super::staged::StagedCommit;
use super::state::Group;
use crate::crypto::GroupProvider;
use crate::error::{Error, Result};
use crate::framing::{Content, MlsMessageBody, Sender};
use crate::tree::math::LeafIndex;

impl<P: GroupProvider> Group<P> {
    /// Stages a commit (PublicMessage or PrivateMessage) that our own leaf sent in the
    /// current epoch but whose pending state we do not hold, using the secrets generated
    /// for its UpdatePath; merge it with [`Group::merge`] (`Staged::Commit`). Everything is
    /// checked as for another member's commit, except that the path is derived from
    /// `secrets.path_secret` rather than decrypted, and every derived public key, the new
    /// leaf's encryption key and its signature key must match `secrets`. Once merged the
    /// group is in the new epoch with our new leaf and path private keys and
    /// `secrets.signature_private_key` as our signer. The group is not changed by staging.
    ///
    /// # Errors
    /// [`Error::Misuse`] while one of our commits is pending (merge or discard it first),
    /// after we were removed, or for a commit without an UpdatePath;
    /// [`Error::InvalidSender`] for a message that is not from our own leaf;
    /// [`Error::ContentNotAllowed`] for anything but a commit; [`Error::OwnCommitMismatch`]
    /// naming the secret that does not match; [`Error::BadConfirmationTag`]; and every
    /// framing and commit check.
    pub fn stage_own_commit_with_secrets(
        &self,
        msg: &MlsMessageIn,
        secrets: OwnCommitSecrets,
    ) -> Result<StagedCommit<P>> {
        self.check_active()?;
        if self.pending.is_some() {
            return Err(Error::Misuse(
                "a commit of ours is pending: merge or discard it first",
            ));
        }
        let own = self.own_leaf();
        let tree = &self.state.tree;
        let (ac, change) = match msg.body() {
            MlsMessageBody::PublicMessage(m) => {
                let Sender::Member(i) = m.content.sender else {
                    return Err(Error::InvalidSender {
                        reason: "not a message from our own leaf",
                    });
                };
                let leaf = member_leaf(tree, own, LeafIndex(i), true)?;
                let ac = m.unprotect(
                    &self.provider,
                    &self.state.context,
                    &self.state.keys.membership_key,
                    &leaf.signature_key,
                )?;
                (ac, None)
            }
            MlsMessageBody::PrivateMessage(m) => {
                // Our own handshake ratchet decrypts it; its key is taken only on merge.
                let (ac, change) = m.unprotect(
                    &self.provider,
                    &self.state.context,
                    &self.state.keys.secret_tree,
                    &self.state.keys.sender_data_secret,
                    |leaf| Ok(member_leaf(tree, own, leaf, true)?.signature_key.to_vec()),
                )?;
                (ac, Some(change))
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
        let credential = tree.leaf(own).map(|l| l.credential.clone());
        let mut staged = stage_commit(self, &ac, credential, &PathKeys::Own(Box::new(secrets)))?;
        if staged.removes_us() {
            return Err(Error::Internal("our own commit cannot remove us"));
        }
        staged.change = change;
        Ok(staged)
    }
}
