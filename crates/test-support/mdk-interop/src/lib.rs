//! Helpers for the interop tests of nipee's `marmot` profile against MDK (`mdk-core` 0.8.0,
//! with `mdk-memory-storage`): an MDK user as White Noise drives it (rust-nostr 0.44 events,
//! its NIP-59 gift wraps), a nipee user on the client core, the conversions between the two
//! Nostr libraries (through the events' JSON), and the checks that both sides agree.
//!
//! MDK reads the system clock, so these helpers use it too ([`now`]).
#![forbid(unsafe_code)]
// Test support: a failed expectation is a panic with a message, as in a test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use mdk_core::prelude::{
    GroupId as MdkGroupId, MDK, MessageProcessingResult, NostrGroupConfigData,
};
use mdk_memory_storage::MdkMemoryStorage;
use nipee::storage::MemoryStorage;
use nipee::{Client, ClientConfig, GroupId, Profile, RelayAnswer};
use nostr::{JsonUtil, NostrSigner};
use openmls::prelude::OpenMlsProvider;

/// The relay URL written into groups and KeyPackages of the in-process tests.
pub const RELAY: &str = "ws://127.0.0.1:7777";

/// Seconds since the Unix epoch, from the system clock (MDK's clock).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs a future that never waits on IO (rust-nostr's signer and NIP-59 with local keys).
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

/// A nipee event as a rust-nostr event.
pub fn to_nostr(e: &nipee_nostr::Event) -> nostr::Event {
    nostr::Event::from_json(e.to_json()).expect("a nipee event reads in rust-nostr")
}

/// A rust-nostr event as a nipee event (id and signature verified).
pub fn to_nipee(e: &nostr::Event) -> nipee_nostr::Event {
    nipee_nostr::Event::from_json(&e.as_json()).expect("a rust-nostr event reads in nipee")
}

/// A rust-nostr public key as a nipee one.
pub fn pk_to_nipee(pk: &nostr::PublicKey) -> nipee_nostr::PublicKey {
    nipee_nostr::PublicKey::from_bytes(&pk.to_bytes()).unwrap()
}

/// A nipee public key as a rust-nostr one.
pub fn pk_to_nostr(pk: &nipee_nostr::PublicKey) -> nostr::PublicKey {
    nostr::PublicKey::from_slice(pk.as_bytes()).unwrap()
}

/// The MDK group id of a nipee group id (the same MLS group id).
pub fn mdk_gid(gid: &GroupId) -> MdkGroupId {
    MdkGroupId::from_slice(gid.as_bytes())
}

/// The nipee group id of an MDK group id.
pub fn nipee_gid(gid: &MdkGroupId) -> GroupId {
    GroupId::new(gid.to_vec())
}

/// A person on MDK.
pub struct MdkUser {
    /// Their Nostr keys.
    pub keys: nostr::Keys,
    /// Their MDK instance (in-memory storage).
    pub mdk: MDK<MdkMemoryStorage>,
    /// The relay written into their KeyPackages and groups.
    pub relay: String,
}

impl Default for MdkUser {
    fn default() -> Self {
        Self::new()
    }
}

impl MdkUser {
    /// A new person with a fresh key and default MDK settings.
    pub fn new() -> Self {
        Self::with_relay(RELAY)
    }

    /// A new person whose KeyPackages and groups name `relay`.
    pub fn with_relay(relay: &str) -> Self {
        MdkUser {
            keys: nostr::Keys::generate(),
            mdk: MDK::new(MdkMemoryStorage::default()),
            relay: relay.to_owned(),
        }
    }

    /// Their public key, as nipee spells it.
    pub fn pubkey(&self) -> nipee_nostr::PublicKey {
        pk_to_nipee(&self.keys.public_key())
    }

    /// A KeyPackage event as White Noise publishes it: addressable kind 30443 (with `d`,
    /// `i`, `mls_proposals`), or with `legacy` the kind-443 variant MDK also hands out.
    pub fn key_package_event(&self, legacy: bool) -> nipee_nostr::Event {
        let relay = nostr::RelayUrl::parse(&self.relay).unwrap();
        let data = self
            .mdk
            .create_key_package_for_event(&self.keys.public_key(), [relay])
            .unwrap();
        let (kind, tags) = if legacy {
            (nostr::Kind::Custom(443), data.tags_443)
        } else {
            (nostr::Kind::Custom(30443), data.tags_30443)
        };
        let event = nostr::EventBuilder::new(kind, data.content)
            .tags(tags)
            .sign_with_keys(&self.keys)
            .unwrap();
        to_nipee(&event)
    }

    /// Gift-wraps one of MDK's Welcome rumors to `to` with rust-nostr's NIP-59.
    pub fn wrap(
        &self,
        rumor: &nostr::UnsignedEvent,
        to: &nipee_nostr::PublicKey,
    ) -> nipee_nostr::Event {
        let wrap = block_on(nostr::EventBuilder::gift_wrap(
            &self.keys,
            &pk_to_nostr(to),
            rumor.clone(),
            [],
        ))
        .unwrap();
        to_nipee(&wrap)
    }

    /// Opens a gift wrap addressed to us (rust-nostr's NIP-59) and hands the Welcome to MDK:
    /// `process_welcome` then `accept_welcome`. Returns the group.
    ///
    /// # Errors
    /// MDK's, as a string, for tests that expect a refusal.
    pub fn join(&self, wrap: &nipee_nostr::Event) -> Result<GroupId, String> {
        let wrap = to_nostr(wrap);
        let unwrapped = block_on(nostr::nips::nip59::UnwrappedGift::from_gift_wrap(
            &self.keys, &wrap,
        ))
        .map_err(|e| e.to_string())?;
        let welcome = self
            .mdk
            .process_welcome(&wrap.id, &unwrapped.rumor)
            .map_err(|e| e.to_string())?;
        self.mdk
            .accept_welcome(&welcome)
            .map_err(|e| e.to_string())?;
        Ok(nipee_gid(&welcome.mls_group_id))
    }

    /// Creates a group with the owners of `key_packages`, everyone an admin who is named in
    /// `admins` (MDK requires admins to be members). Returns the group and its Welcome
    /// rumors.
    pub fn create_group(
        &self,
        name: &str,
        key_packages: &[nipee_nostr::Event],
        admins: &[nipee_nostr::PublicKey],
    ) -> (GroupId, Vec<nostr::UnsignedEvent>) {
        let mut admin_keys = vec![self.keys.public_key()];
        admin_keys.extend(admins.iter().map(pk_to_nostr));
        let config = NostrGroupConfigData::new(
            name.to_owned(),
            format!("{name}, made by MDK"),
            None,
            None,
            None,
            vec![nostr::RelayUrl::parse(&self.relay).unwrap()],
            admin_keys,
        );
        let result = self
            .mdk
            .create_group(
                &self.keys.public_key(),
                key_packages.iter().map(to_nostr).collect(),
                config,
            )
            .unwrap();
        let gid = result.group.mls_group_id.clone();
        self.mdk.merge_pending_commit(&gid).unwrap();
        (nipee_gid(&gid), result.welcome_rumors)
    }

    /// A kind-9 chat message as a kind-445 event.
    pub fn send(&self, gid: &GroupId, text: &str) -> nipee_nostr::Event {
        let rumor =
            nostr::EventBuilder::new(nostr::Kind::Custom(9), text).build(self.keys.public_key());
        to_nipee(&self.mdk.create_message(&mdk_gid(gid), rumor, None).unwrap())
    }

    /// Processes a kind-445 event.
    ///
    /// # Errors
    /// MDK's error.
    pub fn receive(
        &self,
        e: &nipee_nostr::Event,
    ) -> Result<MessageProcessingResult, mdk_core::Error> {
        self.mdk.process_message(&to_nostr(e))
    }

    /// Processes a kind-445 event that must carry a chat message; returns its text.
    pub fn hears(&self, e: &nipee_nostr::Event) -> String {
        match self.receive(e) {
            Ok(MessageProcessingResult::ApplicationMessage(m)) => {
                assert_eq!(m.pubkey, m.event.pubkey);
                m.content
            }
            other => panic!("MDK expected a message, got {other:?}"),
        }
    }

    /// Processes a kind-445 event that must carry a commit.
    pub fn applies(&self, e: &nipee_nostr::Event) {
        match self.receive(e) {
            Ok(MessageProcessingResult::Commit { .. }) => {}
            other => panic!("MDK expected to apply a commit, got {other:?}"),
        }
    }

    /// The group's epoch as MDK sees it.
    pub fn epoch(&self, gid: &GroupId) -> u64 {
        self.mls_group(gid).epoch().as_u64()
    }

    /// The members' keys as MDK sees them.
    pub fn members(&self, gid: &GroupId) -> BTreeSet<nipee_nostr::PublicKey> {
        self.mdk
            .get_members(&mdk_gid(gid))
            .unwrap()
            .iter()
            .map(pk_to_nipee)
            .collect()
    }

    fn mls_group(&self, gid: &GroupId) -> openmls::group::MlsGroup {
        self.mdk
            .load_mls_group(&mdk_gid(gid))
            .unwrap()
            .expect("MDK knows the group")
    }

    /// `MLS-Exporter("marmot", "group-event", 32)` of the current epoch, from MDK's OpenMLS
    /// group.
    pub fn exporter_secret(&self, gid: &GroupId) -> Vec<u8> {
        self.mls_group(gid)
            .export_secret(self.mdk.provider.crypto(), "marmot", b"group-event", 32)
            .unwrap()
    }

    /// The epoch authenticator of the current epoch.
    pub fn epoch_authenticator(&self, gid: &GroupId) -> Vec<u8> {
        self.mls_group(gid)
            .epoch_authenticator()
            .as_slice()
            .to_vec()
    }

    /// The group's name, admins and nostr_group_id as MDK decoded them.
    pub fn group_data(
        &self,
        gid: &GroupId,
    ) -> (String, BTreeSet<nipee_nostr::PublicKey>, [u8; 32]) {
        let g = self
            .mdk
            .get_group(&mdk_gid(gid))
            .unwrap()
            .expect("MDK knows the group");
        (
            g.name,
            g.admin_pubkeys.iter().map(pk_to_nipee).collect(),
            g.nostr_group_id,
        )
    }
}

/// A person on nipee (the client core, in-memory storage, the `marmot` profile).
pub struct NipeeUser {
    /// The client.
    pub client: Client<MemoryStorage>,
}

impl Default for NipeeUser {
    fn default() -> Self {
        Self::new()
    }
}

impl NipeeUser {
    /// A new person whose groups and KeyPackages are of the `marmot` profile.
    pub fn new() -> Self {
        let mut config = ClientConfig::with_relays([RELAY]);
        config.profile = Profile::Marmot;
        let keys = nipee_nostr::Keys::generate(&mut rand::rng());
        NipeeUser {
            client: Client::new(keys, MemoryStorage::new(), config).unwrap(),
        }
    }

    /// Their public key.
    pub fn pubkey(&self) -> nipee_nostr::PublicKey {
        self.client.public_key()
    }

    /// A fresh KeyPackage event (kind 443).
    pub fn key_package_event(&mut self, last_resort: bool) -> nipee_nostr::Event {
        self.client
            .create_key_package(last_resort, now(), &mut rand::rng())
            .unwrap()
            .event
    }

    /// Processes an event and returns everything it produced.
    ///
    /// # Errors
    /// The core's typed error.
    pub fn process(&mut self, e: &nipee_nostr::Event) -> nipee::Result<nipee::Effects> {
        self.client.process(e, now(), &mut rand::rng())
    }

    /// Reports that the group's relay took `event` (confirming a commit); returns what is
    /// then to publish (the Welcomes of an invite).
    pub fn acked(&mut self, event: &nipee_nostr::Event) -> Vec<nipee_nostr::Event> {
        let answers = [RelayAnswer::Accepted {
            relay: RELAY.to_owned(),
        }];
        self.client
            .published(&event.id(), &answers, now(), &mut rand::rng())
            .unwrap()
            .publish
            .into_iter()
            .map(|o| o.event)
            .collect()
    }

    /// A kind-9 chat message as a kind-445 event.
    pub fn send(&mut self, gid: &GroupId, text: &str) -> nipee_nostr::Event {
        let m = nipee::inner::chat_message(
            self.pubkey(),
            text,
            nipee_nostr::Timestamp::from_secs(now()),
        );
        self.client
            .send(gid, &m, now(), &mut rand::rng())
            .unwrap()
            .event
    }

    /// Processes an event that must carry a chat message; returns its text.
    pub fn hears(&mut self, e: &nipee_nostr::Event) -> String {
        match self.process(e).unwrap().outcome() {
            nipee::Outcome::Message { event, .. } => event.content,
            other => panic!("nipee expected a message, got {other:?}"),
        }
    }

    /// Processes an event that must carry a commit.
    pub fn applies(&mut self, e: &nipee_nostr::Event) -> nipee::CommitInfo {
        match self.process(e).unwrap().outcome() {
            nipee::Outcome::Commit(info) => info,
            other => panic!("nipee expected to apply a commit, got {other:?}"),
        }
    }

    /// Joins from a gift-wrapped Welcome; returns the group and anything to publish (a
    /// rotation after a last-resort KeyPackage).
    pub fn join(&mut self, wrap: &nipee_nostr::Event) -> (GroupId, Vec<nipee_nostr::Event>) {
        let effects = self.process(wrap).unwrap();
        let publish = effects
            .publish
            .iter()
            .filter(|o| o.event.kind() == nipee_nostr::Kind::MLS_GROUP_MESSAGE)
            .map(|o| o.event.clone())
            .collect();
        match effects.outcome() {
            nipee::Outcome::Joined { group_id, .. } => (group_id, publish),
            other => panic!("nipee expected to join, got {other:?}"),
        }
    }

    /// The members' keys as nipee sees them.
    pub fn members(&self, gid: &GroupId) -> BTreeSet<nipee_nostr::PublicKey> {
        self.client
            .members(gid)
            .unwrap()
            .into_iter()
            .map(|m| m.pubkey)
            .collect()
    }
}

/// Asserts that a nipee member and an MDK member of `gid` agree: epoch, members, epoch
/// authenticator, group-event exporter secret, name, admins and `nostr_group_id`.
pub fn assert_agree(nipee: &NipeeUser, mdk: &MdkUser, gid: &GroupId) {
    let c = &nipee.client;
    assert_eq!(c.epoch(gid).unwrap(), mdk.epoch(gid), "epoch");
    assert_eq!(nipee.members(gid), mdk.members(gid), "members");
    assert_eq!(
        c.epoch_authenticator(gid).unwrap(),
        mdk.epoch_authenticator(gid),
        "epoch authenticator"
    );
    assert_eq!(
        c.exporter_secret(gid).unwrap().to_vec(),
        mdk.exporter_secret(gid),
        "group-event exporter secret"
    );
    let data = c.group_data(gid).unwrap();
    let (name, admins, h) = mdk.group_data(gid);
    assert_eq!(data.name, name, "name");
    assert_eq!(
        data.admins.iter().copied().collect::<BTreeSet<_>>(),
        admins,
        "admins"
    );
    assert_eq!(data.nostr_group_id, h, "nostr_group_id");
}

/// Hands a rust-nostr signer future to [`block_on`] (to sign with MDK users' keys).
pub fn sign_with<S: NostrSigner>(signer: &S, unsigned: nostr::UnsignedEvent) -> nostr::Event {
    block_on(unsigned.sign(signer)).unwrap()
}
