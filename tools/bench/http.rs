//! One-off HTTP/1.1 requests with a deadline (counters, probes, logins), from an optional source address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

/// An answer: status code and the whole body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// A request to send with [`fetch`].
pub struct Ask<'a> {
    pub method: Method,
    pub url: &'a str,
    /// Extra request headers.
    pub headers: &'a [(&'a str, &'a str)],
    /// Connect from this local address (loopback aliases such as 127.0.0.2).
    pub source: Option<IpAddr>,
}

impl<'a> Ask<'a> {
    /// A plain GET.
    pub fn get(url: &'a str) -> Ask<'a> {
        Ask {
            method: Method::GET,
            url,
            headers: &[],
            source: None,
        }
    }
}

/// Sends `ask` on a fresh connection and reads the whole answer, all within `deadline`.
pub async fn fetch(ask: &Ask<'_>, deadline: Duration) -> Result<Answer, String> {
    match tokio::time::timeout(deadline, exchange(ask)).await {
        Ok(answer) => answer,
        Err(_) => Err(format!(
            "{} {}: timed out after {deadline:?}",
            ask.method, ask.url
        )),
    }
}

async fn exchange(ask: &Ask<'_>) -> Result<Answer, String> {
    let url: Uri = ask.url.parse().map_err(|e| format!("{}: {e}", ask.url))?;
    let host = url.host().ok_or_else(|| format!("{}: no host", ask.url))?;
    let ip: IpAddr = host
        .parse()
        .map_err(|e| format!("{}: host is not an IP address: {e}", ask.url))?;
    let address = SocketAddr::new(ip, url.port_u16().unwrap_or(80));
    let socket = match ip {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(source) = ask.source {
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|e| format!("bind {source}: {e}"))?;
    }
    let stream = socket
        .connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    let path = url.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = Request::builder()
        .method(ask.method.clone())
        .uri(path)
        .header(hyper::header::HOST, address.to_string());
    for (name, value) in ask.headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("{} {}: {e}", ask.method, ask.url))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{} {}: body: {e}", ask.method, ask.url))?
        .to_bytes();
    Ok(Answer { status, body })
}
