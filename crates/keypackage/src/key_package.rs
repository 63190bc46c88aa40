//! KeyPackage (RFC 9420 §10), its validation (§10.1), its reference (§5.2)
//! and its `MLSMessage` framing (§6).

use core::fmt;

use nipee_codec::{Decode, Encode, Reader, Writer, decode_exact};

use crate::Error;
use crate::error::ExtensionLocation;
use crate::extension::{Extension, check_no_duplicates, read_extensions, write_extensions};
use crate::keys::{Hex, SignatureSecretKey};
use crate::leaf_node::{LeafNode, LeafNodeContext};
use crate::sign::{ref_hash, sign_with_label, verify_with_label};
use crate::types::{CipherSuite, ExtensionType, ProtocolVersion, WireFormat};
use crate::validation::ValidationPolicy;

/// The `SignWithLabel` label of a KeyPackage signature.
pub const KEY_PACKAGE_TBS_LABEL: &str = "KeyPackageTBS";

/// The `RefHash` label of a KeyPackageRef (RFC 9420 §5.2).
pub const KEY_PACKAGE_REF_LABEL: &[u8] = b"MLS 1.0 KeyPackage Reference";

/// The only cipher suite this crate implements.
pub const SUITE: CipherSuite = CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519;

/// A KeyPackage of suite 0x0001 (RFC 9420 §10), flat: `init_key` is a 32-byte
/// X25519 key and `signature` a 64-byte Ed25519 signature.
///
/// Decoding is strict and canonical (minimal varints, exact key lengths, no
/// trailing bytes), so encoding a decoded KeyPackage gives back the input
/// byte for byte, and [`KeyPackage::reference`] equals the reference of the
/// bytes received.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyPackage {
    /// `version`.
    pub version: ProtocolVersion,
    /// `cipher_suite`; always 0x0001 after decoding.
    pub cipher_suite: CipherSuite,
    /// `init_key`: the X25519 HPKE public key Welcome messages are sealed to.
    pub init_key: [u8; 32],
    /// `leaf_node`.
    pub leaf_node: LeafNode,
    /// `extensions<V>`.
    pub extensions: Vec<Extension>,
    /// `signature`: `SignWithLabel(., "KeyPackageTBS", KeyPackageTBS)`.
    pub signature: [u8; 64],
}

impl fmt::Debug for KeyPackage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPackage")
            .field("version", &self.version)
            .field("cipher_suite", &self.cipher_suite)
            .field("init_key", &Hex(&self.init_key))
            .field("leaf_node", &self.leaf_node)
            .field("extensions", &self.extensions)
            .field("signature", &Hex(&self.signature))
            .finish()
    }
}

/// `KeyPackageRef` = `RefHash("MLS 1.0 KeyPackage Reference", KeyPackage)`:
/// 32 bytes for SHA-256.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyPackageRef(pub [u8; 32]);

impl KeyPackageRef {
    /// The reference of an encoded KeyPackage, hashed as given.
    ///
    /// # Errors
    /// [`Error::Codec`] only for inputs longer than an MLS vector can hold.
    pub fn of_encoded(key_package: &[u8]) -> Result<Self, Error> {
        ref_hash(KEY_PACKAGE_REF_LABEL, key_package).map(KeyPackageRef)
    }

    /// The reference bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for KeyPackageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPackageRef({:?})", Hex(&self.0))
    }
}

fn write_tbs(
    w: &mut Writer,
    version: ProtocolVersion,
    cipher_suite: CipherSuite,
    init_key: &[u8; 32],
    leaf_node: &LeafNode,
    extensions: &[Extension],
) -> Result<(), Error> {
    version.encode(w)?;
    cipher_suite.encode(w)?;
    w.vl_bytes("init_key", init_key)?;
    leaf_node.encode(w)?;
    write_extensions(w, "key_package.extensions", extensions)
}

impl KeyPackage {
    /// Builds and signs a KeyPackage with `SignWithLabel(signer,
    /// "KeyPackageTBS", ..)`. The LeafNode must already be signed.
    ///
    /// # Errors
    /// [`Error::SignerKeyMismatch`] when `signer` is not the key of
    /// `leaf_node.signature_key`; encoding errors.
    pub fn sign(
        init_key: [u8; 32],
        leaf_node: LeafNode,
        extensions: Vec<Extension>,
        signer: &SignatureSecretKey,
    ) -> Result<Self, Error> {
        if signer.public_key() != leaf_node.signature_key {
            return Err(Error::SignerKeyMismatch);
        }
        let mut kp = KeyPackage {
            version: ProtocolVersion::MLS10,
            cipher_suite: SUITE,
            init_key,
            leaf_node,
            extensions,
            signature: [0; 64],
        };
        kp.signature = sign_with_label(signer, KEY_PACKAGE_TBS_LABEL, &kp.tbs_bytes()?)?;
        Ok(kp)
    }

    /// Decodes a bare KeyPackage that spans all of `bytes`.
    ///
    /// # Errors
    /// [`Error::UnsupportedCipherSuite`] for a suite other than 0x0001 (read
    /// before anything suite-specific), [`Error::Codec`] naming the malformed
    /// field, including trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        decode_exact(bytes)
    }

    /// Decodes an `MLSMessage` carrying a KeyPackage (version `mls10`, wire
    /// format `mls_key_package` = 5) that spans all of `bytes`, and checks
    /// that the KeyPackage's version equals the message's (RFC 9420 §10).
    ///
    /// # Errors
    /// [`Error::UnsupportedProtocolVersion`], [`Error::UnexpectedWireFormat`],
    /// [`Error::MessageVersionMismatch`], and the errors of
    /// [`KeyPackage::from_bytes`].
    pub fn from_mls_message_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let version = ProtocolVersion(r.u16("mls_message.version")?);
        if version != ProtocolVersion::MLS10 {
            return Err(Error::UnsupportedProtocolVersion(version.0));
        }
        let wire_format = WireFormat(r.u16("mls_message.wire_format")?);
        if wire_format != WireFormat::KEY_PACKAGE {
            return Err(Error::UnexpectedWireFormat {
                expected: WireFormat::KEY_PACKAGE.0,
                found: wire_format.0,
            });
        }
        let kp = KeyPackage::decode(&mut r)?;
        r.finish()?;
        if kp.version != version {
            return Err(Error::MessageVersionMismatch {
                message: version,
                key_package: kp.version,
            });
        }
        Ok(kp)
    }

    /// Encodes this KeyPackage inside an `MLSMessage` (wire format
    /// `mls_key_package`).
    ///
    /// # Errors
    /// [`Error::UnsupportedProtocolVersion`] when `version` is not `mls10`;
    /// encoding errors.
    pub fn to_mls_message_bytes(&self) -> Result<Vec<u8>, Error> {
        if self.version != ProtocolVersion::MLS10 {
            return Err(Error::UnsupportedProtocolVersion(self.version.0));
        }
        let mut w = Writer::new();
        w.u16(ProtocolVersion::MLS10.0);
        w.u16(WireFormat::KEY_PACKAGE.0);
        self.encode(&mut w)?;
        Ok(w.into_bytes())
    }

    /// The encoded `KeyPackageTBS`: every field but the signature.
    ///
    /// # Errors
    /// Encoding errors.
    pub fn tbs_bytes(&self) -> Result<Vec<u8>, Error> {
        let mut w = Writer::new();
        write_tbs(
            &mut w,
            self.version,
            self.cipher_suite,
            &self.init_key,
            &self.leaf_node,
            &self.extensions,
        )?;
        Ok(w.into_bytes())
    }

    /// Verifies the KeyPackage signature (not the LeafNode's) with
    /// `leaf_node.signature_key`.
    ///
    /// # Errors
    /// [`Error::InvalidKeyPackageSignature`], [`Error::InvalidSignatureKey`].
    pub fn verify_signature(&self) -> Result<(), Error> {
        verify_with_label(
            &self.leaf_node.signature_key,
            KEY_PACKAGE_TBS_LABEL,
            &self.tbs_bytes()?,
            &self.signature,
        )
        .map_err(|e| match e {
            Error::InvalidSignature { .. } => Error::InvalidKeyPackageSignature,
            other => other,
        })
    }

    /// `MakeKeyPackageRef`: the RefHash of this KeyPackage's encoding.
    ///
    /// # Errors
    /// Encoding errors.
    pub fn reference(&self) -> Result<KeyPackageRef, Error> {
        KeyPackageRef::of_encoded(&self.to_bytes()?)
    }

    /// The first extension of `extension_type` in `extensions`.
    pub fn extension(&self, extension_type: ExtensionType) -> Option<&Extension> {
        self.extensions
            .iter()
            .find(|e| e.extension_type == extension_type)
    }

    /// Whether this is a "last resort" KeyPackage (carries `last_resort`).
    pub fn is_last_resort(&self) -> bool {
        self.extension(ExtensionType::LAST_RESORT).is_some()
    }

    /// Validates this KeyPackage (RFC 9420 §10.1 with §7.3 for its leaf):
    ///
    /// 1. `version` is `mls10` and `cipher_suite` is 0x0001;
    /// 2. the LeafNode is valid in a KeyPackage ([`LeafNode::validate`] with
    ///    [`LeafNodeContext::KeyPackage`]: source, credential type, leaf
    ///    extensions, lifetime, leaf signature);
    /// 3. the leaf's capabilities list this version and cipher suite;
    /// 4. no KeyPackage extension type repeats (§13.4);
    /// 5. `init_key` differs from `leaf_node.encryption_key`;
    /// 6. the KeyPackage signature verifies with `leaf_node.signature_key`.
    ///
    /// Unknown values, GREASE included, are ignored where RFC 9420 §13 says
    /// so: in every capability list, and in `KeyPackage.extensions`, whose
    /// types need not be listed in the capabilities ("unknown extensions in
    /// `KeyPackage.extensions` MUST be ignored"; §10.1 has no such step).
    /// `LeafNode.extensions` are the exception: §7.3 requires each of their
    /// types in `capabilities.extensions`, GREASE or not.
    ///
    /// # Errors
    /// [`Error::UnsupportedProtocolVersion`], [`Error::CipherSuiteMismatch`],
    /// the errors of [`LeafNode::validate`],
    /// [`Error::VersionNotInCapabilities`],
    /// [`Error::CipherSuiteNotInCapabilities`], [`Error::DuplicateExtension`],
    /// [`Error::InitKeyEqualsEncryptionKey`],
    /// [`Error::InvalidKeyPackageSignature`].
    pub fn validate(&self, policy: &ValidationPolicy) -> Result<(), Error> {
        self.check(policy, true)
    }

    /// Every check of [`KeyPackage::validate`], in the same order, except the
    /// two signature verifications (the leaf's and the KeyPackage's). For
    /// callers that verify those signatures themselves, for example nipee-mls,
    /// which verifies the signatures of every KeyPackage of a commit in one
    /// batch; and for a KeyPackage this crate has just signed itself. A
    /// KeyPackage that passed only this check is not valid.
    ///
    /// # Errors
    /// Those of [`KeyPackage::validate`] but the two signature errors.
    pub fn validate_structure(&self, policy: &ValidationPolicy) -> Result<(), Error> {
        self.check(policy, false)
    }

    /// The checks of [`KeyPackage::validate`] in their order, the signatures
    /// only when `verify_signatures`.
    fn check(&self, policy: &ValidationPolicy, verify_signatures: bool) -> Result<(), Error> {
        if self.version != ProtocolVersion::MLS10 {
            return Err(Error::UnsupportedProtocolVersion(self.version.0));
        }
        if self.cipher_suite != SUITE {
            return Err(Error::CipherSuiteMismatch {
                expected: SUITE,
                found: self.cipher_suite,
            });
        }
        self.leaf_node
            .check(policy, LeafNodeContext::KeyPackage, verify_signatures)?;

        let capabilities = &self.leaf_node.capabilities;
        if !capabilities.supports_version(self.version) {
            return Err(Error::VersionNotInCapabilities(self.version));
        }
        if !capabilities.supports_cipher_suite(self.cipher_suite) {
            return Err(Error::CipherSuiteNotInCapabilities(self.cipher_suite));
        }
        // RFC 9420 §13: "A client processing a KeyPackage object MUST ignore
        // ... all unknown extensions in the `extensions` ... fields": only
        // duplicates are refused here, never a type missing from the
        // capabilities (GREASE or any other).
        check_no_duplicates(&self.extensions, ExtensionLocation::KeyPackage)?;

        if self.init_key == self.leaf_node.encryption_key {
            return Err(Error::InitKeyEqualsEncryptionKey);
        }
        if verify_signatures {
            self.verify_signature()
        } else {
            Ok(())
        }
    }
}

impl Decode for KeyPackage {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        let version = ProtocolVersion::decode(r)?;
        let cipher_suite = CipherSuite::decode(r)?;
        if cipher_suite != SUITE {
            return Err(Error::UnsupportedCipherSuite(cipher_suite.0));
        }
        Ok(KeyPackage {
            version,
            cipher_suite,
            init_key: r.vl_array("init_key")?,
            leaf_node: LeafNode::decode(r)?,
            extensions: read_extensions(r, "key_package.extensions")?,
            signature: r.vl_array("key_package.signature")?,
        })
    }
}

impl Encode for KeyPackage {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        write_tbs(
            w,
            self.version,
            self.cipher_suite,
            &self.init_key,
            &self.leaf_node,
            &self.extensions,
        )?;
        w.vl_bytes("key_package.signature", &self.signature)?;
        Ok(())
    }
}
