//! Joining structures (RFC 9420 §12.4.3): GroupInfo, GroupSecrets and Welcome, with the
//! signing and encryption that protect them.

use nipee_codec::{Decode, Encode, Reader, Writer};

use crate::crypto::{
    CipherSuite, CryptoProvider, HpkeCiphertext, HpkePrivateKey, Secret, SignatureSecretKey, ct_eq,
    decrypt_with_label, sign_with_label, verify_with_label,
};
use crate::error::{Error, Result};
use crate::extensions::{Extension, read_extensions, write_extensions};
use crate::framing::{read_hpke_ciphertext, write_hpke_ciphertext};
use crate::schedule::{GroupContext, PreSharedKeyId, welcome_key_nonce};

/// Upper bound on the entries of a Welcome and on the PSKs of GroupSecrets.
pub const MAX_WELCOME_ENTRIES: usize = 1 << 20;

/// `GroupInfo` (§12.4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The GroupContext of the new epoch.
    pub group_context: GroupContext,
    /// GroupInfo extensions (e.g. `ratchet_tree`, `external_pub`).
    pub extensions: Vec<Extension>,
    /// The commit's confirmation tag.
    pub confirmation_tag: Vec<u8>,
    /// The leaf index of the signer.
    pub signer: u32,
    /// `SignWithLabel(., "GroupInfoTBS", GroupInfoTBS)`.
    pub signature: Vec<u8>,
}

impl GroupInfo {
    fn tbs(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new();
        w.bytes(&self.group_context.encode()?);
        write_extensions(&mut w, &self.extensions)?;
        w.vl_bytes("confirmation_tag", &self.confirmation_tag)?;
        w.u32(self.signer);
        Ok(w.into_bytes())
    }

    /// Signs the GroupInfo in place.
    ///
    /// # Errors
    /// A malformed key.
    pub fn sign<P: CryptoProvider + ?Sized>(
        &mut self,
        p: &P,
        key: &SignatureSecretKey,
    ) -> Result<()> {
        self.signature = sign_with_label(p, key, b"GroupInfoTBS", &self.tbs()?)?;
        Ok(())
    }

    /// Verifies the signature under the signer's public key.
    ///
    /// # Errors
    /// [`Error::BadSignature`].
    pub fn verify<P: CryptoProvider + ?Sized>(&self, p: &P, signer_key: &[u8]) -> Result<()> {
        verify_with_label(
            p,
            signer_key,
            b"GroupInfoTBS",
            &self.tbs()?,
            &self.signature,
            "GroupInfo",
        )
    }

    /// Checks the confirmation tag against the epoch's `confirmation_key`.
    ///
    /// # Errors
    /// [`Error::BadConfirmationTag`].
    pub fn verify_confirmation_tag<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        confirmation_key: &Secret,
    ) -> Result<()> {
        let expected = p.mac(
            confirmation_key.as_bytes(),
            &self.group_context.confirmed_transcript_hash,
        )?;
        if ct_eq(&expected, &self.confirmation_tag) {
            Ok(())
        } else {
            Err(Error::BadConfirmationTag)
        }
    }
}

impl Encode for GroupInfo {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.bytes(&self.tbs()?);
        w.vl_bytes("signature", &self.signature)?;
        Ok(())
    }
}

impl Decode for GroupInfo {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(GroupInfo {
            group_context: GroupContext::read(r)?,
            extensions: read_extensions(r)?,
            confirmation_tag: r.vl_bytes("confirmation_tag")?.to_vec(),
            signer: r.u32("signer")?,
            signature: r.vl_bytes("signature")?.to_vec(),
        })
    }
}

/// `GroupSecrets` (§12.4.3): what a new member decrypts from its Welcome entry.
pub struct GroupSecrets {
    /// The epoch's `joiner_secret`.
    pub joiner_secret: Secret,
    /// The path secret for the lowest common ancestor with the committer, if any.
    pub path_secret: Option<Secret>,
    /// The PSKs the new member must supply.
    pub psks: Vec<PreSharedKeyId>,
}

impl core::fmt::Debug for GroupSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupSecrets")
            .field("has_path_secret", &self.path_secret.is_some())
            .field("psks", &self.psks)
            .finish_non_exhaustive()
    }
}

impl Encode for GroupSecrets {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.vl_bytes("joiner_secret", self.joiner_secret.as_bytes())?;
        w.optional(self.path_secret.as_ref(), |w, s| {
            w.vl_bytes("path_secret", s.as_bytes())
        })?;
        w.vl("psks", |w| {
            for id in &self.psks {
                id.write(w)?;
            }
            Ok::<(), Error>(())
        })
    }
}

impl Decode for GroupSecrets {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(GroupSecrets {
            joiner_secret: Secret::from_slice(r.vl_bytes("joiner_secret")?),
            path_secret: r.optional("path_secret", |r| {
                Ok::<_, Error>(Secret::from_slice(r.vl_bytes("path_secret")?))
            })?,
            psks: r.vl_vec("psks", MAX_WELCOME_ENTRIES, PreSharedKeyId::read)?,
        })
    }
}

/// `EncryptedGroupSecrets` (§12.4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedGroupSecrets {
    /// The KeyPackageRef of the new member.
    pub new_member: Vec<u8>,
    /// `EncryptWithLabel(init_key, "Welcome", encrypted_group_info, GroupSecrets)`.
    pub encrypted_group_secrets: HpkeCiphertext,
}

/// `Welcome` (§12.4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// The group's cipher suite.
    pub cipher_suite: CipherSuite,
    /// One entry per new member.
    pub secrets: Vec<EncryptedGroupSecrets>,
    /// The GroupInfo, AEAD-encrypted under the welcome key.
    pub encrypted_group_info: Vec<u8>,
}

impl Welcome {
    /// Finds the entry for `key_package_ref` and decrypts its GroupSecrets with the
    /// KeyPackage's init private key.
    ///
    /// # Errors
    /// [`Error::InvalidState`] if no entry names the KeyPackage,
    /// [`Error::HpkeDecryptionFailed`], [`Error::Malformed`].
    pub fn decrypt_group_secrets<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        key_package_ref: &[u8],
        init_private_key: &HpkePrivateKey,
    ) -> Result<GroupSecrets> {
        let entry = self
            .secrets
            .iter()
            .find(|s| s.new_member == key_package_ref)
            .ok_or(Error::InvalidState {
                reason: "the Welcome has no entry for our KeyPackage",
            })?;
        let mut pt = decrypt_with_label(
            p,
            init_private_key,
            b"Welcome",
            &self.encrypted_group_info,
            &entry.encrypted_group_secrets.kem_output,
            &entry.encrypted_group_secrets.ciphertext,
        )?;
        let gs = nipee_codec::decode_exact::<GroupSecrets>(&pt);
        zeroize::Zeroize::zeroize(&mut pt);
        gs
    }

    /// Decrypts the GroupInfo with the key and nonce derived from `welcome_secret`.
    ///
    /// # Errors
    /// [`Error::DecryptionFailed`], [`Error::Malformed`].
    pub fn decrypt_group_info<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        welcome_secret: &Secret,
    ) -> Result<GroupInfo> {
        let (key, nonce) = welcome_key_nonce(p, welcome_secret)?;
        let pt = p.aead_open(
            key.as_bytes(),
            nonce.as_bytes(),
            &[],
            &self.encrypted_group_info,
            "GroupInfo",
        )?;
        nipee_codec::decode_exact::<GroupInfo>(&pt)
    }

    /// Encrypts a GroupInfo under the key and nonce derived from `welcome_secret`.
    ///
    /// # Errors
    /// Encoding failures.
    pub fn encrypt_group_info<P: CryptoProvider + ?Sized>(
        p: &P,
        welcome_secret: &Secret,
        group_info: &GroupInfo,
    ) -> Result<Vec<u8>> {
        let (key, nonce) = welcome_key_nonce(p, welcome_secret)?;
        let mut w = Writer::new();
        group_info.encode(&mut w)?;
        p.aead_seal(key.as_bytes(), nonce.as_bytes(), &[], w.as_bytes())
    }
}

impl Encode for Welcome {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<()> {
        w.u16(self.cipher_suite.0);
        w.vl("secrets", |w| {
            for s in &self.secrets {
                w.vl_bytes("new_member", &s.new_member)?;
                write_hpke_ciphertext(w, &s.encrypted_group_secrets)?;
            }
            Ok::<(), Error>(())
        })?;
        w.vl_bytes("encrypted_group_info", &self.encrypted_group_info)?;
        Ok(())
    }
}

impl Decode for Welcome {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Welcome {
            cipher_suite: CipherSuite(r.u16("cipher_suite")?),
            secrets: r.vl_vec("secrets", MAX_WELCOME_ENTRIES, |r| {
                Ok::<_, Error>(EncryptedGroupSecrets {
                    new_member: r.vl_bytes("new_member")?.to_vec(),
                    encrypted_group_secrets: read_hpke_ciphertext(r)?,
                })
            })?,
            encrypted_group_info: r.vl_bytes("encrypted_group_info")?.to_vec(),
        })
    }
}
