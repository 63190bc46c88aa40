//! One Welcome per new member.
//!
//! A commit that adds n members yields one Welcome (§12.4.3) with n `EncryptedGroupSecrets`
//! entries and one encrypted GroupInfo. Sent as is to each of them, every copy carries
//! every other joiner's entry as well: n² entries in all. A joiner needs only its own entry
//! (found by its KeyPackageRef) and the shared encrypted GroupInfo, so a Welcome with just
//! those two is the least the wire format allows, and it is a valid Welcome: the
//! GroupInfo's encryption and the HPKE `info` of every entry depend on the encrypted
//! GroupInfo only, not on the other entries.

use crate::error::{Error, Result};
use crate::framing::{MlsMessage, MlsMessageBody};
use crate::welcome::Welcome;

/// An `MLSMessage(Welcome)` parsed once, to hand each new member a Welcome of its own.
#[derive(Debug, Clone)]
pub struct WelcomeSplit {
    welcome: Welcome,
}

impl WelcomeSplit {
    /// Parses an `MLSMessage` whose body is a Welcome.
    ///
    /// # Errors
    /// [`Error::Malformed`]; [`Error::ContentNotAllowed`] for another message type.
    pub fn parse(mls_message: &[u8]) -> Result<Self> {
        match MlsMessage::from_bytes(mls_message)?.body {
            MlsMessageBody::Welcome(welcome) => Ok(WelcomeSplit { welcome }),
            _ => Err(Error::ContentNotAllowed {
                reason: "not a Welcome",
            }),
        }
    }

    /// The KeyPackageRefs the Welcome has entries for, in its order.
    pub fn new_members(&self) -> impl Iterator<Item = &[u8]> {
        self.welcome.secrets.iter().map(|s| s.new_member.as_slice())
    }

    /// The size of the encrypted GroupInfo every member's Welcome carries.
    pub fn encrypted_group_info_len(&self) -> usize {
        self.welcome.encrypted_group_info.len()
    }

    /// The `MLSMessage(Welcome)` for the owner of `key_package_ref`: its own entry and the
    /// shared encrypted GroupInfo; `None` when the Welcome has no entry for it.
    ///
    /// # Errors
    /// Only for fields too long to encode.
    pub fn for_new_member(&self, key_package_ref: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(entry) = self
            .welcome
            .secrets
            .iter()
            .find(|s| s.new_member == key_package_ref)
        else {
            return Ok(None);
        };
        let one = Welcome {
            cipher_suite: self.welcome.cipher_suite,
            secrets: vec![entry.clone()],
            encrypted_group_info: self.welcome.encrypted_group_info.clone(),
        };
        MlsMessage {
            body: MlsMessageBody::Welcome(one),
        }
        .to_bytes()
        .map(Some)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use nipee_keypackage::{KeyPackageBundle, KeyPackageOptions};
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;
    use crate::crypto::RustCryptoSuite1;
    use crate::error::ErrorKind;
    use crate::group::tests::NOW;
    use crate::group::{Group, GroupConfig, welcome_key_package_refs};

    fn bundles(names: &[&str], seed: u64) -> Vec<KeyPackageBundle> {
        let mut rng = StdRng::seed_from_u64(seed);
        names
            .iter()
            .map(|n| {
                KeyPackageBundle::generate(n.as_bytes(), &KeyPackageOptions::new(NOW), &mut rng)
                    .unwrap()
            })
            .collect()
    }

    fn creator(b: KeyPackageBundle) -> Group {
        Group::create(
            RustCryptoSuite1::new(),
            GroupConfig::new(NOW),
            b"g".to_vec().into(),
            b,
            vec![],
        )
        .unwrap()
    }

    fn join(welcome: &[u8], b: KeyPackageBundle) -> crate::Result<Group> {
        Group::join(
            RustCryptoSuite1::new(),
            GroupConfig::new(NOW),
            welcome,
            b.into(),
            None,
            vec![],
        )
    }

    #[test]
    fn each_new_member_joins_from_a_welcome_with_only_its_own_entry() {
        let mut all = bundles(&["alice", "bob", "carol", "dave"], 7);
        let invitees = all.split_off(1);
        let mut alice = creator(all.remove(0));
        let out = alice
            .add_members(invitees.iter().map(|b| b.key_package().clone()).collect())
            .unwrap();
        alice.merge_pending_commit().unwrap();
        let whole = out.welcome.unwrap();
        let split = WelcomeSplit::parse(&whole).unwrap();
        assert_eq!(split.new_members().count(), 3);
        for b in invitees {
            let r = b.key_package().reference().unwrap();
            let own = split.for_new_member(r.as_bytes()).unwrap().unwrap();
            assert_eq!(welcome_key_package_refs(&own).unwrap(), vec![r.0.to_vec()]);
            assert!(own.len() < whole.len());
            let joined = join(&own, b).unwrap();
            assert_eq!(
                joined.epoch_authenticator().as_bytes(),
                alice.epoch_authenticator().as_bytes()
            );
        }
        assert!(split.for_new_member(&[0u8; 32]).unwrap().is_none());
    }

    #[test]
    fn a_member_cannot_join_from_another_members_welcome() {
        let mut all = bundles(&["alice", "bob", "carol"], 8);
        let carol = all.pop().unwrap();
        let bob = all.pop().unwrap();
        let mut alice = creator(all.remove(0));
        let out = alice
            .add_members(vec![bob.key_package().clone(), carol.key_package().clone()])
            .unwrap();
        let split = WelcomeSplit::parse(&out.welcome.unwrap()).unwrap();
        let bobs = split
            .for_new_member(bob.key_package().reference().unwrap().as_bytes())
            .unwrap()
            .unwrap();
        let err = join(&bobs, carol).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    }

    #[test]
    fn only_welcomes_are_split() {
        let b = bundles(&["bob"], 9).remove(0);
        let kp = MlsMessage {
            body: MlsMessageBody::KeyPackage(Box::new(b.key_package().clone())),
        }
        .to_bytes()
        .unwrap();
        assert!(matches!(
            WelcomeSplit::parse(&kp),
            Err(Error::ContentNotAllowed { .. })
        ));
        assert!(WelcomeSplit::parse(&[0, 1, 0]).is_err());
    }
}
