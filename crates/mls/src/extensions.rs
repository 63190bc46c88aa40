//! The generic `Extension` structure (RFC 9420 §13) as carried in a GroupContext.

use nipee_codec::{Reader, Writer};

use crate::error::Result;

/// Maximum number of extensions accepted in one list.
pub const MAX_EXTENSIONS: usize = 1024;

/// `struct { ExtensionType extension_type; opaque extension_data<V>; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension type.
    pub extension_type: u16,
    /// The opaque extension data.
    pub extension_data: Vec<u8>,
}

/// Writes `Extension extensions<V>`.
pub(crate) fn write_extensions(w: &mut Writer, extensions: &[Extension]) -> Result<()> {
    w.vl("extensions", |w| {
        for ext in extensions {
            w.u16(ext.extension_type);
            w.vl_bytes("extension_data", &ext.extension_data)?;
        }
        Ok::<(), crate::Error>(())
    })
}

/// Reads `Extension extensions<V>`.
pub(crate) fn read_extensions(r: &mut Reader<'_>) -> Result<Vec<Extension>> {
    r.vl_vec("extensions", MAX_EXTENSIONS, |r| {
        Ok::<_, crate::Error>(Extension {
            extension_type: r.u16("extension_type")?,
            extension_data: r.vl_bytes("extension_data")?.to_vec(),
        })
    })
}
