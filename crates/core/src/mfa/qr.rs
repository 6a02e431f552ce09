//! The enrolment QR code: the `otpauth://` URL as a QR symbol (the `qrcode`
//! crate, no image features), drawn into a `size`×`size` 8-bit grayscale
//! PNG written here (one IDAT, zlib by miniz_oxide, CRC-32 by crc32fast).

use crate::error::{Error, Result};
use qrcode::{Color, QrCode};

/// Modules of white border around the symbol (the quiet zone QR requires).
const QUIET: usize = 4;

/// A PNG of the QR code of `text`, `size` pixels square. A size smaller than
/// the symbol still gives a PNG of that size (the modules then alias, as a
/// too-small request deserves).
pub fn png(text: &[u8], size: u32) -> Result<Vec<u8>> {
    let code = QrCode::new(text).map_err(|e| Error::internal(format!("qr code: {e}")))?;
    let width = code.width();
    let colors = code.to_colors();
    let total = width + 2 * QUIET;
    let n = size as usize;
    // Each row: filter byte 0 (none), then one gray byte per pixel.
    let mut raw = Vec::with_capacity(n * (n + 1));
    for y in 0..n {
        raw.push(0u8);
        let my = y * total / n.max(1);
        for x in 0..n {
            let mx = x * total / n.max(1);
            let dark = (QUIET..QUIET + width).contains(&mx)
                && (QUIET..QUIET + width).contains(&my)
                && colors[(my - QUIET) * width + (mx - QUIET)] == Color::Dark;
            raw.push(if dark { 0 } else { 255 });
        }
    }
    Ok(encode_gray8(size, size, &raw))
}

/// A PNG from already filtered 8-bit grayscale rows.
fn encode_gray8(w: u32, h: u32, filtered_rows: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + filtered_rows.len() / 8);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // depth 8, grayscale, deflate, filter 0, no interlace
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &miniz_oxide::deflate::compress_to_vec_zlib(filtered_rows, 6));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode our own PNG far enough to check it: signature, IHDR, chunk
    /// CRCs, and the inflated pixels.
    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let (mut at, mut dims, mut idat) = (8, (0, 0), Vec::new());
        loop {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            let mut h = crc32fast::Hasher::new();
            h.update(kind);
            h.update(data);
            assert_eq!(h.finalize(), crc, "chunk crc");
            match kind {
                b"IHDR" => {
                    dims = (u32::from_be_bytes(data[0..4].try_into().unwrap()), u32::from_be_bytes(data[4..8].try_into().unwrap()));
                    assert_eq!(&data[8..], &[8, 0, 0, 0, 0]);
                }
                b"IDAT" => idat.extend_from_slice(data),
                b"IEND" => break,
                _ => panic!("unexpected chunk"),
            }
            at += 12 + len;
        }
        (dims.0, dims.1, miniz_oxide::inflate::decompress_to_vec_zlib(&idat).unwrap())
    }

    #[test]
    fn png_has_the_requested_size_and_a_real_symbol() {
        let url = b"otpauth://totp/Coffer:e?algorithm=SHA1&digits=6&issuer=Coffer&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
        for size in [1u32, 57, 200, 333] {
            let (w, h, raw) = decode(&png(url, size).unwrap());
            assert_eq!((w, h), (size, size));
            assert_eq!(raw.len(), (size * (size + 1)) as usize);
            assert!(raw.chunks(size as usize + 1).all(|r| r[0] == 0), "filter none");
        }
        let (_, _, raw) = decode(&png(url, 200).unwrap());
        let dark = raw.iter().filter(|b| **b == 0).count() - 200; // minus the filter bytes
        assert!(dark > 200 * 200 / 5 && dark < 200 * 200 * 3 / 4, "a QR symbol is roughly half dark: {dark}");
        // the quiet zone: the first rows are white
        assert!(raw[1..201].iter().all(|b| *b == 255));
        // the finder pattern's corner: dark just inside the quiet zone
        let modules = 200 * 4 / (QrCode::new(&url[..]).unwrap().width() + 8) + 1;
        assert_eq!(raw[(modules + 1) * 201 + 1 + modules + 1], 0);
    }
}
