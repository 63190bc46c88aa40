//! secp256k1 keys for Nostr: secret keys, x-only public keys, key pairs, BIP-340 signatures.

use core::fmt;
use core::hash::{Hash, Hasher};

use rand_core::CryptoRng;
use secp256k1::{Keypair, XOnlyPublicKey, schnorr};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::util;

/// A secp256k1 secret key: a scalar in `[1, n-1]`.
///
/// Not `Copy`; the bytes are zeroized on drop; `Debug` prints no secret; equality is
/// constant-time.
#[derive(Clone)]
pub struct SecretKey {
    bytes: Zeroizing<[u8; 32]>,
    inner: secp256k1::SecretKey,
}

impl SecretKey {
    /// Validates 32 big-endian bytes as a secret scalar.
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if the value is zero or not below the curve order.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        let inner =
            secp256k1::SecretKey::from_secret_bytes(*bytes).map_err(|_| Error::InvalidKey {
                field: "secret key",
            })?;
        Ok(SecretKey {
            bytes: Zeroizing::new(*bytes),
            inner,
        })
    }

    /// Like [`SecretKey::from_bytes`], from a slice that must be exactly 32 bytes.
    ///
    /// # Errors
    /// [`Error::Length`] or [`Error::InvalidKey`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: &[u8; 32] = bytes.try_into().map_err(|_| Error::Length {
            field: "secret key",
            expected: 32,
            found: bytes.len(),
            unit: "bytes",
        })?;
        Self::from_bytes(arr)
    }

    /// Parses 64 lowercase hex characters.
    ///
    /// # Errors
    /// [`Error::Length`], [`Error::Hex`] or [`Error::InvalidKey`].
    pub fn from_hex(hex: &str) -> Result<Self> {
        let bytes = Zeroizing::new(util::decode_hex_array::<32>("secret key", hex)?);
        Self::from_bytes(&bytes)
    }

    /// Parses either lowercase hex or a NIP-19 `nsec`.
    ///
    /// # Errors
    /// As [`SecretKey::from_hex`] or [`SecretKey::from_bech32`].
    pub fn parse(s: &str) -> Result<Self> {
        if s.starts_with("nsec1") {
            Self::from_bech32(s)
        } else {
            Self::from_hex(s)
        }
    }

    /// Draws a uniformly random secret key from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        loop {
            rng.fill_bytes(bytes.as_mut());
            // A random 256-bit value is >= n with probability about 2^-128.
            if let Ok(sk) = Self::from_bytes(&bytes) {
                return sk;
            }
        }
    }

    /// Draws a secret key from the operating system's RNG (`getrandom`).
    ///
    /// # Errors
    /// [`Error::Rng`] if the platform has no usable RNG.
    pub fn generate_os() -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        loop {
            os_random(bytes.as_mut())?;
            if let Ok(sk) = Self::from_bytes(&bytes) {
                return Ok(sk);
            }
        }
    }

    /// The x-only public key of this secret key.
    pub fn public_key(&self) -> PublicKey {
        let (xonly, _) = self.to_secp().x_only_public_key();
        PublicKey::from_xonly(xonly)
    }

    /// A copy of the secret bytes (zeroized when dropped). Handle with care.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.bytes)
    }

    /// The secret as lowercase hex (zeroized when dropped). Handle with care.
    pub fn to_secret_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(util::to_hex(self.bytes.as_ref()))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub(crate) fn to_secp(&self) -> secp256k1::SecretKey {
        self.inner
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        // `bytes` zeroizes itself; the libsecp256k1 copy is erased with a volatile write.
        self.inner.non_secure_erase();
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.as_ref().ct_eq(other.bytes.as_ref()).into()
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Fills `buf` from the operating system's RNG.
pub(crate) fn os_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Rng {
        reason: e.to_string(),
    })
}

/// A BIP-340 x-only public key (a valid curve point, stored with its 32-byte encoding).
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    xonly: XOnlyPublicKey,
}

impl PublicKey {
    pub(crate) fn from_xonly(xonly: XOnlyPublicKey) -> Self {
        PublicKey {
            bytes: xonly.to_byte_array(),
            xonly,
        }
    }

    /// Validates 32 bytes as the x coordinate of a secp256k1 point (BIP-340 `lift_x`).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] if no point has this x coordinate or it is not below the
    /// field size.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        let xonly = XOnlyPublicKey::from_byte_array(*bytes).map_err(|_| Error::InvalidKey {
            field: "public key",
        })?;
        Ok(PublicKey {
            bytes: *bytes,
            xonly,
        })
    }

    /// Like [`PublicKey::from_bytes`], from a slice that must be exactly 32 bytes.
    ///
    /// # Errors
    /// [`Error::Length`] or [`Error::InvalidKey`].
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let arr: &[u8; 32] = bytes.try_into().map_err(|_| Error::Length {
            field: "public key",
            expected: 32,
            found: bytes.len(),
            unit: "bytes",
        })?;
        Self::from_bytes(arr)
    }

    /// Parses 64 lowercase hex characters.
    ///
    /// # Errors
    /// [`Error::Length`], [`Error::Hex`] or [`Error::InvalidKey`].
    pub fn from_hex(hex: &str) -> Result<Self> {
        Self::from_hex_field("public key", hex)
    }

    pub(crate) fn from_hex_field(field: &'static str, hex: &str) -> Result<Self> {
        let bytes = util::decode_hex_array::<32>(field, hex)?;
        XOnlyPublicKey::from_byte_array(bytes)
            .map(|xonly| PublicKey { bytes, xonly })
            .map_err(|_| Error::InvalidKey { field })
    }

    /// Parses either lowercase hex or a NIP-19 `npub`.
    ///
    /// # Errors
    /// As [`PublicKey::from_hex`] or [`PublicKey::from_bech32`].
    pub fn parse(s: &str) -> Result<Self> {
        if s.starts_with("npub1") {
            Self::from_bech32(s)
        } else {
            Self::from_hex(s)
        }
    }

    /// The 32-byte x-only encoding.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.bytes
    }

    /// The 32-byte x-only encoding, borrowed.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Lowercase hex (64 characters).
    pub fn to_hex(&self) -> String {
        util::to_hex(&self.bytes)
    }

    pub(crate) fn hex_array(&self) -> [u8; 64] {
        util::hex_array(&self.bytes)
    }

    /// The full (even-y) point, for ECDH.
    pub(crate) fn full_point(&self) -> secp256k1::PublicKey {
        self.xonly.public_key(secp256k1::Parity::Even)
    }

    /// Verifies a BIP-340 signature over an arbitrary-length message.
    ///
    /// # Errors
    /// [`Error::BadSignature`] if it does not verify.
    pub fn verify_bip340(&self, msg: &[u8], sig: &Signature) -> Result<()> {
        let s = schnorr::Signature::from_byte_array(sig.0);
        schnorr::verify(&s, msg, &self.xonly).map_err(|_| Error::BadSignature { what: "message" })
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
impl Eq for PublicKey {}
impl Hash for PublicKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}
impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl core::str::FromStr for PublicKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        PublicKey::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// A 64-byte BIP-340 Schnorr signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub(crate) [u8; 64]);

impl Signature {
    /// Wraps 64 bytes (no validity check: that happens on verification).
    pub fn from_bytes(bytes: [u8; 64]) -> Self {
        Signature(bytes)
    }

    /// Parses 128 lowercase hex characters.
    ///
    /// # Errors
    /// [`Error::Length`] or [`Error::Hex`].
    pub fn from_hex(hex: &str) -> Result<Self> {
        util::decode_hex_array::<64>("sig", hex).map(Signature)
    }

    /// The 64 bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0
    }

    /// Lowercase hex (128 characters).
    pub fn to_hex(&self) -> String {
        util::to_hex(&self.0)
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", self.to_hex())
    }
}

impl serde::Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Signature {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Signature::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// A key pair: secret key, its precomputed libsecp256k1 key pair, and the x-only public key.
///
/// Signing reuses the precomputed key pair, so keep a `Keys` around rather than rebuilding
/// it per signature. `Debug` shows only the public key.
pub struct Keys {
    secret: SecretKey,
    keypair: Keypair,
    public: PublicKey,
}

impl Keys {
    /// Builds the key pair for `secret`.
    pub fn new(secret: SecretKey) -> Self {
        let keypair = Keypair::from_secret_key(&secret.to_secp());
        let (xonly, _) = keypair.x_only_public_key();
        Keys {
            secret,
            keypair,
            public: PublicKey::from_xonly(xonly),
        }
    }

    /// A fresh random key pair drawn from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::new(SecretKey::generate(rng))
    }

    /// A fresh random key pair drawn from the operating system's RNG.
    ///
    /// # Errors
    /// [`Error::Rng`] if the platform has no usable RNG.
    pub fn generate_os() -> Result<Self> {
        Ok(Self::new(SecretKey::generate_os()?))
    }

    /// Parses a secret key given as lowercase hex or NIP-19 `nsec`.
    ///
    /// # Errors
    /// As [`SecretKey::parse`].
    pub fn parse(secret: &str) -> Result<Self> {
        Ok(Self::new(SecretKey::parse(secret)?))
    }

    /// The x-only public key.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The secret key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// BIP-340 signature over an arbitrary-length message with the given auxiliary
    /// randomness (use fresh random bytes; fixed values only for known-answer tests).
    pub fn sign_bip340_with_aux_rand(&self, msg: &[u8], aux_rand: &[u8; 32]) -> Signature {
        Signature(schnorr::sign_with_aux_rand(msg, &self.keypair, aux_rand).to_byte_array())
    }

    /// BIP-340 signature with auxiliary randomness drawn from `rng`.
    pub fn sign_bip340_with_rng<R: CryptoRng + ?Sized>(
        &self,
        msg: &[u8],
        rng: &mut R,
    ) -> Signature {
        let mut aux = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(aux.as_mut());
        self.sign_bip340_with_aux_rand(msg, &aux)
    }

    /// BIP-340 signature with auxiliary randomness from the operating system's RNG.
    ///
    /// # Errors
    /// [`Error::Rng`] if the platform has no usable RNG.
    pub fn sign_bip340(&self, msg: &[u8]) -> Result<Signature> {
        let mut aux = Zeroizing::new([0u8; 32]);
        os_random(aux.as_mut())?;
        Ok(self.sign_bip340_with_aux_rand(msg, &aux))
    }
}

impl Clone for Keys {
    fn clone(&self) -> Self {
        Keys {
            secret: self.secret.clone(),
            keypair: self.keypair,
            public: self.public,
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.keypair.non_secure_erase();
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("public_key", &self.public)
            .finish_non_exhaustive()
    }
}
