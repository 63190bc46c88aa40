//! Property tests: encode → decode is the identity, and arbitrary bytes never
//! panic the decoder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_codec::{Decode, Encode, Error, Reader, Writer, varint};
use proptest::prelude::*;

/// A representative structure: the shape of an MLS Extension list entry plus
/// an optional key and a fixed signature.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Sample {
    version: u16,
    key: [u8; 32],
    extensions: Vec<(u16, Vec<u8>)>,
    parent_hash: Option<Vec<u8>>,
    signature: [u8; 64],
}

impl Encode for Sample {
    type Error = Error;
    fn encode(&self, w: &mut Writer) -> Result<(), Error> {
        w.u16(self.version);
        w.vl_bytes("key", &self.key)?;
        w.vl("extensions", |w| {
            for (ty, data) in &self.extensions {
                w.u16(*ty);
                w.vl_bytes("extension_data", data)?;
            }
            Ok::<_, Error>(())
        })?;
        w.optional(self.parent_hash.as_ref(), |w, h| {
            w.vl_bytes("parent_hash", h)
        })?;
        w.vl_bytes("signature", &self.signature)
    }
}

impl Decode for Sample {
    type Error = Error;
    fn decode(r: &mut Reader<'_>) -> Result<Self, Error> {
        Ok(Sample {
            version: r.u16("version")?,
            key: r.vl_array("key")?,
            extensions: r.vl_vec("extensions", 64, |r| {
                Ok::<_, Error>((
                    r.u16("extension_type")?,
                    r.vl_bytes("extension_data")?.to_vec(),
                ))
            })?,
            parent_hash: r.optional("parent_hash", |r| {
                r.vl_bytes("parent_hash").map(<[u8]>::to_vec)
            })?,
            signature: r.vl_array("signature")?,
        })
    }
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        any::<u16>(),
        any::<[u8; 32]>(),
        prop::collection::vec(
            (any::<u16>(), prop::collection::vec(any::<u8>(), 0..200)),
            0..10,
        ),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..100)),
        prop::collection::vec(any::<u8>(), 64..=64),
    )
        .prop_map(|(version, key, extensions, parent_hash, sig)| Sample {
            version,
            key,
            extensions,
            parent_hash,
            signature: sig.try_into().unwrap(),
        })
}

proptest! {
    #[test]
    fn varint_roundtrips_and_matches_tls_codec(v in 0u64..=nipee_codec::MAX_VARINT) {
        let mut out = Vec::new();
        varint::write_varint("v", v, &mut out).unwrap();
        let (back, rest) = varint::read_varint("v", &out).unwrap();
        prop_assert_eq!(back, v);
        prop_assert!(rest.is_empty());
        prop_assert_eq!(varint::encoded_len(v).unwrap(), out.len());
        // tls_codec (with its `mls` feature) reads our encoding as the same value.
        let (tls, rest) = <tls_codec::TlsVarInt as tls_codec::DeserializeBytes>::tls_deserialize_bytes(&out).unwrap();
        prop_assert_eq!(tls.value(), v);
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn structure_roundtrips(s in sample()) {
        let bytes = s.to_bytes().unwrap();
        let back: Sample = nipee_codec::decode_exact(&bytes).unwrap();
        prop_assert_eq!(back, s);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = nipee_codec::decode_exact::<Sample>(&bytes);
        let _ = varint::read_varint("v", &bytes);
        let _ = nipee_codec::decode_exact_tls::<tls_codec::VLBytes>(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic_and_never_decode_to_something_longer(
        s in sample(), pos in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        let mut bytes = s.to_bytes().unwrap();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        if let Ok(back) = nipee_codec::decode_exact::<Sample>(&bytes) {
            // Whatever decodes re-encodes to exactly the input: decoding is strict.
            prop_assert_eq!(back.to_bytes().unwrap(), bytes);
        }
    }

    #[test]
    fn truncations_always_fail(s in sample(), cut in any::<prop::sample::Index>()) {
        let bytes = s.to_bytes().unwrap();
        let n = cut.index(bytes.len());
        prop_assert!(nipee_codec::decode_exact::<Sample>(&bytes[..n]).is_err());
    }
}
