//! Sharing a published model: the page's link to it (`?model=SERVER/ID`)
//! and reading such a link back, the link's QR code, and copy-ready ways to
//! ask the model from a program. Plain functions, for the page and the
//! server (which checks ids the same way), tested natively.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Characters of a published model's id: 128 bits in base64url.
pub const MODEL_ID_CHARS: usize = 22;

/// Whether `id` is shaped like a published model's id.
pub fn is_model_id(id: &str) -> bool {
    id.len() == MODEL_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The page's link to a published model: `PAGE?model=SERVER/ID`, the
/// server written as it is (a URL's `:` and `/` may stand in a query), any
/// other character that may not percent-encoded.
pub fn model_link(page: &str, server: &str, id: &str) -> String {
    let server: String = server
        .trim_end_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._~:/@".contains(c) {
                c.to_string()
            } else {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect();
    format!("{page}?model={server}/{id}")
}

/// A `?model=` value read back: `SERVER/ID`, or the model's own address
/// `SERVER/v1/models/ID` as the server answers it; the server gets
/// `http://` when it names no scheme. `None` when no id ends it.
pub fn parse_model_param(value: &str) -> Option<(String, String)> {
    let v = value.trim().trim_end_matches('/');
    let (server, id) = match v.rsplit_once("/v1/models/") {
        Some((server, id)) => (server, id),
        None => v.rsplit_once('/')?,
    };
    let server = server.trim_end_matches('/');
    if !is_model_id(id) || server.is_empty() {
        return None;
    }
    let server = if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    Some((server, id.to_string()))
}

/// The link's QR code as SVG markup (black on white, a quiet zone, at
/// least `size` pixels a side), for the page to show; `None` for a text
/// too long for a QR code.
pub fn qr_svg(text: &str, size: u32) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let svg = code
        .render::<svg::Color>()
        .min_dimensions(size, size)
        .quiet_zone(true)
        .build();
    // Markup for an HTML page: no XML declaration.
    Some(match svg.find("<svg") {
        Some(at) => svg[at..].to_string(),
        None => svg,
    })
}

/// Copy-ready ways to ask a published model, as (language, code): curl with
/// a picture, Python's requests, and JavaScript's fetch from a canvas.
pub fn snippets(server: &str, id: &str) -> [(&'static str, String); 3] {
    let url = format!("{}/v1/models/{id}/classify", server.trim_end_matches('/'));
    [
        ("curl", format!("curl -s {url} -F image=@drawing.png")),
        (
            "Python",
            format!(
                "import requests\n\n\
                 with open(\"drawing.png\", \"rb\") as f:\n    \
                 answer = requests.post(\"{url}\", files={{\"image\": f}}).json()\n\
                 print(answer[\"class\"], dict(zip(answer[\"classes\"], answer[\"probabilities\"])))"
            ),
        ),
        (
            "JavaScript",
            format!(
                "// canvas: a <canvas> with a drawing on it\n\
                 const picture = await new Promise((done) => canvas.toBlob(done, \"image/png\"));\n\
                 const answer = await (await fetch(\"{url}\", {{\n  \
                 method: \"POST\",\n  headers: {{ \"content-type\": \"image/png\" }},\n  \
                 body: picture,\n}})).json();\n\
                 console.log(answer.class, answer.probabilities);"
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4OnzP707wL18Dc22U0I4LQ";

    #[test]
    fn the_qr_code_is_svg_markup_and_the_snippets_name_the_model() {
        let link = model_link("http://127.0.0.1:8080/", "http://127.0.0.1:3000", ID);
        let svg = qr_svg(&link, 200).unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"), "{svg}");
        let width: u32 = svg
            .split("width=\"")
            .nth(1)
            .and_then(|w| w.split('"').next())
            .and_then(|w| w.parse().ok())
            .unwrap();
        assert!(width >= 200, "{width}");
        assert!(qr_svg(&"x".repeat(8000), 200).is_none());
        for (_, code) in snippets("http://127.0.0.1:3000/", ID) {
            assert!(
                code.contains(&format!("http://127.0.0.1:3000/v1/models/{ID}/classify")),
                "{code}"
            );
        }
    }

    #[test]
    fn a_model_link_reads_back_as_its_server_and_id() {
        let link = model_link("http://127.0.0.1:8080/", "http://127.0.0.1:3000/", ID);
        assert_eq!(
            link,
            format!("http://127.0.0.1:8080/?model=http://127.0.0.1:3000/{ID}")
        );
        let value = link.split_once("?model=").unwrap().1;
        assert_eq!(
            parse_model_param(value),
            Some(("http://127.0.0.1:3000".into(), ID.into()))
        );
        for given in [
            format!("http://127.0.0.1:3000/v1/models/{ID}"),
            format!("127.0.0.1:3000/{ID}/"),
            format!("https://models.example.org/np/{ID}"),
        ] {
            let (server, id) = parse_model_param(&given).unwrap();
            assert_eq!(id, ID);
            assert!(server.starts_with("http"), "{server}");
            assert!(!server.ends_with('/'));
        }
        assert_eq!(parse_model_param(ID), None, "no server");
        assert_eq!(parse_model_param("http://x/short"), None);
        assert_eq!(parse_model_param(""), None);
        assert!(model_link("p", "http://h/a b&c", ID).contains("a%20b%26c"));
    }
}
