//! NIP-59 gift wrap: rumor (unsigned) → seal (kind 13, signed by the author) → gift wrap
//! (kind 1059, signed by a one-time key, `p`-tagged to the receiver).
//!
//! Time is a parameter: the seal's and the wrap's `created_at` are drawn independently and
//! uniformly from `[now - max_backdate, now]`, never in the future. The NIP-44 layers use
//! the extended length prefix by default, so rumors above 64 KiB (large MLS Welcomes) fit;
//! [`GiftWrapOptions::length_prefix`] restricts both layers to the classic prefix for
//! receivers that read only that one.

use rand_core::CryptoRng;

use crate::error::{Error, Result};
use crate::event::{Event, EventBuilder, Kind, Timestamp, UnsignedEvent};
use crate::keys::{Keys, PublicKey};
use crate::nip44::{self, ConversationKey, LengthPrefix};
use crate::signer::Signer;
use crate::tag::{Tag, Tags};

/// Two days, the customary NIP-17/NIP-59 backdating window.
pub const DEFAULT_MAX_BACKDATE_SECS: u64 = 2 * 24 * 60 * 60;

/// Options for [`gift_wrap_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GiftWrapOptions {
    /// The wrapper kind: [`Kind::GIFT_WRAP`] (1059) or [`Kind::EPHEMERAL_GIFT_WRAP`] (21059).
    pub kind: Kind,
    /// Extra tags on the gift wrap after the receiver's `p` tag (e.g. NIP-40 expiration).
    pub extra_tags: Vec<Tag>,
    /// Largest backdating of the seal and wrap timestamps, in seconds.
    pub max_backdate_secs: u64,
    /// The NIP-44 length prefixes the seal and the wrap may use:
    /// [`LengthPrefix::Extended`] (the default) or [`LengthPrefix::Classic`], under which
    /// a rumor whose seal exceeds 65 535 bytes fails with [`Error::PlaintextTooLong`].
    pub length_prefix: LengthPrefix,
}

impl Default for GiftWrapOptions {
    fn default() -> Self {
        GiftWrapOptions {
            kind: Kind::GIFT_WRAP,
            extra_tags: Vec::new(),
            max_backdate_secs: DEFAULT_MAX_BACKDATE_SECS,
            length_prefix: LengthPrefix::Extended,
        }
    }
}

impl GiftWrapOptions {
    /// Default options (kind 1059, no extra tags, two-day backdating window, extended
    /// length prefix).
    pub fn new() -> Self {
        Self::default()
    }

    /// These options with `prefix` as the NIP-44 length-prefix policy.
    pub fn with_length_prefix(mut self, prefix: LengthPrefix) -> Self {
        self.length_prefix = prefix;
        self
    }
}

fn random_past<R: CryptoRng + ?Sized>(now: Timestamp, window: u64, rng: &mut R) -> Timestamp {
    if window == 0 {
        return now;
    }
    // Modulo bias is below 2^-40 for any window under 2^24 seconds; irrelevant here.
    let back = rng.next_u64() % (window + 1);
    now.saturating_sub(back)
}

/// Builds the seal (kind 13): the rumor's JSON NIP-44-encrypted by `author` to
/// `receiver`, empty tags, randomized past timestamp, signed by `author`.
///
/// `author` is any [`Signer`] (`&Keys` works); it performs one NIP-44 encryption and one
/// signature.
///
/// # Errors
/// [`Error::Misuse`] if `rumor.pubkey` is not `author`'s key; the signer's errors.
pub fn seal<S, R>(
    author: &S,
    receiver: &PublicKey,
    rumor: &UnsignedEvent,
    now: Timestamp,
    max_backdate_secs: u64,
    rng: &mut R,
) -> Result<Event>
where
    S: Signer + ?Sized,
    R: CryptoRng + ?Sized,
{
    seal_with_prefix(
        author,
        receiver,
        rumor,
        now,
        max_backdate_secs,
        LengthPrefix::Extended,
        rng,
    )
}

/// [`seal`] under an explicit NIP-44 length-prefix policy (through
/// [`Signer::nip44_encrypt_with_prefix`]).
///
/// # Errors
/// As [`seal`]; [`Error::PlaintextTooLong`] when the rumor's JSON does not fit `prefix`.
pub fn seal_with_prefix<S, R>(
    author: &S,
    receiver: &PublicKey,
    rumor: &UnsignedEvent,
    now: Timestamp,
    max_backdate_secs: u64,
    prefix: LengthPrefix,
    rng: &mut R,
) -> Result<Event>
where
    S: Signer + ?Sized,
    R: CryptoRng + ?Sized,
{
    let author_pk = author.public_key();
    if rumor.pubkey != author_pk {
        return Err(Error::Misuse {
            field: "rumor",
            reason: "the rumor's pubkey must be the author's",
        });
    }
    let content = {
        let mut rng: &mut R = rng;
        author.nip44_encrypt_with_prefix(receiver, &rumor.to_json(), prefix, &mut rng)?
    };
    let created_at = random_past(now, max_backdate_secs, rng);
    author.sign_event(UnsignedEvent::new(
        author_pk,
        created_at,
        Kind::SEAL,
        Tags::new(),
        content,
    ))
}

/// Seals `rumor` from `author` and gift-wraps it to `receiver` (kind 1059, default
/// options). `rumor.pubkey` must be the author's key. The wrap itself is signed by a
/// fresh one-time key drawn from `rng`; only the seal goes through `author`.
///
/// # Errors
/// [`Error::Misuse`] if the rumor's pubkey is not the author's; the signer's errors.
pub fn gift_wrap<S, R>(
    author: &S,
    receiver: &PublicKey,
    rumor: &UnsignedEvent,
    now: Timestamp,
    rng: &mut R,
) -> Result<Event>
where
    S: Signer + ?Sized,
    R: CryptoRng + ?Sized,
{
    gift_wrap_with(
        author,
        receiver,
        rumor,
        now,
        &GiftWrapOptions::default(),
        rng,
    )
}

/// [`gift_wrap`] with explicit options.
///
/// # Errors
/// [`Error::Misuse`] if the rumor's pubkey is not the author's or the kind is not a gift
/// wrap kind; [`Error::PlaintextTooLong`] when the rumor (in the seal) or the seal (in the
/// wrap) does not fit [`GiftWrapOptions::length_prefix`]; the signer's errors.
pub fn gift_wrap_with<S, R>(
    author: &S,
    receiver: &PublicKey,
    rumor: &UnsignedEvent,
    now: Timestamp,
    options: &GiftWrapOptions,
    rng: &mut R,
) -> Result<Event>
where
    S: Signer + ?Sized,
    R: CryptoRng + ?Sized,
{
    if options.kind != Kind::GIFT_WRAP && options.kind != Kind::EPHEMERAL_GIFT_WRAP {
        return Err(Error::Misuse {
            field: "kind",
            reason: "a gift wrap is kind 1059 or 21059",
        });
    }
    let prefix = options.length_prefix;
    let seal = seal_with_prefix(
        author,
        receiver,
        rumor,
        now,
        options.max_backdate_secs,
        prefix,
        rng,
    )?;
    let ephemeral = Keys::generate(rng);
    let ck = ConversationKey::derive(ephemeral.secret_key(), receiver);
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    let content = nip44::encrypt_with_nonce(&ck, seal.to_json().as_bytes(), &nonce, prefix)?;
    let mut tags = Tags::new();
    tags.push(Tag::public_key(receiver));
    for t in &options.extra_tags {
        tags.push(t.clone());
    }
    Ok(EventBuilder::new(options.kind, content)
        .tags(tags.into_vec())
        .sign_with_rng(
            &ephemeral,
            random_past(now, options.max_backdate_secs, rng),
            rng,
        ))
}

/// The result of unwrapping: the rumor and its verified sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnwrappedGift {
    /// The inner unsigned event. Its id was checked when present.
    pub rumor: UnsignedEvent,
    /// The seal's signer, equal to `rumor.pubkey` (checked).
    pub sender: PublicKey,
    /// The seal, for callers that want its timestamp or id.
    pub seal: Event,
}

/// Unwraps a gift wrap addressed to `receiver` (any [`Signer`]; `&Keys` works), which
/// performs two NIP-44 decryptions.
///
/// Verifies the wrap's id and signature (already proven for any `Event` not built by an
/// `_unchecked` constructor, see [`Event::is_verified`]), decrypts
/// the seal, verifies the seal's id and signature, requires kind 13 with empty tags,
/// decrypts the rumor, rejects a signed rumor or a wrong rumor id, and rejects a seal
/// whose pubkey differs from the rumor's (impersonation).
///
/// # Errors
/// [`Error::UnexpectedKind`], [`Error::IdMismatch`], [`Error::BadSignature`], NIP-44
/// errors, [`Error::Json`], [`Error::GiftWrap`], [`Error::SealAuthorMismatch`], the
/// signer's errors.
pub fn unwrap_gift_wrap<S: Signer + ?Sized>(
    receiver: &S,
    gift_wrap: &Event,
) -> Result<UnwrappedGift> {
    let k = gift_wrap.kind();
    if k != Kind::GIFT_WRAP && k != Kind::EPHEMERAL_GIFT_WRAP {
        return Err(Error::UnexpectedKind {
            expected: "1059 or 21059 (gift wrap)",
            found: k.as_u16(),
        });
    }
    // An `Event` is verified on construction unless it came from an `_unchecked`
    // constructor; only then is the work repeated here.
    if !gift_wrap.is_verified() {
        gift_wrap.verify_id()?;
        gift_wrap
            .verify_signature()
            .map_err(|_| Error::BadSignature { what: "gift wrap" })?;
    }
    let seal_json = receiver
        .nip44_decrypt(&gift_wrap.pubkey(), gift_wrap.content())
        .map_err(|e| not_utf8_as(e, "seal", "decrypted seal is not UTF-8"))?;
    let seal_json = seal_json.as_str();
    let seal = Event::from_json(seal_json).map_err(|e| match e {
        Error::BadSignature { .. } => Error::BadSignature { what: "seal" },
        other => other,
    })?;
    if seal.kind() != Kind::SEAL {
        return Err(Error::UnexpectedKind {
            expected: "13 (seal)",
            found: seal.kind().as_u16(),
        });
    }
    if !seal.tags().is_empty() {
        return Err(Error::GiftWrap {
            layer: "seal",
            reason: "a seal's tags must be empty",
        });
    }
    let rumor_json = receiver
        .nip44_decrypt(&seal.pubkey(), seal.content())
        .map_err(|e| not_utf8_as(e, "rumor", "decrypted rumor is not UTF-8"))?;
    let rumor_json = rumor_json.as_str();
    let rumor = UnsignedEvent::from_json(rumor_json)?;
    if rumor.pubkey != seal.pubkey() {
        return Err(Error::SealAuthorMismatch {
            seal: seal.pubkey().to_hex(),
            rumor: rumor.pubkey.to_hex(),
        });
    }
    Ok(UnwrappedGift {
        sender: seal.pubkey(),
        rumor,
        seal,
    })
}

fn not_utf8_as(e: Error, layer: &'static str, reason: &'static str) -> Error {
    match e {
        Error::NotUtf8 => Error::GiftWrap { layer, reason },
        other => other,
    }
}
