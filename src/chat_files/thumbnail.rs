//! Thumbnails of chat images: PNG, JPEG, GIF (first frame) or WebP in, at most
//! [`SIZE`]×[`SIZE`] PNG or JPEG out. Pure and synchronous: the caller runs it on the blocking
//! pool.
//!
//! The decoder is bounded before it allocates (`image::Limits`): an image whose header claims
//! more than the configured pixel count — a decompression bomb is a few KiB of PNG claiming
//! gigapixels — is refused from its header alone, and no decode may allocate more than what that
//! many RGBA pixels need. Re-encoding also means a thumbnail is always a real image, whatever the
//! upload held.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits};

/// The box a thumbnail fits in, in pixels.
pub const SIZE: u32 = 360;

/// A thumbnail, and the original's pixel size.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// The thumbnail of `data`, or `None` when it is not an image of the four formats, is damaged,
/// or has more than `max_pixels` pixels.
pub fn make(data: &[u8], max_pixels: u64) -> Option<Thumbnail> {
    let reader = || ImageReader::new(Cursor::new(data)).with_guessed_format().ok();
    let format = reader()?.format()?;
    if !matches!(format, ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Gif | ImageFormat::WebP) {
        return None;
    }
    let (width, height) = reader()?.into_dimensions().ok()?;
    if u64::from(width) * u64::from(height) > max_pixels || width == 0 || height == 0 {
        return None;
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // RGBA at 16 bits per channel is the widest any of the four decodes to; the slack covers
    // the decoders' own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(16 << 20));
    let mut decoder = reader()?;
    decoder.limits(limits);
    let image = decoder.decode().ok()?;
    let small = if width <= SIZE && height <= SIZE {
        image
    } else {
        image.resize(SIZE, SIZE, image::imageops::FilterType::Triangle)
    };
    let mut bytes = Vec::new();
    let content_type = if small.color().has_alpha() {
        DynamicImage::ImageRgba8(small.to_rgba8()).write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png).ok()?;
        "image/png"
    } else {
        let rgb = small.to_rgb8();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 82).encode_image(&rgb).ok()?;
        "image/jpeg"
    };
    Some(Thumbnail { bytes, content_type, width, height })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let image = if alpha {
            DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(width, height, image::Rgba([9, 99, 199, 128])))
        } else {
            DynamicImage::ImageRgb8(image::RgbImage::from_pixel(width, height, image::Rgb([9, 99, 199])))
        };
        let mut out = Vec::new();
        image.write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    fn dimensions(bytes: &[u8]) -> (u32, u32) {
        ImageReader::new(Cursor::new(bytes)).with_guessed_format().unwrap().into_dimensions().unwrap()
    }

    #[test]
    fn wide_images_fit_the_box_keeping_their_shape() {
        let t = make(&png(1000, 500, false), 50_000_000).unwrap();
        assert_eq!((t.width, t.height), (1000, 500));
        assert_eq!(t.content_type, "image/jpeg");
        assert_eq!(dimensions(&t.bytes), (360, 180));
    }

    #[test]
    fn transparency_keeps_png_and_small_images_are_not_enlarged() {
        let t = make(&png(40, 90, true), 50_000_000).unwrap();
        assert_eq!(t.content_type, "image/png");
        assert_eq!(dimensions(&t.bytes), (40, 90));
    }

    #[test]
    fn images_over_the_pixel_cap_and_non_images_get_none() {
        assert!(make(&png(100, 100, false), 9_999).is_none());
        assert!(make(b"<svg xmlns='http://www.w3.org/2000/svg'/>", 50_000_000).is_none());
        assert!(make(b"", 50_000_000).is_none());
    }

    /// A PNG whose header claims 100,000×100,000 pixels (40 GB of RGBA) is refused from the header.
    #[test]
    fn a_decompression_bomb_header_is_refused_before_decoding() {
        let mut bomb = png(1, 1, false);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&bomb[12..29]);
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(dimensions(&bomb), (100_000, 100_000), "the header must still parse");
        assert!(make(&bomb, 50_000_000).is_none());
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for byte in data {
            crc ^= u32::from(*byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
}
