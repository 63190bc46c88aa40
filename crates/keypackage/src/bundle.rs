//! Generating a KeyPackage with its private keys, and storing the bundle.

use core::fmt;

use nipee_codec::{Encode, Reader, Writer};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::Error;
use crate::capabilities::Capabilities;
use crate::credential::Credential;
use crate::extension::Extension;
use crate::grease::{GREASE_RANDOM_LEN, grease_extension, grease_leaf_node};
use crate::key_package::{KeyPackage, SUITE};
use crate::keys::{HpkeSecretKey, SignatureSecretKey};
use crate::leaf_node::{LeafNodeSource, UnsignedLeafNode};
use crate::lifetime::Lifetime;
use crate::types::{CredentialType, ExtensionType, ProtocolVersion};
use crate::validation::ValidationPolicy;

/// How far `not_before` lies in the past by default, for clock skew: 1 hour.
pub const DEFAULT_BACKDATE_SECS: u64 = 3600;
/// How far `not_after` lies in the future by default: 12 weeks. With the
/// default backdate the total is [`crate::DEFAULT_MAX_LIFETIME_SECS`].
pub const DEFAULT_LIFETIME_SECS: u64 = 12 * 7 * 24 * 3600;
/// The format version of [`KeyPackageBundle::to_storage_bytes`].
pub const STORAGE_VERSION: u8 = 1;

/// Options for [`KeyPackageBundle::generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPackageOptions {
    /// The current time, seconds since the Unix epoch (the caller owns the
    /// clock).
    pub now: u64,
    /// `not_before = now - backdate_secs`, to tolerate clock skew.
    pub backdate_secs: u64,
    /// `not_after = now + lifetime_secs`.
    pub lifetime_secs: u64,
    /// The leaf's capabilities. Generation adds whatever this KeyPackage
    /// itself uses and is missing (`mls10`, suite 0x0001, `basic`, and the
    /// non-default types of both extension lists), so the result always
    /// validates.
    pub capabilities: Capabilities,
    /// `KeyPackage.extensions` (for example [`Extension::last_resort`]).
    pub key_package_extensions: Vec<Extension>,
    /// `LeafNode.extensions`.
    pub leaf_extensions: Vec<Extension>,
    /// Put a random selection of GREASE values (RFC 9420 §13.5) in the
    /// leaf's capabilities: one or two values in each of
    /// `capabilities.cipher_suites`, `.extensions`, `.proposals` and
    /// `.credentials` (see [`crate::grease`]). GREASE values already in the
    /// options are replaced by the random selection. On by default; turn it
    /// off (with [`KeyPackageOptions::grease_extensions`]) to rebuild a
    /// KeyPackage byte for byte from recorded inputs: without GREASE,
    /// generation draws exactly 100 bytes from the random source, and its
    /// output for a given seed is what it has always been.
    pub grease: bool,
    /// With [`KeyPackageOptions::grease`], also put one GREASE extension in
    /// `LeafNode.extensions` and one in `KeyPackage.extensions` (up to 16
    /// random bytes of data each, both types listed in
    /// `capabilities.extensions`): every field §13.5 names. Off by default
    /// because OpenMLS up to 0.9.2 (and the clients built on it) refuses any
    /// KeyPackage that carries a GREASE extension (see [`crate::grease`]).
    pub grease_extensions: bool,
}

impl KeyPackageOptions {
    /// Defaults: lifetime from one hour before `now` to twelve weeks after,
    /// [`Capabilities::default`], no extensions, GREASE in the capabilities
    /// but no GREASE extensions.
    pub fn new(now: u64) -> Self {
        KeyPackageOptions {
            now,
            backdate_secs: DEFAULT_BACKDATE_SECS,
            lifetime_secs: DEFAULT_LIFETIME_SECS,
            capabilities: Capabilities::default(),
            key_package_extensions: Vec::new(),
            leaf_extensions: Vec::new(),
            grease: true,
            grease_extensions: false,
        }
    }

    /// What NIP-EE asks of a KeyPackage: a `last_resort` KeyPackage whose
    /// capabilities list `last_resort` (0x000A) and `nostr_group_data`
    /// (0xF2EE), with GREASE.
    pub fn nip_ee(now: u64) -> Self {
        let mut options = KeyPackageOptions::new(now).last_resort();
        options
            .capabilities
            .add_extension(ExtensionType::NOSTR_GROUP_DATA);
        options
    }

    /// These options without any GREASE (see [`KeyPackageOptions::grease`]).
    #[must_use]
    pub fn without_grease(mut self) -> Self {
        self.grease = false;
        self.grease_extensions = false;
        self
    }

    /// These options with GREASE in every field RFC 9420 §13.5 names,
    /// extensions included (see [`KeyPackageOptions::grease_extensions`]).
    #[must_use]
    pub fn with_grease_extensions(mut self) -> Self {
        self.grease = true;
        self.grease_extensions = true;
        self
    }

    /// Adds the `last_resort` extension (and lists it in capabilities).
    #[must_use]
    pub fn last_resort(mut self) -> Self {
        if !self
            .key_package_extensions
            .iter()
            .any(|e| e.extension_type == ExtensionType::LAST_RESORT)
        {
            self.key_package_extensions.push(Extension::last_resort());
        }
        self.capabilities.add_extension(ExtensionType::LAST_RESORT);
        self
    }
}

/// A KeyPackage with its three private keys: the X25519 `init_key` and
/// `encryption_key` secrets and the Ed25519 signature key.
///
/// `Debug` shows the KeyPackage and the public keys only. Private keys are
/// zeroized on drop.
pub struct KeyPackageBundle {
    key_package: KeyPackage,
    init_secret: HpkeSecretKey,
    encryption_secret: HpkeSecretKey,
    signature_secret: SignatureSecretKey,
}

impl fmt::Debug for KeyPackageBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPackageBundle")
            .field("key_package", &self.key_package)
            .finish_non_exhaustive()
    }
}

/// The random bytes of one KeyPackage: the three private keys, four bytes no
/// longer used (they chose the GREASE values of earlier versions; still drawn
/// so that a KeyPackage without GREASE is what it always was for a given
/// seed), then, with GREASE only, the selections for the leaf and for the
/// KeyPackage extension.
struct Seed {
    keys: Zeroizing<[u8; 100]>,
    grease: Option<Zeroizing<[u8; 2 * GREASE_RANDOM_LEN]>>,
}

impl Seed {
    fn fill(
        grease: bool,
        mut fill: impl FnMut(&mut [u8]) -> Result<(), Error>,
    ) -> Result<Self, Error> {
        let mut keys = Zeroizing::new([0u8; 100]);
        fill(keys.as_mut_slice())?;
        let grease = if grease {
            let mut g = Zeroizing::new([0u8; 2 * GREASE_RANDOM_LEN]);
            fill(g.as_mut_slice())?;
            Some(g)
        } else {
            None
        };
        Ok(Seed { keys, grease })
    }

    fn key(&self, i: usize) -> Result<Zeroizing<[u8; 32]>, Error> {
        let slice = self
            .keys
            .get(i * 32..(i + 1) * 32)
            .ok_or(Error::Internal("seed too short"))?;
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(slice);
        Ok(out)
    }

    /// The two GREASE selections (leaf, KeyPackage extension), with GREASE on.
    fn grease(&self) -> Option<([u8; GREASE_RANDOM_LEN], [u8; GREASE_RANDOM_LEN])> {
        let g = self.grease.as_ref()?;
        let (a, b) = g.split_at(GREASE_RANDOM_LEN);
        Some((a.try_into().ok()?, b.try_into().ok()?))
    }
}

impl KeyPackageBundle {
    /// Generates fresh X25519 init and encryption keys and an Ed25519
    /// signature key from `rng`, and builds a KeyPackage for a basic
    /// credential of `identity`, both layers signed with `SignWithLabel`.
    /// The result is validated at `options.now` before it is returned.
    ///
    /// # Errors
    /// [`Error::TooLargeToEncode`] for an oversize identity or extension,
    /// [`Error::InvalidOptions`] when `now + lifetime_secs` overflows, and
    /// any validation error (for example a broken `rng` yielding
    /// [`Error::InitKeyEqualsEncryptionKey`]).
    pub fn generate<R: CryptoRng + ?Sized>(
        identity: &[u8],
        options: &KeyPackageOptions,
        rng: &mut R,
    ) -> Result<Self, Error> {
        let seed = Seed::fill(options.grease, |out| {
            rng.fill_bytes(out);
            Ok(())
        })?;
        Self::from_seed(identity, options, &seed)
    }

    /// [`KeyPackageBundle::generate`] with randomness from the operating
    /// system (`getrandom::fill`). On wasm32 the application must enable
    /// getrandom's `wasm_js` backend.
    ///
    /// # Errors
    /// [`Error::RandomnessUnavailable`], and those of
    /// [`KeyPackageBundle::generate`].
    #[cfg(feature = "getrandom")]
    pub fn generate_with_os_entropy(
        identity: &[u8],
        options: &KeyPackageOptions,
    ) -> Result<Self, Error> {
        let seed = Seed::fill(options.grease, |out| {
            getrandom::fill(out).map_err(|_| Error::RandomnessUnavailable)
        })?;
        Self::from_seed(identity, options, &seed)
    }

    fn from_seed(identity: &[u8], options: &KeyPackageOptions, seed: &Seed) -> Result<Self, Error> {
        let init_secret = HpkeSecretKey::from_bytes(*seed.key(0)?);
        let encryption_secret = HpkeSecretKey::from_bytes(*seed.key(1)?);
        let signature_secret = SignatureSecretKey::from_bytes(*seed.key(2)?);

        let mut capabilities = options.capabilities.clone();
        if !capabilities.supports_version(ProtocolVersion::MLS10) {
            capabilities.versions.push(ProtocolVersion::MLS10);
        }
        if !capabilities.supports_cipher_suite(SUITE) {
            capabilities.cipher_suites.push(SUITE);
        }
        if !capabilities.supports_credential(CredentialType::BASIC) {
            capabilities.credentials.push(CredentialType::BASIC);
        }
        for e in options
            .key_package_extensions
            .iter()
            .chain(&options.leaf_extensions)
        {
            capabilities.add_extension(e.extension_type);
        }

        let not_after = options
            .now
            .checked_add(options.lifetime_secs)
            .ok_or(Error::InvalidOptions("now + lifetime_secs overflows"))?;
        let lifetime = Lifetime {
            not_before: options.now.saturating_sub(options.backdate_secs),
            not_after,
        };

        let mut leaf_node = UnsignedLeafNode {
            encryption_key: encryption_secret.public_key(),
            signature_key: signature_secret.public_key(),
            credential: Credential::basic(identity)?,
            capabilities,
            leaf_node_source: LeafNodeSource::KeyPackage { lifetime },
            extensions: options.leaf_extensions.clone(),
        };
        let mut key_package_extensions = options.key_package_extensions.clone();
        if let Some((leaf_random, key_package_random)) = seed.grease() {
            let with_extensions = options.grease_extensions;
            grease_leaf_node(&mut leaf_node, &leaf_random, with_extensions);
            key_package_extensions.retain(|e| !e.extension_type.is_grease());
            if with_extensions {
                let extension = grease_extension(&key_package_random);
                // Receivers must not require it (RFC 9420 §13), but §10 asks
                // the sender to list it.
                leaf_node
                    .capabilities
                    .add_extension(extension.extension_type);
                key_package_extensions.push(extension);
            }
        }
        let leaf_node = leaf_node.sign(&signature_secret, &[], 0)?;
        let key_package = KeyPackage::sign(
            init_secret.public_key(),
            leaf_node,
            key_package_extensions,
            &signature_secret,
        )?;

        // Never hand out a KeyPackage this crate would refuse. The length
        // limit is the caller's choice here, so only the clock is checked.
        // Both signatures were just made by ed25519-dalek with the key whose
        // public half the leaf carries (a point of prime order derived from a
        // seed, canonical `S`), so `verify_strict` would accept them by
        // construction: every other check of `validate` runs, the two
        // signature verifications (half the cost of generating) do not. The
        // tests verify generated KeyPackages in full.
        let mut policy = ValidationPolicy::at(options.now);
        policy.max_lifetime_secs = None;
        key_package.validate_structure(&policy)?;

        Ok(KeyPackageBundle {
            key_package,
            init_secret,
            encryption_secret,
            signature_secret,
        })
    }

    /// The public KeyPackage.
    pub fn key_package(&self) -> &KeyPackage {
        &self.key_package
    }

    /// The private key of `key_package().init_key` (opens the Welcome).
    pub fn init_secret(&self) -> &HpkeSecretKey {
        &self.init_secret
    }

    /// The private key of `leaf_node.encryption_key` (the member's leaf key
    /// in the ratchet tree).
    pub fn encryption_secret(&self) -> &HpkeSecretKey {
        &self.encryption_secret
    }

    /// The Ed25519 key of `leaf_node.signature_key`.
    pub fn signature_secret(&self) -> &SignatureSecretKey {
        &self.signature_secret
    }

    /// The KeyPackage and its private keys: `(key_package, init_secret,
    /// encryption_secret, signature_secret)`.
    pub fn into_parts(self) -> (KeyPackage, HpkeSecretKey, HpkeSecretKey, SignatureSecretKey) {
        (
            self.key_package,
            self.init_secret,
            self.encryption_secret,
            self.signature_secret,
        )
    }

    /// Serializes the bundle for storage:
    /// `uint8 version = 1; opaque key_package<V>; opaque init_secret[32];
    /// opaque encryption_secret[32]; opaque signature_secret[32]`.
    /// The bytes hold private keys: encrypt them at rest.
    ///
    /// # Errors
    /// Encoding errors.
    pub fn to_storage_bytes(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let key_package = self.key_package.to_bytes()?;
        let mut w = Writer::with_capacity(key_package.len() + 104);
        w.u8(STORAGE_VERSION);
        w.vl_bytes("key_package", &key_package)?;
        w.bytes(self.init_secret.expose_secret());
        w.bytes(self.encryption_secret.expose_secret());
        w.bytes(self.signature_secret.expose_secret());
        Ok(Zeroizing::new(w.into_bytes()))
    }

    /// Loads a bundle written by [`KeyPackageBundle::to_storage_bytes`] and
    /// checks that each private key belongs to its public key. The
    /// KeyPackage is not re-validated (its lifetime may have passed).
    ///
    /// # Errors
    /// [`Error::StorageVersion`] for another format version,
    /// [`Error::CorruptStorage`] for malformed bytes,
    /// [`Error::StorageKeyMismatch`] naming the key that does not match, and
    /// [`Error::UnsupportedCipherSuite`].
    pub fn from_storage_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let version = r.u8("storage_version").map_err(Error::CorruptStorage)?;
        if version != STORAGE_VERSION {
            return Err(Error::StorageVersion {
                expected: STORAGE_VERSION,
                found: version,
            });
        }
        let corrupt = |e: Error| match e {
            Error::Codec(c) => Error::CorruptStorage(c),
            other => other,
        };
        let key_package_bytes = r.vl_bytes("key_package").map_err(Error::CorruptStorage)?;
        let key_package = KeyPackage::from_bytes(key_package_bytes).map_err(corrupt)?;
        let mut read_secret = |field: &'static str| -> Result<Zeroizing<[u8; 32]>, Error> {
            let mut out = Zeroizing::new([0u8; 32]);
            out.copy_from_slice(r.bytes(field, 32).map_err(Error::CorruptStorage)?);
            Ok(out)
        };
        let init_secret = HpkeSecretKey::from_bytes(*read_secret("init_secret")?);
        let encryption_secret = HpkeSecretKey::from_bytes(*read_secret("encryption_secret")?);
        let signature_secret = SignatureSecretKey::from_bytes(*read_secret("signature_secret")?);
        r.finish().map_err(Error::CorruptStorage)?;

        if init_secret.public_key() != key_package.init_key {
            return Err(Error::StorageKeyMismatch { field: "init_key" });
        }
        if encryption_secret.public_key() != key_package.leaf_node.encryption_key {
            return Err(Error::StorageKeyMismatch {
                field: "encryption_key",
            });
        }
        if signature_secret.public_key() != key_package.leaf_node.signature_key {
            return Err(Error::StorageKeyMismatch {
                field: "signature_key",
            });
        }
        Ok(KeyPackageBundle {
            key_package,
            init_secret,
            encryption_secret,
            signature_secret,
        })
    }
}
