//! The official `deserialization.json` vectors (RFC 9420 varint length headers)
//! and the negative cases around them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nipee_codec::{Error, MAX_VARINT, Reader, Writer, varint};
use tls_codec::{DeserializeBytes, Serialize};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../vectors/mls/deserialization.json"
);

#[derive(serde::Deserialize)]
struct Case {
    vlbytes_header: String,
    length: u64,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(VECTORS).expect("the vectors/ folder of the repository");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_official_vlbytes_header_decodes_and_reencodes() {
    let cases = cases();
    assert_eq!(cases.len(), 14, "the upstream file has 14 cases");
    for case in cases {
        let header = hex::decode(&case.vlbytes_header).unwrap();
        let (value, rest) = varint::read_varint("header", &header).unwrap();
        assert_eq!(value, case.length, "header {}", case.vlbytes_header);
        assert!(rest.is_empty());

        let mut out = Vec::new();
        varint::write_varint("header", case.length, &mut out).unwrap();
        assert_eq!(out, header, "encoding of {}", case.length);

        // tls_codec (with its `mls` feature) agrees on the same header.
        let (tls_value, _) = tls_codec::TlsVarInt::tls_deserialize_bytes(&header).unwrap();
        assert_eq!(tls_value.value(), case.length);
    }
}

#[test]
fn official_headers_followed_by_their_content_decode_as_vectors() {
    // Only the small lengths: a gigabyte of content is not needed to prove it.
    for case in cases().into_iter().filter(|c| c.length <= 1 << 16) {
        let mut input = hex::decode(&case.vlbytes_header).unwrap();
        let len = usize::try_from(case.length).unwrap();
        input.extend(std::iter::repeat_n(0xAB, len));
        let mut r = Reader::new(&input);
        assert_eq!(r.vl_bytes("content").unwrap().len(), len);
        r.finish().unwrap();

        // The same header with one byte of content missing is refused.
        if len > 0 {
            let short = &input[..input.len() - 1];
            let err = Reader::new(short).vl_bytes("content").unwrap_err();
            assert!(matches!(
                err,
                Error::LengthExceedsInput {
                    field: "content",
                    ..
                }
            ));
        }
    }
}

#[test]
fn non_minimal_varints_are_rejected() {
    for (hex_in, value, len) in [
        ("4000", 0u64, 2usize),
        ("403f", 63, 2),
        ("80000000", 0, 4),
        ("80003fff", 0x3fff, 4),
        ("4001", 1, 2),
    ] {
        let bytes = hex::decode(hex_in).unwrap();
        assert_eq!(
            varint::read_varint("len", &bytes).unwrap_err(),
            Error::NonMinimalVarint {
                field: "len",
                value,
                encoded_len: len
            },
            "{hex_in}"
        );
    }
}

#[test]
fn the_reserved_0b11_prefix_is_rejected() {
    for first in [0xC0u8, 0xC1, 0xFF] {
        let bytes = [first, 0, 0, 0, 0, 0, 0, 0x40];
        assert_eq!(
            Reader::new(&bytes).varint("len").unwrap_err(),
            Error::ReservedVarintPrefix { field: "len" }
        );
    }
}

#[test]
fn truncated_varints_are_rejected() {
    for hex_in in ["", "40", "80", "8000", "800000"] {
        let bytes = hex::decode(hex_in).unwrap();
        let err = Reader::new(&bytes).varint("len").unwrap_err();
        assert!(
            matches!(err, Error::Truncated { field: "len", .. }),
            "{hex_in}: {err}"
        );
    }
}

#[test]
fn values_beyond_thirty_bits_cannot_be_encoded() {
    let mut out = Vec::new();
    varint::write_varint("len", MAX_VARINT, &mut out).unwrap();
    assert_eq!(out, [0xBF, 0xFF, 0xFF, 0xFF]);
    let err = varint::write_varint("len", MAX_VARINT + 1, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, Error::TooLongToEncode { field: "len", .. }));
    assert_eq!(err.kind(), nipee_codec::ErrorKind::Misuse);
}

#[test]
fn declared_length_beyond_the_input_fails_before_allocating() {
    // A 4-byte header declaring ~1 GiB, followed by three bytes.
    let input = [0xBF, 0xFF, 0xFF, 0xFF, 1, 2, 3];
    let err = Reader::new(&input).vl_bytes("payload").unwrap_err();
    assert_eq!(
        err,
        Error::LengthExceedsInput {
            field: "payload",
            declared: MAX_VARINT,
            remaining: 3
        }
    );
    // The same through an element vector: the error comes before any element.
    let err = Reader::new(&input)
        .vl_vec("items", usize::MAX, |r| r.u8("item"))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::LengthExceedsInput { field: "items", .. }
    ));
}

#[test]
fn fixed_size_keys_of_31_or_33_bytes_are_typed_errors_naming_the_field() {
    for found in [31usize, 33, 0, 64] {
        let mut w = Writer::new();
        w.vl_bytes("init_key", &vec![1u8; found]).unwrap();
        let err = Reader::new(w.as_bytes())
            .vl_array::<32>("init_key")
            .unwrap_err();
        assert_eq!(
            err,
            Error::LengthMismatch {
                field: "init_key",
                expected: 32,
                found
            }
        );
    }
    let mut w = Writer::new();
    w.vl_bytes("init_key", &[1u8; 32]).unwrap();
    assert_eq!(
        Reader::new(w.as_bytes())
            .vl_array::<32>("init_key")
            .unwrap(),
        [1u8; 32]
    );
}

#[test]
fn trailing_bytes_fail_decode_exact() {
    assert_eq!(nipee_codec::decode_exact::<u16>(&[0, 1]).unwrap(), 1);
    assert_eq!(
        nipee_codec::decode_exact::<u16>(&[0, 1, 2]).unwrap_err(),
        Error::TrailingBytes { count: 1 }
    );
    let err = nipee_codec::decode_exact::<u32>(&[0, 1]).unwrap_err();
    assert!(matches!(err, Error::Truncated { field: "u32", .. }));
}

#[test]
fn optional_presence_byte_must_be_zero_or_one() {
    let mut r = Reader::new(&[0]);
    assert_eq!(r.optional("opt", |r| r.u8("v")).unwrap(), None);
    let mut r = Reader::new(&[1, 9]);
    assert_eq!(r.optional("opt", |r| r.u8("v")).unwrap(), Some(9));
    let err = Reader::new(&[2, 9])
        .optional("opt", |r| r.u8("v"))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidValue {
            field: "opt",
            value: 2,
            ..
        }
    ));
}

#[test]
fn element_vectors_are_bounded() {
    let mut w = Writer::new();
    w.vl("items", |w| {
        for i in 0..5u16 {
            w.u16(i);
        }
        Ok::<_, Error>(())
    })
    .unwrap();
    let items = Reader::new(w.as_bytes())
        .vl_vec("items", 5, |r| r.u16("item"))
        .unwrap();
    assert_eq!(items, vec![0, 1, 2, 3, 4]);
    let err = Reader::new(w.as_bytes())
        .vl_vec("items", 4, |r| r.u16("item"))
        .unwrap_err();
    assert_eq!(
        err,
        Error::LimitExceeded {
            field: "items",
            limit: 4,
            found: 5
        }
    );
    // An element that runs past the end of its vector is truncated, even if
    // bytes follow the vector.
    let bytes = [3u8, 0, 1, 2, 9, 9];
    let err = Reader::new(&bytes)
        .vl_vec("items", 10, |r| r.u16("item"))
        .unwrap_err();
    assert!(matches!(err, Error::Truncated { field: "item", .. }));
}

#[test]
fn tls_codec_structures_interoperate_with_reader_and_writer() {
    let value = tls_codec::VLBytes::new(vec![5u8; 300]);
    let mut w = Writer::new();
    w.tls("value", &value).unwrap();
    let mut direct = Vec::new();
    value.tls_serialize(&mut direct).unwrap();
    assert_eq!(w.as_bytes(), direct.as_slice());
    let back: tls_codec::VLBytes = nipee_codec::decode_exact_tls(&direct).unwrap();
    assert_eq!(back.as_slice(), value.as_slice());
    // Our reader sees the same vector.
    assert_eq!(Reader::new(&direct).vl_bytes("value").unwrap().len(), 300);
    // Trailing bytes after a tls_codec structure fail too.
    direct.push(0);
    let err = nipee_codec::decode_exact_tls::<tls_codec::VLBytes>(&direct).unwrap_err();
    assert_eq!(err, Error::TrailingBytes { count: 1 });
}
