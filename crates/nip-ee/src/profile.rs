//! Wire-format profiles. The client core reaches every NIP-EE format through a
//! [`Profile`] value, so a second profile (the Marmot formats of MDK / White Noise) can be
//! added as a new variant and new match arms, without touching the core's logic.

use nipee_keypackage::{Extension, KeyPackage, ValidationPolicy};
use nipee_mls::group::{Group, StagedCommit};
use nipee_nostr::{Event, Keys, PublicKey, Timestamp, UnsignedEvent};
use rand_core::CryptoRng;

use crate::envelope::{self, EXPORTER_CONTEXT, EXPORTER_LABEL, EXPORTER_LENGTH, GroupEventKey};
use crate::error::{Error, Result};
use crate::group_data::{NOSTR_GROUP_DATA, NostrGroupData};
use crate::inner;
use crate::key_package_event::{self, KeyPackageEvent, KeyPackageEventOptions};
use crate::welcome_event::{self, OpenedWelcome, WelcomeRumor};

/// A set of NIP-EE wire formats. Only [`Profile::NipEe`] is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Profile {
    /// The formats of `nip-EE.md` as nostr-mls v0.43 writes them (kind 443 with hex
    /// content, kind 444 rumor, kind 445 under `MLS-Exporter("nostr", "nostr", 32)`,
    /// unversioned 0xF2EE).
    #[default]
    NipEe,
}

impl Profile {
    /// The profile's stable name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::NipEe => "nip-ee",
        }
    }

    /// Builds the KeyPackage event. See [`key_package_event::build_key_package_event`].
    ///
    /// # Errors
    /// As the profile's builder.
    pub fn build_key_package_event(
        self,
        keys: &Keys,
        key_package: &KeyPackage,
        options: &KeyPackageEventOptions,
        created_at: Timestamp,
    ) -> Result<Event> {
        match self {
            Profile::NipEe => {
                key_package_event::build_key_package_event(keys, key_package, options, created_at)
            }
        }
    }

    /// Parses and validates a KeyPackage event.
    ///
    /// # Errors
    /// As the profile's parser.
    pub fn parse_key_package_event(
        self,
        event: &Event,
        policy: &ValidationPolicy,
    ) -> Result<KeyPackageEvent> {
        match self {
            Profile::NipEe => key_package_event::parse_key_package_event(event, policy),
        }
    }

    /// Gift-wraps a Welcome to `recipient`.
    ///
    /// # Errors
    /// As the profile's wrapper.
    pub fn wrap_welcome<R: CryptoRng + ?Sized>(
        self,
        rumor: &WelcomeRumor,
        sender: &Keys,
        recipient: &PublicKey,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Event> {
        match self {
            Profile::NipEe => rumor.gift_wrap(sender, recipient, now, rng),
        }
    }

    /// Opens a gift-wrapped Welcome addressed to `receiver`.
    ///
    /// # Errors
    /// As the profile's opener ([`Error::NotForUs`] when it is not for us).
    pub fn open_welcome(self, receiver: &Keys, event: &Event) -> Result<OpenedWelcome> {
        match self {
            Profile::NipEe => welcome_event::open_welcome(receiver, event),
        }
    }

    /// The group-event key of the current epoch of `group`.
    ///
    /// # Errors
    /// MLS exporter errors.
    pub fn group_event_key(self, group: &Group) -> Result<GroupEventKey> {
        match self {
            Profile::NipEe => {
                let secret =
                    group.export_secret(EXPORTER_LABEL, EXPORTER_CONTEXT, EXPORTER_LENGTH)?;
                let bytes: [u8; 32] =
                    secret.as_bytes().try_into().map_err(|_| Error::Internal {
                        reason: "exporter length",
                    })?;
                GroupEventKey::from_exporter_secret(&bytes)
            }
        }
    }

    /// The group-event key of the epoch a staged commit creates (to recognise events of that
    /// epoch before the commit is merged).
    ///
    /// # Errors
    /// MLS exporter errors (a commit that removes us has no next epoch for us).
    pub fn staged_group_event_key(self, staged: &StagedCommit) -> Result<GroupEventKey> {
        match self {
            Profile::NipEe => {
                let secret =
                    staged.export_secret(EXPORTER_LABEL, EXPORTER_CONTEXT, EXPORTER_LENGTH)?;
                let bytes: [u8; 32] =
                    secret.as_bytes().try_into().map_err(|_| Error::Internal {
                        reason: "exporter length",
                    })?;
                GroupEventKey::from_exporter_secret(&bytes)
            }
        }
    }

    /// A group-event key from a stored exporter secret.
    ///
    /// # Errors
    /// As [`GroupEventKey::from_exporter_secret`].
    pub fn group_event_key_from_secret(self, secret: &[u8; 32]) -> Result<GroupEventKey> {
        match self {
            Profile::NipEe => GroupEventKey::from_exporter_secret(secret),
        }
    }

    /// Builds a group event carrying an MLSMessage, signed by the throwaway key `signer`.
    ///
    /// # Errors
    /// As the profile's builder.
    pub fn build_group_event<R: CryptoRng + ?Sized>(
        self,
        key: &GroupEventKey,
        nostr_group_id: &[u8; 32],
        mls_message: &[u8],
        created_at: Timestamp,
        signer: &Keys,
        rng: &mut R,
    ) -> Result<Event> {
        match self {
            Profile::NipEe => envelope::build_group_event_signed(
                key,
                nostr_group_id,
                mls_message,
                created_at,
                signer,
                rng,
            ),
        }
    }

    /// The public group id a group event is addressed to.
    ///
    /// # Errors
    /// As the profile's reader.
    pub fn group_event_group_id(self, event: &Event) -> Result<[u8; 32]> {
        match self {
            Profile::NipEe => envelope::group_event_group_id(event),
        }
    }

    /// The group data among GroupContext extensions.
    ///
    /// # Errors
    /// [`Error::Malformed`] when it is missing or does not decode.
    pub fn group_data(self, extensions: &[Extension]) -> Result<NostrGroupData> {
        match self {
            Profile::NipEe => {
                let ext = extensions
                    .iter()
                    .find(|e| e.extension_type == NOSTR_GROUP_DATA)
                    .ok_or(Error::malformed(
                        "group context",
                        "no nostr_group_data extension",
                    ))?;
                NostrGroupData::decode(&ext.data)
            }
        }
    }

    /// Serializes an inner event as application data.
    ///
    /// # Errors
    /// As [`inner::encode_inner_event`].
    pub fn encode_inner_event(self, event: &UnsignedEvent) -> Result<Vec<u8>> {
        match self {
            Profile::NipEe => inner::encode_inner_event(event),
        }
    }

    /// Parses application data from the member `sender`.
    ///
    /// # Errors
    /// As [`inner::decode_inner_event`].
    pub fn decode_inner_event(self, data: &[u8], sender: &PublicKey) -> Result<UnsignedEvent> {
        match self {
            Profile::NipEe => inner::decode_inner_event(data, sender),
        }
    }
}
