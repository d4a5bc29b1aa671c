//! White-label: the product name, logo and primary colour an operator sets in
//! `[brand]`, as one value the doors read (`AppState::brand`).
//!
//! The logo file is read once, when the server starts (a missing, oversized
//! or malformed file is a configuration error, exit 2), so serving it never
//! touches the disk. The stylesheet `/brand.css` is built here too: the
//! primary colour and a text colour that stays readable on it, as CSS custom
//! properties, so pages and the web client take their colours from one
//! cacheable file and no page needs an inline style (the CSP forbids them).

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::config::{BrandConfig, ConfigError};

/// Largest logo accepted; a header mark needs far less.
pub const MAX_LOGO_SIZE: usize = 1024 * 1024;

/// The brand of this instance.
#[derive(Debug, Clone)]
pub struct Brand {
    name: String,
    primary_color: String,
    on_primary: &'static str,
    logo: Option<Logo>,
    stylesheet: String,
    stylesheet_etag: String,
}

/// The logo as served at `/brand/logo`.
#[derive(Debug, Clone)]
pub struct Logo {
    pub bytes: Vec<u8>,
    /// `image/svg+xml` or `image/png`.
    pub content_type: &'static str,
    /// A strong validator for `If-None-Match` (RFC 9110 §8.8.3).
    pub etag: String,
}

impl Default for Brand {
    fn default() -> Self {
        // The default configuration is valid by construction and has no logo to read.
        Brand::new(&BrandConfig::default(), None)
    }
}

impl Brand {
    /// The brand of `config`, reading its logo file.
    pub fn load(config: &BrandConfig) -> Result<Brand, ConfigError> {
        let logo = match &config.logo {
            Some(path) => Some(read_logo(path)?),
            None => None,
        };
        Ok(Brand::new(config, logo))
    }

    fn new(config: &BrandConfig, logo: Option<Logo>) -> Brand {
        let on_primary = readable_text_on(&config.primary_color);
        // The colour was validated as `#rrggbb` by the configuration, so it
        // cannot carry anything but hex digits into the stylesheet.
        let stylesheet = format!(
            "/* The brand's colours (brand.primary_color), written by Madang. */\n\
             :root {{ --brand-primary: {}; --brand-on-primary: {on_primary}; }}\n",
            config.primary_color
        );
        let stylesheet_etag = etag_of(stylesheet.as_bytes());
        Brand {
            name: config.name.clone(),
            primary_color: config.primary_color.clone(),
            on_primary,
            logo,
            stylesheet,
            stylesheet_etag,
        }
    }

    /// The product name (`brand.name`), for titles, headers and mail.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `#rrggbb`.
    pub fn primary_color(&self) -> &str {
        &self.primary_color
    }

    /// `#000000` or `#ffffff`: whichever contrasts more with the primary colour.
    pub fn on_primary_color(&self) -> &'static str {
        self.on_primary
    }

    /// Whether a logo is configured (`/brand/logo` answers 200).
    pub fn has_logo(&self) -> bool {
        self.logo.is_some()
    }

    /// The logo as it stands beside the name in a page header, or nothing. The name is always
    /// written next to it, so the image is decoration (empty `alt`).
    pub fn logo_img(&self) -> &'static str {
        if self.has_logo() { r#"<img class="brand-logo" src="/brand/logo" alt="">"# } else { "" }
    }

    pub fn logo(&self) -> Option<&Logo> {
        self.logo.as_ref()
    }

    /// The text of `/brand.css`.
    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }

    pub fn stylesheet_etag(&self) -> &str {
        &self.stylesheet_etag
    }
}

fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", digest.iter().take(12).map(|b| format!("{b:02x}")).collect::<String>())
}

fn read_logo(path: &Path) -> Result<Logo, ConfigError> {
    let fail = |why: String| ConfigError(format!("invalid `brand.logo` {}: {why}", path.display()));
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    if bytes.len() > MAX_LOGO_SIZE {
        return Err(fail(format!("{} bytes, more than the {MAX_LOGO_SIZE} allowed", bytes.len())));
    }
    let svg = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    let content_type = if svg {
        // An SVG is served same-origin with a sandboxing CSP (see the web
        // handler), but it must at least be one.
        let text = std::str::from_utf8(&bytes).map_err(|_| fail("an SVG file must be UTF-8 text".into()))?;
        if !text.contains("<svg") {
            return Err(fail("no <svg> element in it".into()));
        }
        "image/svg+xml"
    } else {
        // PNG signature (RFC 2083 §3.1).
        if !bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            return Err(fail("not a PNG file".into()));
        }
        "image/png"
    };
    Ok(Logo { etag: etag_of(&bytes), bytes, content_type })
}

/// Black or white text on `#rrggbb`, by the contrast ratio of WCAG 2.x
/// (relative luminance, §1.4.3's definition): the one with the higher ratio.
fn readable_text_on(color: &str) -> &'static str {
    let channel = |i: usize| -> f64 {
        let v = color.get(1 + 2 * i..3 + 2 * i).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
        let c = f64::from(v) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let luminance = 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2);
    let with_white = 1.05 / (luminance + 0.05);
    let with_black = (luminance + 0.05) / 0.05;
    if with_white >= with_black { "#ffffff" } else { "#000000" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_on_the_primary_colour_is_readable() {
        assert_eq!(readable_text_on("#0b5cad"), "#ffffff");
        assert_eq!(readable_text_on("#000000"), "#ffffff");
        assert_eq!(readable_text_on("#ffffff"), "#000000");
        assert_eq!(readable_text_on("#ffcc00"), "#000000", "yellow takes black text");
        assert_eq!(readable_text_on("#595959"), "#ffffff");
        // Mid grey: black text contrasts slightly more (4.6:1 against 4.5:1).
        assert_eq!(readable_text_on("#767676"), "#000000");
    }

    #[test]
    fn the_stylesheet_carries_the_colours() {
        let brand = Brand::default();
        assert_eq!(brand.name(), "Madang");
        assert!(!brand.has_logo());
        assert!(brand.stylesheet().contains("--brand-primary: #0b5cad;"), "{}", brand.stylesheet());
        assert!(brand.stylesheet().contains("--brand-on-primary: #ffffff;"));
    }

    #[test]
    fn logos_must_be_what_they_say() {
        let dir = tempfile::tempdir().unwrap();
        let config = |file: &str| BrandConfig { logo: Some(dir.path().join(file)), ..BrandConfig::default() };
        std::fs::write(dir.path().join("mark.svg"), r#"<svg xmlns="http://www.w3.org/2000/svg"/>"#).unwrap();
        let brand = Brand::load(&config("mark.svg")).unwrap();
        assert_eq!(brand.logo().map(|l| l.content_type), Some("image/svg+xml"));
        std::fs::write(dir.path().join("fake.png"), "<svg/>").unwrap();
        assert!(Brand::load(&config("fake.png")).unwrap_err().0.contains("not a PNG"));
        std::fs::write(dir.path().join("real.png"), b"\x89PNG\r\n\x1a\n rest").unwrap();
        assert_eq!(Brand::load(&config("real.png")).unwrap().logo().map(|l| l.content_type), Some("image/png"));
        let e = Brand::load(&config("missing.svg")).unwrap_err();
        assert!(e.0.starts_with("invalid `brand.logo`") && e.0.contains("cannot read"), "{e}");
    }
}
