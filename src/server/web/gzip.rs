//! gzip of `/metrics` for scrapers that send `Accept-Encoding: gzip` (Prometheus does), as
//! exporter-toolkit's handler does.

use std::io::Write as _;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, VARY};
use http::Response;
use http_body_util::Full;

/// True when the request's `Accept-Encoding` lists `gzip` (or `*`) with a non-zero quality.
pub fn accepted(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or_default();
            let quality = parts
                .find_map(|p| p.strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && quality > 0.0
        })
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
