//! The codec reader: a program (the first byte) of reads over the rest of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nipee_codec::{Error, Reader};

fuzz_target!(|data: &[u8]| {
    let Some((&program, input)) = data.split_first() else {
        return;
    };
    let mut r = Reader::new(input);
    for step in 0..16u8 {
        let ok = match program.rotate_left(u32::from(step)).wrapping_add(step) % 9 {
            0 => r.u8("f").is_ok(),
            1 => r.u16("f").is_ok(),
            2 => r.u32("f").is_ok(),
            3 => r.u64("f").is_ok(),
            4 => r.varint("f").is_ok(),
            5 => r.vl_bytes("f").is_ok(),
            6 => r.array::<32>("f").is_ok(),
            7 => r.vl_vec::<u16, Error>("f", 64, |r| r.u16("g")).is_ok(),
            _ => r
                .optional::<usize, Error>("f", |r| Ok(r.vl_bytes("g")?.len()))
                .is_ok(),
        };
        if !ok {
            break;
        }
    }
    let _ = r.finish();
    if let Ok((v, rest)) = nipee_codec::varint::read_varint("f", input) {
        // Minimal encoding: writing the value back gives the bytes it was read from.
        let mut out = Vec::new();
        nipee_codec::varint::write_varint("f", v, &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out, input[..input.len() - rest.len()]);
    }
});
