//! Wire-format profiles. The client core reaches every format through a [`Profile`]
//! value: `nip-ee` (nostr-mls v0.43) and `marmot` (MDK / White Noise, MIPs 00–03). A client
//! may hold groups of both; each group keeps the profile it was created or joined with, and
//! incoming KeyPackages and Welcomes say which they are by their `encoding` tag.

use core::fmt;
use core::str::FromStr;

use nipee_keypackage::{Extension, KeyPackage, KeyPackageBundle, ValidationPolicy};
use nipee_mls::group::{Group, StagedCommit};
use nipee_nostr::nip44::LengthPrefix;
use nipee_nostr::{Event, Keys, Kind, PublicKey, Tags, Timestamp, UnsignedEvent, nip59};
use rand_core::CryptoRng;

use crate::envelope::{self, GroupEventKey};
use crate::error::{Error, Result};
use crate::group_data::{NOSTR_GROUP_DATA, NostrGroupData};
use crate::inner;
use crate::key_package_event::{self, KeyPackageEvent, KeyPackageEventOptions, NewKeyPackage};
use crate::marmot;
use crate::marmot::envelope::MarmotEventKey;
use crate::welcome_event::{self, OpenedWelcome, WelcomeRumor};

/// How old a Marmot group event may be (MDK's `max_event_age_secs`): 45 days.
pub const MARMOT_MAX_EVENT_AGE_SECS: u64 = 45 * 86_400;
/// How far in the future a Marmot group event may be dated (MDK's default): 5 minutes.
pub const MARMOT_MAX_FUTURE_SKEW_SECS: u64 = 300;

/// A set of NIP-EE wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Profile {
    /// The formats of `nip-EE.md` as nostr-mls v0.43 writes them (kind 443 with hex
    /// content, kind 444 rumor, kind 445 under `MLS-Exporter("nostr", "nostr", 32)`,
    /// unversioned 0xF2EE, hex credential identities).
    #[default]
    NipEe,
    /// The Marmot formats as MDK (`mdk-core` 0.8.0) writes and checks them (base64 contents
    /// with `encoding` tags, raw 32-byte identities, versioned 0xF2EE, kind 445 under
    /// ChaCha20-Poly1305 with `MLS-Exporter("marmot", "group-event", 32)`); see
    /// [`crate::marmot`].
    Marmot,
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "nip-ee" => Ok(Profile::NipEe),
            "marmot" => Ok(Profile::Marmot),
            _ => Err(Error::Misuse {
                what: "the profiles are nip-ee and marmot",
            }),
        }
    }
}

/// One epoch's group-event key, in the profile of its group. Secret: not printed.
#[derive(Debug)]
#[non_exhaustive]
pub enum EventKey {
    /// NIP-44 v2 under `MLS-Exporter("nostr", "nostr", 32)`.
    NipEe(GroupEventKey),
    /// ChaCha20-Poly1305 under `MLS-Exporter("marmot", "group-event", 32)`.
    Marmot(MarmotEventKey),
}

impl EventKey {
    /// The profile the key belongs to.
    pub fn profile(&self) -> Profile {
        match self {
            EventKey::NipEe(_) => Profile::NipEe,
            EventKey::Marmot(_) => Profile::Marmot,
        }
    }

    /// The exporter secret (for persistence). Handle with care.
    pub fn expose_exporter_secret(&self) -> &[u8; 32] {
        match self {
            EventKey::NipEe(k) => k.expose_exporter_secret(),
            EventKey::Marmot(k) => k.expose_exporter_secret(),
        }
    }

    /// Decrypts kind-445 content.
    ///
    /// # Errors
    /// An error when this key does not open it (or the content is malformed).
    pub fn decrypt(&self, content: &str) -> Result<Vec<u8>> {
        match self {
            EventKey::NipEe(k) => k.decrypt(content),
            EventKey::Marmot(k) => k.decrypt(content),
        }
    }
}

fn exporter<E>(profile: Profile, export: E) -> Result<[u8; 32]>
where
    E: FnOnce(&[u8], &[u8], usize) -> core::result::Result<nipee_mls::Secret, nipee_mls::Error>,
{
    let (label, context, length) = match profile {
        Profile::NipEe => (
            envelope::EXPORTER_LABEL,
            envelope::EXPORTER_CONTEXT,
            envelope::EXPORTER_LENGTH,
        ),
        Profile::Marmot => (
            marmot::envelope::EXPORTER_LABEL,
            marmot::envelope::EXPORTER_CONTEXT,
            marmot::envelope::EXPORTER_LENGTH,
        ),
    };
    let secret = export(label, context, length)?;
    secret.as_bytes().try_into().map_err(|_| Error::Internal {
        reason: "exporter length",
    })
}

impl Profile {
    /// The profile's stable name: `nip-ee` or `marmot`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::NipEe => "nip-ee",
            Profile::Marmot => "marmot",
        }
    }

    /// The kinds of KeyPackage event the profile reads: 443, and in the Marmot profile also
    /// the addressable 30443 that MDK-based messengers publish.
    pub fn key_package_kinds(self) -> &'static [Kind] {
        const NIP_EE: [Kind; 1] = [Kind::MLS_KEY_PACKAGE];
        const MARMOT: [Kind; 2] = [
            Kind::MLS_KEY_PACKAGE,
            marmot::key_package_event::ADDRESSABLE_KEY_PACKAGE,
        ];
        match self {
            Profile::NipEe => &NIP_EE,
            Profile::Marmot => &MARMOT,
        }
    }

    /// The profile a KeyPackage event is written in: Marmot when it is of kind 30443 or
    /// says `["encoding","base64"]`, `nip-ee` otherwise.
    pub fn of_key_package_event(event: &Event) -> Profile {
        if event.kind() == marmot::key_package_event::ADDRESSABLE_KEY_PACKAGE
            || marmot::says_base64(event.tags())
        {
            Profile::Marmot
        } else {
            Profile::NipEe
        }
    }

    /// The profile a Welcome rumor is written in (by its `encoding` tag).
    pub fn of_welcome_rumor(rumor: &UnsignedEvent) -> Profile {
        Self::of_tags(&rumor.tags)
    }

    fn of_tags(tags: &Tags) -> Profile {
        if marmot::says_base64(tags) {
            Profile::Marmot
        } else {
            Profile::NipEe
        }
    }

    /// The credential identity of a Nostr key: 64 hex characters (`nip-ee`) or the raw 32
    /// bytes (Marmot).
    pub fn credential_identity(self, pubkey: &PublicKey) -> Vec<u8> {
        match self {
            Profile::NipEe => key_package_event::credential_identity(pubkey),
            Profile::Marmot => marmot::key_package_event::credential_identity(pubkey),
        }
    }

    /// Checks that a credential identity has the profile's form (Marmot: exactly the raw
    /// 32 bytes, which is all MDK reads; `nip-ee` reads both forms).
    ///
    /// # Errors
    /// [`Error::Malformed`] or [`Error::Nostr`] for an identity the profile does not read.
    pub fn identity_to_pubkey(self, identity: &[u8]) -> Result<PublicKey> {
        match self {
            Profile::NipEe => key_package_event::identity_to_pubkey(identity),
            Profile::Marmot => marmot::key_package_event::identity_to_pubkey(identity),
        }
    }

    /// Generates a KeyPackage with the profile's credential identity.
    ///
    /// # Errors
    /// Those of [`KeyPackageBundle::generate`].
    pub fn generate_key_package<R: CryptoRng + ?Sized>(
        self,
        pubkey: &PublicKey,
        options: &NewKeyPackage,
        rng: &mut R,
    ) -> Result<KeyPackageBundle> {
        match self {
            Profile::NipEe => key_package_event::generate_key_package(pubkey, options, rng),
            Profile::Marmot => {
                marmot::key_package_event::generate_key_package(pubkey, options, rng)
            }
        }
    }

    /// Builds the KeyPackage event.
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
            Profile::Marmot => marmot::key_package_event::build_key_package_event(
                keys,
                key_package,
                options,
                created_at,
            ),
        }
    }

    /// Parses and validates a KeyPackage event of this profile.
    ///
    /// # Errors
    /// As the profile's parser; [`Error::ProfileMismatch`] for an event of the other
    /// profile.
    pub fn parse_key_package_event(
        self,
        event: &Event,
        policy: &ValidationPolicy,
    ) -> Result<KeyPackageEvent> {
        let written = Profile::of_key_package_event(event);
        if written != self {
            return Err(Error::ProfileMismatch {
                expected: self.name(),
                found: written.name(),
            });
        }
        match self {
            Profile::NipEe => key_package_event::parse_key_package_event(event, policy),
            Profile::Marmot => marmot::key_package_event::parse_key_package_event(event, policy),
        }
    }

    /// Gift-wraps a Welcome to `recipient`; `client` names us in the Marmot rumor.
    /// `prefix` is the NIP-44 length-prefix policy of the seal and the wrap:
    /// [`LengthPrefix::Classic`] for receivers that read only the 2-byte prefix.
    ///
    /// # Errors
    /// [`Error::ClassicNip44TooLarge`] when the rumor or its seal does not fit the classic
    /// prefix; as the profile's wrapper.
    #[allow(clippy::too_many_arguments)]
    pub fn wrap_welcome<R: CryptoRng + ?Sized>(
        self,
        rumor: &WelcomeRumor,
        client: Option<&str>,
        sender: &Keys,
        recipient: &PublicKey,
        now: Timestamp,
        prefix: LengthPrefix,
        rng: &mut R,
    ) -> Result<Event> {
        let r = match self {
            Profile::NipEe => rumor.to_rumor(sender.public_key(), now),
            Profile::Marmot => marmot::welcome::to_rumor(rumor, client, sender.public_key(), now),
        };
        let options = nip59::GiftWrapOptions::new().with_length_prefix(prefix);
        nip59::gift_wrap_with(sender, recipient, &r, now, &options, rng).map_err(|e| {
            // The seal fails first when the rumor itself is too long; else the wrap.
            let rumor_too_long = matches!(
                &e,
                nipee_nostr::Error::PlaintextTooLong { found, .. } if *found == r.to_json().len()
            );
            let what = if rumor_too_long {
                "Welcome rumor (the seal's plaintext)"
            } else {
                "Welcome seal (the gift wrap's plaintext)"
            };
            Error::from_nip44(what, e)
        })
    }

    /// Opens a gift-wrapped Welcome addressed to `receiver`, in whichever profile its rumor
    /// is written.
    ///
    /// # Errors
    /// [`Error::NotForUs`] when the wrap does not open with our key; the profile's parser's.
    pub fn open_any_welcome(
        receiver: &Keys,
        gift_wrap: &Event,
    ) -> Result<(Profile, OpenedWelcome)> {
        if gift_wrap.kind() != Kind::GIFT_WRAP {
            return Err(Error::UnexpectedKind {
                expected: Kind::GIFT_WRAP.as_u16(),
                found: gift_wrap.kind().as_u16(),
            });
        }
        let opened = nip59::unwrap_gift_wrap(receiver, gift_wrap).map_err(|e| match e {
            nipee_nostr::Error::BadMac => Error::NotForUs {
                reason: "the gift wrap does not open with our key",
            },
            other => Error::Nostr(other),
        })?;
        let profile = Profile::of_welcome_rumor(&opened.rumor);
        let rumor = match profile {
            Profile::NipEe => WelcomeRumor::from_rumor(&opened.rumor)?,
            Profile::Marmot => marmot::welcome::from_rumor(&opened.rumor)?,
        };
        Ok((
            profile,
            OpenedWelcome {
                sender: opened.sender,
                rumor_id: opened.rumor.id(),
                rumor,
            },
        ))
    }

    /// Opens a gift-wrapped Welcome of this profile addressed to `receiver`.
    ///
    /// # Errors
    /// As [`Profile::open_any_welcome`]; [`Error::ProfileMismatch`] for the other profile.
    pub fn open_welcome(self, receiver: &Keys, event: &Event) -> Result<OpenedWelcome> {
        if self == Profile::NipEe {
            return welcome_event::open_welcome(receiver, event);
        }
        let (found, opened) = Profile::open_any_welcome(receiver, event)?;
        if found != self {
            return Err(Error::ProfileMismatch {
                expected: self.name(),
                found: found.name(),
            });
        }
        Ok(opened)
    }

    /// The group-event key of the current epoch of `group`.
    ///
    /// # Errors
    /// MLS exporter errors.
    pub fn group_event_key(self, group: &Group) -> Result<EventKey> {
        let secret = exporter(self, |l, c, n| group.export_secret(l, c, n))?;
        self.group_event_key_from_secret(&secret)
    }

    /// The group-event key of the epoch a staged commit creates (to recognise events of that
    /// epoch before the commit is merged).
    ///
    /// # Errors
    /// MLS exporter errors (a commit that removes us has no next epoch for us).
    pub fn staged_group_event_key(self, staged: &StagedCommit) -> Result<EventKey> {
        let secret = exporter(self, |l, c, n| staged.export_secret(l, c, n))?;
        self.group_event_key_from_secret(&secret)
    }

    /// A group-event key from a stored exporter secret.
    ///
    /// # Errors
    /// As [`GroupEventKey::from_exporter_secret`].
    pub fn group_event_key_from_secret(self, secret: &[u8; 32]) -> Result<EventKey> {
        Ok(match self {
            Profile::NipEe => EventKey::NipEe(GroupEventKey::from_exporter_secret(secret)?),
            Profile::Marmot => EventKey::Marmot(MarmotEventKey::from_exporter_secret(secret)),
        })
    }

    /// Builds a group event carrying an MLSMessage, signed by the throwaway key `signer`.
    /// `prefix` is the NIP-44 length-prefix policy of NIP-EE content (Marmot content is
    /// ChaCha20-Poly1305, which has no such limit, and ignores it).
    ///
    /// # Errors
    /// As the profile's builder; [`Error::Internal`] for a key of the other profile.
    #[allow(clippy::too_many_arguments)]
    pub fn build_group_event<R: CryptoRng + ?Sized>(
        self,
        key: &EventKey,
        nostr_group_id: &[u8; 32],
        mls_message: &[u8],
        created_at: Timestamp,
        signer: &Keys,
        prefix: LengthPrefix,
        rng: &mut R,
    ) -> Result<Event> {
        match (self, key) {
            (Profile::NipEe, EventKey::NipEe(k)) => envelope::build_group_event_signed(
                k,
                nostr_group_id,
                mls_message,
                created_at,
                signer,
                prefix,
                rng,
            ),
            (Profile::Marmot, EventKey::Marmot(k)) => marmot::envelope::build_group_event(
                k,
                nostr_group_id,
                mls_message,
                created_at,
                signer,
                rng,
            ),
            _ => Err(Error::Internal {
                reason: "a group-event key of another profile",
            }),
        }
    }

    /// The public group id a group event is addressed to (its one `h` tag, after the kind
    /// and signature checks), the same in both profiles.
    ///
    /// # Errors
    /// As [`envelope::group_event_group_id`].
    pub fn group_event_group_id(self, event: &Event) -> Result<[u8; 32]> {
        envelope::group_event_group_id(event)
    }

    /// Checks what a group of this profile requires of a kind-445 event besides its key:
    /// Marmot: the tags (`h`, `encoding` base64, at most an `expiration`) and MDK's window
    /// of `created_at` (at most [`MARMOT_MAX_EVENT_AGE_SECS`] old, at most
    /// [`MARMOT_MAX_FUTURE_SKEW_SECS`] ahead of `now`), so that nipee and MDK members take
    /// the same events.
    ///
    /// # Errors
    /// [`Error::MissingTag`], [`Error::BadTag`], [`Error::FromTheFuture`],
    /// [`Error::TooOld`].
    pub fn check_group_event(self, event: &Event, now: u64) -> Result<()> {
        match self {
            Profile::NipEe => Ok(()),
            Profile::Marmot => {
                marmot::envelope::check_group_event_tags(event)?;
                let created_at = event.created_at().as_u64();
                if created_at > now.saturating_add(MARMOT_MAX_FUTURE_SKEW_SECS) {
                    return Err(Error::FromTheFuture { created_at, now });
                }
                let oldest = now.saturating_sub(MARMOT_MAX_EVENT_AGE_SECS);
                if created_at < oldest {
                    return Err(Error::TooOld { created_at, oldest });
                }
                Ok(())
            }
        }
    }

    /// The group data among GroupContext extensions.
    ///
    /// # Errors
    /// [`Error::Malformed`] when it is missing or does not decode in this profile's layout.
    pub fn group_data(self, extensions: &[Extension]) -> Result<NostrGroupData> {
        let ext = extensions
            .iter()
            .find(|e| e.extension_type == NOSTR_GROUP_DATA)
            .ok_or(Error::malformed(
                "group context",
                "no nostr_group_data extension",
            ))?;
        match self {
            Profile::NipEe => NostrGroupData::decode(&ext.data),
            Profile::Marmot => marmot::group_data::decode(&ext.data),
        }
    }

    /// The `nostr_group_data` extension carrying `data` in this profile's layout.
    ///
    /// # Errors
    /// [`Error::Misuse`] for a value the layout cannot carry.
    pub fn group_data_extension(self, data: &NostrGroupData) -> Result<Extension> {
        match self {
            Profile::NipEe => data.to_extension(),
            Profile::Marmot => Ok(Extension::new(
                NOSTR_GROUP_DATA,
                marmot::group_data::encode(data)?,
            )),
        }
    }

    /// Serializes an inner event as application data (the same JSON in both profiles).
    ///
    /// # Errors
    /// As [`inner::encode_inner_event`].
    pub fn encode_inner_event(self, event: &UnsignedEvent) -> Result<Vec<u8>> {
        inner::encode_inner_event(event)
    }

    /// Parses application data from the member `sender`.
    ///
    /// # Errors
    /// As [`inner::decode_inner_event`].
    pub fn decode_inner_event(self, data: &[u8], sender: &PublicKey) -> Result<UnsignedEvent> {
        inner::decode_inner_event(data, sender)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_named_and_parsed_by_name() {
        for p in [Profile::NipEe, Profile::Marmot] {
            assert_eq!(p.name().parse::<Profile>().unwrap(), p);
        }
        assert!("nostr-mls".parse::<Profile>().is_err());
        assert_eq!(Profile::default(), Profile::NipEe);
    }

    #[test]
    fn each_profile_reads_only_its_own_key_package_events() {
        let mut rng = rand::rng();
        let now = 1_800_000_000;
        let keys = Keys::generate(&mut rng);
        let options = KeyPackageEventOptions {
            relays: vec!["wss://relay.example".into()],
            client: Some("nipee".into()),
            protected: false,
        };
        let policy = ValidationPolicy::at(now + 60);
        for p in [Profile::NipEe, Profile::Marmot] {
            let bundle = p
                .generate_key_package(
                    &keys.public_key(),
                    &NewKeyPackage {
                        now,
                        last_resort: false,
                    },
                    &mut rng,
                )
                .unwrap();
            let e = p
                .build_key_package_event(
                    &keys,
                    bundle.key_package(),
                    &options,
                    Timestamp::from_secs(now),
                )
                .unwrap();
            assert_eq!(Profile::of_key_package_event(&e), p);
            p.parse_key_package_event(&e, &policy).unwrap();
            let other = if p == Profile::NipEe {
                Profile::Marmot
            } else {
                Profile::NipEe
            };
            assert!(matches!(
                other.parse_key_package_event(&e, &policy),
                Err(Error::ProfileMismatch { .. })
            ));
        }
    }

    #[test]
    fn marmot_group_events_must_fall_in_mdks_window() {
        let mut rng = rand::rng();
        let now = 1_800_000_000;
        let key = Profile::Marmot
            .group_event_key_from_secret(&[3; 32])
            .unwrap();
        let signer = Keys::generate(&mut rng);
        let mut at = |t: u64| {
            Profile::Marmot
                .build_group_event(
                    &key,
                    &[1; 32],
                    b"m",
                    Timestamp::from_secs(t),
                    &signer,
                    LengthPrefix::Extended,
                    &mut rng,
                )
                .unwrap()
        };
        Profile::Marmot.check_group_event(&at(now), now).unwrap();
        assert!(matches!(
            Profile::Marmot.check_group_event(&at(now + 301), now),
            Err(Error::FromTheFuture { .. })
        ));
        assert!(matches!(
            Profile::Marmot.check_group_event(&at(now - 46 * 86_400), now),
            Err(Error::TooOld { .. })
        ));
        assert!(
            Profile::NipEe
                .check_group_event(&at(now - 46 * 86_400), now)
                .is_ok()
        );
    }
}
