use crate::crypto::{CryptoProvider, Secret, derive_secret, expand_with_label};
use crate::error::Result;

/// All secrets of one epoch (§8, Table 4), derived from the previous epoch's `init_secret`,
/// the `commit_secret`, the `psk_secret` and the new GroupContext.
///
/// The struct holds only [`Secret`]s, which zeroize themselves on drop; it has no `Debug`
/// that could print them and no `PartialEq`.
pub struct EpochSecrets {
    /// `joiner_secret`, sent to new members in a Welcome.
    pub joiner_secret: Secret,
    /// `welcome_secret`, from which the Welcome's GroupInfo key and nonce derive.
    pub welcome_secret: Secret,
    /// `sender_data_secret`.
    pub sender_data_secret: Secret,
    /// `encryption_secret`, the root of the secret tree.
    pub encryption_secret: Secret,
    /// `exporter_secret`.
    pub exporter_secret: Secret,
    /// `external_secret`, from which the external HPKE key pair derives.
    pub external_secret: Secret,
    /// `confirmation_key`.
    pub confirmation_key: Secret,
    /// `membership_key`.
    pub membership_key: Secret,
    /// `resumption_psk`.
    pub resumption_psk: Secret,
    /// `epoch_authenticator`.
    pub epoch_authenticator: Secret,
    /// `init_secret` for the next epoch.
    pub init_secret: Secret,
}

impl core::fmt::Debug for EpochSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EpochSecrets").finish_non_exhaustive()
    }
}

impl EpochSecrets {
    /// Derives the epoch's secrets from the previous `init_secret` (§8). `commit_secret` and
    /// `psk_secret` default to the all-zero vector of length `Nh` when absent.
    ///
    /// # Errors
    /// Only for inputs of impossible lengths.
    pub fn derive<P: CryptoProvider + ?Sized>(
        p: &P,
        init_secret: &Secret,
        commit_secret: Option<&Secret>,
        psk_secret: Option<&Secret>,
        group_context: &[u8],
    ) -> Result<Self> {
        let zero = Secret::zero(p.hash_len());
        let commit_secret = commit_secret.unwrap_or(&zero);
        let prk = p.kdf_extract(init_secret.as_bytes(), commit_secret.as_bytes())?;
        let joiner_secret =
            expand_with_label(p, prk.as_bytes(), b"joiner", group_context, p.hash_len())?;
        Self::from_joiner_secret(p, joiner_secret, psk_secret, group_context)
    }

    /// Derives the epoch's secrets from a `joiner_secret` (as a new member does from a
    /// Welcome).
    ///
    /// # Errors
    /// Only for inputs of impossible lengths.
    pub fn from_joiner_secret<P: CryptoProvider + ?Sized>(
        p: &P,
        joiner_secret: Secret,
        psk_secret: Option<&Secret>,
        group_context: &[u8],
    ) -> Result<Self> {
        let zero = Secret::zero(p.hash_len());
        let psk_secret = psk_secret.unwrap_or(&zero);
        let member_prk = p.kdf_extract(joiner_secret.as_bytes(), psk_secret.as_bytes())?;
        let welcome_secret = derive_secret(p, member_prk.as_bytes(), b"welcome")?;
        let epoch_secret = expand_with_label(
            p,
            member_prk.as_bytes(),
            b"epoch",
            group_context,
            p.hash_len(),
        )?;
        let e = epoch_secret.as_bytes();
        Ok(EpochSecrets {
            joiner_secret,
            welcome_secret,
            sender_data_secret: derive_secret(p, e, b"sender data")?,
            encryption_secret: derive_secret(p, e, b"encryption")?,
            exporter_secret: derive_secret(p, e, b"exporter")?,
            external_secret: derive_secret(p, e, b"external")?,
            confirmation_key: derive_secret(p, e, b"confirm")?,
            membership_key: derive_secret(p, e, b"membership")?,
            resumption_psk: derive_secret(p, e, b"resumption")?,
            epoch_authenticator: derive_secret(p, e, b"authentication")?,
            init_secret: derive_secret(p, e, b"init")?,
        })
    }

    /// `MLS-Exporter(Label, Context, Length)` (§8.5).
    ///
    /// # Errors
    /// [`crate::Error::LengthTooLarge`] for lengths the KDF cannot produce.
    #[cfg(feature = "hazmat")]
    pub fn export<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
        label: &[u8],
        context: &[u8],
        length: usize,
    ) -> Result<Secret> {
        mls_exporter(p, &self.exporter_secret, label, context, length)
    }

    /// The external HPKE key pair, `KEM.DeriveKeyPair(external_secret)` (§8.3).
    ///
    /// # Errors
    /// A KEM failure.
    #[cfg(feature = "hazmat")]
    pub fn external_key_pair<P: CryptoProvider + ?Sized>(
        &self,
        p: &P,
    ) -> Result<(crate::crypto::HpkePrivateKey, Vec<u8>)> {
        p.hpke_derive_key_pair(self.external_secret.as_bytes())
    }
}

/// `welcome_secret = DeriveSecret(KDF.Extract(joiner_secret, psk_secret), "welcome")`: what
/// a new member needs to decrypt the GroupInfo before it knows the GroupContext.
///
/// # Errors
/// Only for impossible lengths.
pub fn welcome_secret<P: CryptoProvider + ?Sized>(
    p: &P,
    joiner_secret: &Secret,
    psk_secret: Option<&Secret>,
) -> Result<Secret> {
    let zero = Secret::zero(p.hash_len());
    let prk = p.kdf_extract(
        joiner_secret.as_bytes(),
        psk_secret.unwrap_or(&zero).as_bytes(),
    )?;
    derive_secret(p, prk.as_bytes(), b"welcome")
}

/// `MLS-Exporter` over a given exporter secret.
pub(crate) fn mls_exporter<P: CryptoProvider + ?Sized>(
    p: &P,
    exporter_secret: &Secret,
    label: &[u8],
    context: &[u8],
    length: usize,
) -> Result<Secret> {
    let derived = derive_secret(p, exporter_secret.as_bytes(), label)?;
    expand_with_label(p, derived.as_bytes(), b"exported", &p.hash(context), length)
}

/// The AEAD key and nonce that protect a Welcome's GroupInfo, from the `welcome_secret`
/// (§12.4.3.1).
///
/// # Errors
/// Only for impossible lengths.
pub fn welcome_key_nonce<P: CryptoProvider + ?Sized>(
    p: &P,
    welcome_secret: &Secret,
) -> Result<(Secret, Secret)> {
    let key = expand_with_label(p, welcome_secret.as_bytes(), b"key", &[], p.aead_key_len())?;
    let nonce = expand_with_label(
        p,
        welcome_secret.as_bytes(),
        b"nonce",
        &[],
        p.aead_nonce_len(),
    )?;
    Ok((key, nonce))
}
