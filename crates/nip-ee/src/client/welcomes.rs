//! Sending Welcomes: one gift wrap per invitee, each with the least the format allows.
//!
//! Each invitee's Welcome holds only its own `EncryptedGroupSecrets` and the shared
//! encrypted GroupInfo ([`WelcomeSplit`]), not every other invitee's entry. With
//! [`ClientConfig::ratchet_tree_out_of_band`](super::ClientConfig::ratchet_tree_out_of_band)
//! the GroupInfo also leaves the ratchet tree out: the tree is published once, encrypted,
//! as chunk events ([`crate::tree_transfer`]) listed before the wraps, and each rumor
//! points at them, so inviting n members costs O(n) bytes instead of O(n²).

use nipee_mls::WelcomeSplit;
use nipee_nostr::Timestamp;
use rand_core::CryptoRng;

use super::Client;
use super::session::{Invitee, Live};
use super::types::{Outgoing, Purpose};
use crate::error::{Error, Result};
use crate::ids::GroupId;
use crate::storage::Storage;
use crate::tree_transfer;
use crate::welcome_event::WelcomeRumor;

impl<S: Storage> Client<S> {
    /// The events that bring a commit's invitees in: with `tree_out_of_band`, first the
    /// ratchet tree's chunk events (to the group's relays), then one gift wrap per
    /// invitee (to its relays and the group's). `live` must be the group in the epoch the
    /// Welcome creates (the commit merged).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn welcome_wraps<R: CryptoRng + ?Sized>(
        &self,
        gid: &GroupId,
        live: &Live,
        welcome: &[u8],
        invitees: &[Invitee],
        tree_out_of_band: bool,
        now: u64,
        rng: &mut R,
    ) -> Result<Vec<Outgoing>> {
        let group_relays = live.data()?.relays;
        let split = WelcomeSplit::parse(welcome)?;
        let created_at = Timestamp::from_secs(now);
        let mut out = Vec::with_capacity(invitees.len() + 1);
        let mut tree_ref = None;
        if tree_out_of_band && !invitees.is_empty() {
            let tree = zeroize::Zeroizing::new(live.group.encoded_tree()?);
            let sealed = tree_transfer::seal(&tree, created_at, rng)?;
            out.extend(sealed.events.into_iter().map(|event| Outgoing {
                event,
                relays: group_relays.clone(),
                purpose: Purpose::RatchetTree {
                    group_id: gid.clone(),
                },
            }));
            tree_ref = Some(sealed.reference);
        }
        for inv in invitees {
            let rumor = WelcomeRumor {
                mls_message: own_welcome(&split, welcome, inv)?,
                key_package_event_id: inv.key_package_event_id,
                relays: group_relays.clone(),
                ratchet_tree: tree_ref.clone(),
            };
            let event = live.profile.wrap_welcome(
                &rumor,
                self.config.client_name.as_deref(),
                &self.keys,
                &inv.pubkey,
                created_at,
                self.config.nip44_prefix(),
                rng,
            )?;
            let mut relays = inv.relays.clone();
            relays.extend(group_relays.iter().cloned());
            relays.sort();
            relays.dedup();
            out.push(Outgoing {
                event,
                relays,
                purpose: Purpose::Welcome {
                    group_id: gid.clone(),
                    invitee: inv.pubkey,
                },
            });
        }
        Ok(out)
    }
}

/// The Welcome for `inv`: only its own entry and the shared encrypted GroupInfo (the whole
/// Welcome for an invitee of a version-3 row, which does not name its KeyPackageRef).
pub(super) fn own_welcome(split: &WelcomeSplit, whole: &[u8], inv: &Invitee) -> Result<Vec<u8>> {
    match &inv.key_package_ref {
        Some(r) => split.for_new_member(r)?.ok_or(Error::Internal {
            reason: "the Welcome has no entry for an invitee's KeyPackage",
        }),
        None => Ok(whole.to_vec()),
    }
}
