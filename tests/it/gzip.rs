//! `/metrics` is gzip-compressed when the scraper accepts it (Prometheus sends
//! `Accept-Encoding: gzip`), and plain otherwise.

use std::io::Read as _;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use lotus_follow_exporter::net::http_client::{self, Endpoint, FullResponse};
use tokio::time::Instant;

use crate::fakes::lotus::FakeLotus;
use crate::util;

async fn get(exporter: &util::Exporter, accept_encoding: Option<&str>) -> FullResponse {
    let endpoint = Endpoint::Tcp {
        host: exporter.addr.ip().to_string(),
        port: exporter.addr.port(),
    };
    let mut request = http::Request::get("/metrics");
    if let Some(value) = accept_encoding {
        request = request.header("Accept-Encoding", value);
    }
    let request = request.body(Full::new(Bytes::new())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    http_client::fetch(&endpoint, request, 64 << 20, deadline)
        .await
        .expect("exporter answers")
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_gzipped_when_negotiated_and_plain_otherwise() {
    let lotus = FakeLotus::start().await;
    let exporter = util::start(&["--lotus.api", &lotus.api_info()]).await;

    let zipped = get(&exporter, Some("gzip, deflate")).await;
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.headers["content-encoding"], "gzip");
    assert_eq!(zipped.headers["vary"], "Accept-Encoding");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_string(&mut text)
        .expect("a gzip body");
    let m = util::Metrics::parse(&text);
    assert_eq!(m.value("lotus_up"), 1.0);
    assert!(zipped.body.len() < text.len() / 2, "compressed");

    for refused in [None, Some("identity"), Some("gzip;q=0")] {
        let plain = get(&exporter, refused).await;
        assert!(
            plain.headers.get("content-encoding").is_none(),
            "{refused:?}"
        );
        assert_eq!(plain.headers["vary"], "Accept-Encoding");
        let text = String::from_utf8(plain.body.to_vec()).expect("plain text");
        assert_eq!(util::Metrics::parse(&text).value("lotus_up"), 1.0);
    }
}
