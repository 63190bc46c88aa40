//! Welcome rumors (kind 444) and their NIP-59 gift wraps.
//!
//! The rumor is unsigned (it has an id), its content is the lower-case hex of the TLS
//! `MLSMessage(Welcome)`, and it carries `["relays", url, …]` and `["e", KeyPackage event
//! id]` (in that order, as nostr-mls writes them). It is sealed by the committer and
//! gift-wrapped to the invitee.

use nipee_mls::{MlsMessageIn, WireFormat};
use nipee_nostr::{
    Event, EventId, Keys, Kind, PublicKey, Tag, Tags, Timestamp, UnsignedEvent, nip59,
};
use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::tree_transfer::TreeRef;

/// Longest accepted kind-444 content (hex characters): 8 MiB of MLSMessage.
pub const MAX_WELCOME_HEX: usize = 16 << 20;

/// The parts of a Welcome rumor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WelcomeRumor {
    /// The TLS `MLSMessage` whose body is a Welcome.
    pub mls_message: Vec<u8>,
    /// The KeyPackage event the Welcome consumes.
    pub key_package_event_id: EventId,
    /// Relays of the group.
    pub relays: Vec<String>,
    /// Where the ratchet tree is when the Welcome's GroupInfo leaves it out (nipee's own
    /// `ratchet_tree` tag, see [`crate::tree_transfer`]).
    pub ratchet_tree: Option<TreeRef>,
}

impl WelcomeRumor {
    /// The unsigned kind-444 event from `sender` at `created_at`.
    pub fn to_rumor(&self, sender: PublicKey, created_at: Timestamp) -> UnsignedEvent {
        let mut tags = Tags::new();
        tags.push(Tag::relays(self.relays.iter().map(String::as_str)));
        tags.push(Tag::event(&self.key_package_event_id, None, None));
        if let Some(t) = &self.ratchet_tree {
            tags.push(t.to_tag());
        }
        UnsignedEvent::new(
            sender,
            created_at,
            Kind::MLS_WELCOME,
            tags,
            hex::encode(&self.mls_message),
        )
    }

    /// Parses a kind-444 rumor: hex content that decodes as an `MLSMessage` with a Welcome
    /// body, one `e` tag.
    ///
    /// # Errors
    /// [`Error::UnexpectedKind`], [`Error::MissingTag`], [`Error::Malformed`],
    /// [`Error::Mls`] when the content is not an MLSMessage(Welcome).
    pub fn from_rumor(rumor: &UnsignedEvent) -> Result<Self> {
        if rumor.kind != Kind::MLS_WELCOME {
            return Err(Error::UnexpectedKind {
                expected: Kind::MLS_WELCOME.as_u16(),
                found: rumor.kind.as_u16(),
            });
        }
        if rumor.content.len() > MAX_WELCOME_HEX {
            return Err(Error::malformed("kind 444 content", "too long"));
        }
        let ids = rumor.tags.event_ids()?;
        let key_package_event_id = match ids.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::MissingTag {
                    kind: Kind::MLS_WELCOME.as_u16(),
                    tag: "e",
                });
            }
            _ => {
                return Err(Error::BadTag {
                    tag: "e",
                    expected: "exactly one KeyPackage event id",
                    found: format!("{} e tags", ids.len()),
                });
            }
        };
        let relays = rumor.tags.relays().into_iter().map(str::to_owned).collect();
        let mls_message = hex::decode(&rumor.content)
            .map_err(|e| Error::malformed("kind 444 content", e.to_string()))?;
        if MlsMessageIn::parse(&mls_message)?.wire_format() != WireFormat::Welcome {
            return Err(Error::malformed(
                "kind 444 content",
                "the MLSMessage is not a Welcome",
            ));
        }
        Ok(WelcomeRumor {
            mls_message,
            key_package_event_id,
            relays,
            ratchet_tree: TreeRef::from_tags(&rumor.tags)?,
        })
    }

    /// Seals (signed by `sender`) and gift-wraps the rumor to `recipient`.
    ///
    /// # Errors
    /// Those of [`nip59::gift_wrap`].
    pub fn gift_wrap<R: CryptoRng + ?Sized>(
        &self,
        sender: &Keys,
        recipient: &PublicKey,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Event> {
        let rumor = self.to_rumor(sender.public_key(), now);
        Ok(nip59::gift_wrap(sender, recipient, &rumor, now, rng)?)
    }
}

/// A Welcome opened from a gift wrap.
#[derive(Debug, Clone)]
pub struct OpenedWelcome {
    /// The committer who sealed it (checked equal to the rumor's pubkey).
    pub sender: PublicKey,
    /// The rumor's id.
    pub rumor_id: EventId,
    /// The rumor's parts (its MLS message checked to be a Welcome).
    pub rumor: WelcomeRumor,
}

/// Unwraps a kind-1059 gift wrap addressed to `receiver` and parses the Welcome inside.
///
/// # Errors
/// [`Error::NotForUs`] when the wrap does not open with `receiver`'s key, and those of
/// [`WelcomeRumor::from_rumor`].
pub fn open_welcome(receiver: &Keys, gift_wrap: &Event) -> Result<OpenedWelcome> {
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
    let rumor = WelcomeRumor::from_rumor(&opened.rumor)?;
    Ok(OpenedWelcome {
        sender: opened.sender,
        rumor_id: opened.rumor.id(),
        rumor,
    })
}
