//! gzip of `/metrics` for scrapers that send `Accept-Encoding: gzip` (Prometheus does), as
//! exporter-toolkit's handler does.

use std::io::Write as _;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
use http::Response;
use http_body_util::Full;

/// True when the request's `Accept-Encoding` accepts gzip, as RFC 9110 (section 12.5.3) reads
/// it: a `gzip` (or `x-gzip`) entry decides, else a `*` entry; the `q` parameter's name is
/// case-insensitive, `q=0` refuses, and a weight that is not a qvalue makes its entry refuse
/// (`gzip;q=abc` is no gzip). Several entries for the same coding must all accept.
pub fn accepted(headers: &HeaderMap) -> bool {
    let mut gzip: Option<bool> = None;
    let mut any: Option<bool> = None;
    let items = headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().ok().into_iter().flat_map(|v| v.split(',')));
    for item in items {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let weight = parts.try_fold(1000u16, |q, param| match param.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("q") => qvalue(value.trim()),
            // Codings take no other parameters; one is ignored, as unknown extensions are.
            _ => Some(q),
        });
        let accepts = weight.is_some_and(|q| q > 0);
        let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            &mut gzip
        } else if coding == "*" {
            &mut any
        } else {
            continue;
        };
        *slot = Some(slot.unwrap_or(true) && accepts);
    }
    gzip.or(any).unwrap_or(false)
}

/// An RFC 9110 qvalue in thousandths: `0`, `0.5`, `1`, `1.000`; `None` for anything else.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: u16 = format!("{fraction:0<3}").parse().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The response with its body compressed with gzip (`Content-Encoding: gzip`); an answer
/// that is not a success is left as it is.
pub fn compress(response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A `Full` body is ready at once.
    let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(body))
        .and_then(Result::ok)
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    let Ok(compressed) = encoder.write_all(&body).and_then(|()| encoder.finish()) else {
        return Response::from_parts(parts, Full::new(body));
    };
    parts
        .headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Full::new(Bytes::from(compressed)))
}

/// Say that the answer depends on `Accept-Encoding` (for caches), compressed or not.
pub fn vary(response: &mut Response<Full<Bytes>>) {
    response
        .headers_mut()
        .append(VARY, HeaderValue::from_static("Accept-Encoding"));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        map
    }

    #[test]
    fn negotiates_gzip() {
        assert!(accepted(&headers("gzip")));
        assert!(accepted(&headers("identity, GZIP;q=0.5")));
        assert!(accepted(&headers("*")));
        assert!(!accepted(&headers("gzip;q=0")));
        assert!(!accepted(&headers("br, deflate")));
        assert!(!accepted(&HeaderMap::new()));
    }

    #[test]
    fn q_values_are_read_as_rfc_9110_says() {
        for refused in [
            "GZIP;Q=0",
            "gzip;q=0, *",
            "gzip;q=abc",
            "gzip; q=0.000",
            "gzip;q=1.5",
            "gzip;q=0.1234",
            "gzip;q=",
            "gzip;q=-1",
            "*;q=0",
            "br, *;q=0",
            "gzip, gzip;q=0",
            "x-gzip;q=0, *",
        ] {
            assert!(!accepted(&headers(refused)), "{refused}");
        }
        for taken in [
            "gzip;q=0.001",
            "gzip ; Q=1.000",
            "br;q=0, *",
            "x-gzip",
            "identity;q=0, gzip;q=0.5",
            "*;q=0.3",
            "gzip;level=9",
        ] {
            assert!(accepted(&headers(taken)), "{taken}");
        }
        let mut two = HeaderMap::new();
        two.append(ACCEPT_ENCODING, HeaderValue::from_static("br"));
        two.append(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0"));
        two.append(ACCEPT_ENCODING, HeaderValue::from_static("*"));
        assert!(!accepted(&two), "entries of every header line count");
    }

    #[test]
    fn compresses_and_round_trips() {
        use std::io::Read as _;
        let text = "lotus_up 1\n".repeat(100);
        let response = compress(Response::new(Full::new(Bytes::from(text.clone()))));
        assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
        let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(
            response.into_body(),
        ))
        .unwrap()
        .unwrap()
        .to_bytes();
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, text);
    }
}
