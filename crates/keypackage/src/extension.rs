//! Extensions (RFC 9420 §7.2, §13.4).

use nipee_codec::{Decode, Encode, Reader, Writer};

use crate::Error;
use crate::credential::{check_encode_len, read_bounded, write_bounded};
use crate::error::ExtensionLocation;
use crate::limits::{MAX_EXTENSION_DATA_LEN, MAX_EXTENSIONS};
use crate::types::ExtensionType;

/// One extension: a type and opaque data (at most
/// [`MAX_EXTENSION_DATA_LEN`] bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    /// `extension_type`.
    pub extension_type: ExtensionType,
    /// `extension_data<V>`.
    pub data: Vec<u8>,
}

impl Extension {
    /// An extension of `extension_type` carrying `data`.
    pub fn new(extension_type: ExtensionType, data: impl Into<Vec<u8>>) -> Self {
        Extension {
            extension_type,
            data: data.into(),
        }
    }

    /// The `last_resort` KeyPackage extension (type 0x000A, empty data).
    pub fn last_resort() -> Self {
        Extension::new(ExtensionType::LAST_RESORT, Vec::new())
    }
}

impl Decode for Extension {
    type Error = Error;

    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        let extension_type = ExtensionType::decode(r)?;
        let data = read_bounded(r, "extension_data", MAX_EXTENSION_DATA_LEN)?;
        Ok(Extension {
            extension_type,
            data,
        })
    }
}

impl Encode for Extension {
    type Error = Error;

    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        self.extension_type.encode(w)?;
        write_bounded(w, "extension_data", &self.data, MAX_EXTENSION_DATA_LEN)
    }
}

/// Reads `Extension field<V>` of at most [`MAX_EXTENSIONS`] entries.
pub(crate) fn read_extensions(
    r: &mut Reader<'_>,
    field: &'static str,
) -> Result<Vec<Extension>, Error> {
    r.vl_vec(field, MAX_EXTENSIONS, Extension::decode)
}

/// Writes `Extension field<V>`.
pub(crate) fn write_extensions(
    w: &mut Writer,
    field: &'static str,
    list: &[Extension],
) -> Result<(), Error> {
    check_encode_len(field, list.len(), MAX_EXTENSIONS)?;
    w.vl(field, |w| list.iter().try_for_each(|e| e.encode(w)))
}

/// Fails on the first extension type that appears twice (RFC 9420 §13.4:
/// "Any field containing a list of extensions MUST NOT have more than one
/// extension of any given type").
pub(crate) fn check_no_duplicates(
    list: &[Extension],
    location: ExtensionLocation,
) -> Result<(), Error> {
    for (i, e) in list.iter().enumerate() {
        if list
            .get(..i)
            .unwrap_or_default()
            .iter()
            .any(|p| p.extension_type == e.extension_type)
        {
            return Err(Error::DuplicateExtension {
                location,
                extension_type: e.extension_type,
            });
        }
    }
    Ok(())
}
