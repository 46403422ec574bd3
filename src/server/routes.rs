//! The pages: authentication, routing by path and method, and each page's answer with its
//! content type (`/metrics`, `/status`, `/healthz`, `/probe`, `/runbook`, `/`).

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::App;
use crate::exporter::collector::scrape_budget;
use crate::render;
use crate::server::web::auth::Verdict;
use crate::server::web::WebConfig;

/// Which page a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Landing,
    Metrics,
    Status,
    Healthz,
    Probe,
    Runbook,
    NotFound,
    MethodNotAllowed,
}

/// Route a request by method and path.
pub fn route(method: &Method, path: &str, telemetry_path: &str) -> Route {
    let page = if path == telemetry_path {
        Route::Metrics
    } else {
        match path {
            "/" => Route::Landing,
            "/probe" => Route::Probe,
            "/status" => Route::Status,
            "/healthz" => Route::Healthz,
            "/runbook" => Route::Runbook,
            _ => return Route::NotFound,
        }
    };
    if method == Method::GET || method == Method::HEAD {
        page
    } else {
        Route::MethodNotAllowed
    }
}

/// Answer one request, with the extra headers of `--web.config.file`.
pub(super) async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    client: IpAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // One look at the web configuration's files per request, for its auth and its headers alike.
    let web = app.web.current().await;
    let mut response = respond(&app, &web, request, client).await;
    for (name, value) in &web.headers {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    Ok(response)
}

/// Authenticate (when basic auth is configured), route, and answer.
async fn respond(
    app: &App,
    web: &WebConfig,
    request: Request<Incoming>,
    client: IpAddr,
) -> Response<Full<Bytes>> {
    if let Some(auth) = &web.basic_auth {
        match auth
            .authorize(request.headers().get(header::AUTHORIZATION), client)
            .await
        {
            Verdict::Allowed => {}
            Verdict::Denied => {
                return plain_with(
                    StatusCode::UNAUTHORIZED,
                    "401 unauthorized\n",
                    header::WWW_AUTHENTICATE,
                    "Basic",
                );
            }
            Verdict::Busy => {
                return plain_with(
                    StatusCode::TOO_MANY_REQUESTS,
                    "429 too many login attempts being checked: try again\n",
                    header::RETRY_AFTER,
                    "1",
                );
            }
        }
    }
    let is_head = request.method() == Method::HEAD;
    let response = match route(request.method(), request.uri().path(), &app.telemetry_path) {
        Route::Landing if wants_html(&request) => {
            let refresh = render::html::refresh_from_query(request.uri().query());
            scrape(app, &request, |s| {
                let page = render::html::render(s, &app.telemetry_path, refresh);
                (render::html::CONTENT_TYPE, page)
            })
            .await
        }
        Route::Landing => html(landing_page(&app.telemetry_path)),
        Route::Healthz => plain(StatusCode::OK, "ok\n"),
        Route::Runbook => html(render::markdown::runbook_page().to_string()),
        Route::Probe => crate::host::log::client_triggered(probe(app, &request)).await,
        Route::NotFound => plain(StatusCode::NOT_FOUND, "404 page not found\n"),
        Route::MethodNotAllowed => plain_with(
            StatusCode::METHOD_NOT_ALLOWED,
            "405 method not allowed: use GET or HEAD\n",
            header::ALLOW,
            "GET, HEAD",
        ),
        Route::Metrics => {
            let gzip = crate::server::web::gzip::accepted(request.headers());
            let mut response = scrape(app, &request, |s| {
                (
                    render::prometheus::CONTENT_TYPE,
                    render::prometheus::render(s),
                )
            })
            .await;
            crate::server::web::gzip::vary(&mut response);
            if gzip {
                response = crate::server::web::gzip::compress(response);
            }
            response
        }
        Route::Status => {
            scrape(app, &request, |s| {
                (
                    "application/json",
                    format!("{:#}\n", render::status::render(s)),
                )
            })
            .await
        }
    };
    let response = guard_page(response);
    if is_head {
        strip_body(response)
    } else {
        response
    }
}

/// The status page has no script, frame or outside resource: an HTML answer says so to the
/// browser (no script runs even if a string escaped, the page cannot be framed, its type is not
/// sniffed). `--web.config.file` headers, applied after, may still set their own.
pub const PAGE_HEADERS: [(&str, &str); 3] = [
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
];

fn guard_page(mut response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let headers = response.headers_mut();
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        for (name, value) in PAGE_HEADERS {
            headers.insert(name, HeaderValue::from_static(value));
        }
    } else {
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    response
}

/// Collect within the scrape's budget and render the snapshot.
async fn scrape(
    app: &App,
    request: &Request<Incoming>,
    render: impl FnOnce(&crate::exporter::snapshot::Snapshot) -> (&'static str, String),
) -> Response<Full<Bytes>> {
    let budget = match scrape_budget(app.collector_timeout, scrape_timeout(request)) {
        Ok(budget) => budget,
        Err(reason) => return plain(StatusCode::BAD_REQUEST, &format!("{reason}\n")),
    };
    let snapshot = app.collector.collect(budget).await;
    let (content_type, body) = render(&snapshot);
    typed(content_type, body)
}

/// Prometheus's scrape timeout header, as sent (`invalid` when it is not text).
fn scrape_timeout(request: &Request<Incoming>) -> Option<&str> {
    request
        .headers()
        .get("X-Prometheus-Scrape-Timeout-Seconds")
        .map(|v| v.to_str().unwrap_or("invalid"))
}

/// `/probe`: 404 unless enabled, 400 for a missing target or an unknown module.
async fn probe(app: &App, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(prober) = &app.prober else {
        return plain(
            StatusCode::NOT_FOUND,
            "404 /probe is off: start the exporter with --web.enable-probe\n",
        );
    };
    let bad = |reason: String| plain(StatusCode::BAD_REQUEST, &format!("{reason}\n"));
    let probe = match crate::server::probe::parse_query(request.uri().query()) {
        Ok(probe) => probe,
        Err(e) => return bad(e.to_string()),
    };
    let budget = match prober.budget(&probe, scrape_timeout(request)) {
        Ok(budget) => budget,
        Err(reason) => return bad(reason),
    };
    let Some(_permit) = prober.admit() else {
        let text = format!(
            "503 {} probes are being answered (--probe.max-concurrent): try again\n",
            prober.max_concurrent()
        );
        return plain_with(
            StatusCode::SERVICE_UNAVAILABLE,
            &text,
            header::RETRY_AFTER,
            "1",
        );
    };
    match prober.probe(&probe, budget).await {
        Ok(text) => typed(render::prometheus::CONTENT_TYPE, text),
        Err(e) => bad(e.to_string()),
    }
}

/// The answer to a request beyond its connection's bounds: refused at once, and the connection
/// closed after it (the client may open a new one and ask again).
pub(super) fn beyond_bounds(beyond: super::slots::Beyond) -> Response<Full<Bytes>> {
    let text = match beyond {
        super::slots::Beyond::Pipelining => format!(
            "503 more than {} requests in a row sent before their turn on one connection: send the next once this is answered, or open another connection\n",
            super::slots::MAX_PIPELINED
        ),
        super::slots::Beyond::BusyTime => {
            "503 this connection has been busy longer than any request may take: open another\n"
                .to_string()
        }
    };
    let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, &text);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// True when the client asks for HTML (a browser): `/` is then the status page.
fn wants_html(request: &Request<Incoming>) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/html"))
}

/// A 200 answer of this content type.
fn typed(content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = typed("text/plain; charset=utf-8", text.to_string());
    *response.status_mut() = status;
    response
}

/// A plain-text answer with one more header (`WWW-Authenticate`, `Retry-After`, `Allow`).
fn plain_with(
    status: StatusCode,
    text: &str,
    name: header::HeaderName,
    value: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = plain(status, text);
    response
        .headers_mut()
        .insert(name, HeaderValue::from_static(value));
    response
}

fn html(page: String) -> Response<Full<Bytes>> {
    typed(render::html::CONTENT_TYPE, page)
}

fn strip_body(response: Response<Full<Bytes>>) -> Response<Full<Bytes>> {
    let (parts, _) = response.into_parts();
    Response::from_parts(parts, Full::new(Bytes::new()))
}

fn landing_page(telemetry_path: &str) -> String {
    let path = render::html::esc(telemetry_path);
    format!(
        "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>lotus-follow-exporter</title></head>\n<body>\n\
         <h1>lotus-follow-exporter</h1>\n\
         <p>Prometheus exporter for a Filecoin Lotus daemon, ipfs-cluster-follow peers and the host's port plan. Version {}.</p>\n\
         <ul>\n<li><a href=\"{path}\">Metrics</a></li>\n<li><a href=\"/status\">Status (JSON)</a></li>\n<li><a href=\"/healthz\">Exporter health</a></li>\n<li><a href=\"/runbook\">Runbook of the alerts</a></li>\n</ul>\n\
         </body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_then_method() {
        let m = "/metrics";
        assert_eq!(route(&Method::GET, "/metrics", m), Route::Metrics);
        assert_eq!(route(&Method::HEAD, "/metrics", m), Route::Metrics);
        assert_eq!(route(&Method::GET, "/", m), Route::Landing);
        assert_eq!(route(&Method::GET, "/status", m), Route::Status);
        assert_eq!(route(&Method::GET, "/healthz", m), Route::Healthz);
        assert_eq!(route(&Method::GET, "/nope", m), Route::NotFound);
        assert_eq!(route(&Method::POST, "/metrics", m), Route::MethodNotAllowed);
        assert_eq!(route(&Method::DELETE, "/", m), Route::MethodNotAllowed);
        assert_eq!(route(&Method::GET, "/custom", "/custom"), Route::Metrics);
        assert_eq!(route(&Method::GET, "/metrics", "/custom"), Route::NotFound);
    }

    #[test]
    fn landing_page_links_metrics_and_status() {
        let page = landing_page("/m<x>");
        assert!(page.contains("href=\"/m&lt;x&gt;\""));
        assert!(page.contains("href=\"/status\""));
    }
}
