//! Hardening round 3 (issue 21), in the hardening section: what `/probe` costs under attack.
//!
//! - the exporter's peak memory while 40 probes at once ask a target that answers every call
//!   with 8 MB (chunked, so no length refuses it early);
//! - a `/metrics` scrape on a fresh connection beside one client holding more than every slot
//!   with pipelined probes of a target that never answers.
//!
//! Kept in a file of its own (the bench driver is moving); `hardening::run` calls [`run`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::http::{fetch, Ask};
use crate::measure::{median, RssSampler};
use crate::programs::{Exporter, Fakes};
use crate::table::ms;
use crate::Bench;

/// The two measurements.
pub fn run(bench: &mut Bench) -> Result<(), String> {
    probe_memory(bench)?;
    slots_held_by_probes(bench)
}

/// A target answering every request with `size` bytes, chunked, until the process ends.
fn big_answer(size: usize) -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("big answer: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_big(stream, size));
        }
    });
    Ok(port)
}

fn answer_big(stream: TcpStream, size: usize) {
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut writer = stream;
    let chunk = vec![b'A'; 64 * 1024];
    loop {
        // A request head, then its body (Content-Length), then the answer.
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
        if writer.write_all(head).is_err() {
            return;
        }
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len());
            let framed = [format!("{n:x}\r\n").as_bytes(), &chunk[..n], b"\r\n"].concat();
            if writer.write_all(&framed).is_err() {
                return;
            }
            left -= n;
        }
        if writer.write_all(b"0\r\n\r\n").is_err() {
            return;
        }
    }
}

/// 40 probes at once of distinct targets answering 8 MB per call: the exporter's peak RSS.
fn probe_memory(bench: &mut Bench) -> Result<(), String> {
    let big = big_answer(8_000_000)?;
    let (peak_kb, statuses) = {
        let fakes = Fakes::start(bench, &[])?;
        let exporter = Exporter::start(bench, &fakes, 1, &["--web.enable-probe"])?;
        let sampler = RssSampler::start(exporter.pid());
        let probes: Vec<_> = (0..40)
            .map(|i| {
                let url = format!(
                    "http://127.0.0.1:{}/probe?target=http://127.0.0.1:{big}/p{i}",
                    exporter.port
                );
                bench.spawn(async move {
                    fetch(&Ask::get(&url), Duration::from_secs(30))
                        .await
                        .map(|a| a.status)
                })
            })
            .collect();
        let statuses: Vec<String> = bench.block_on(async {
            let mut out = Vec::new();
            for probe in probes {
                out.push(match probe.await {
                    Ok(Ok(status)) => status.to_string(),
                    _ => "error".to_string(),
                });
            }
            out
        });
        (sampler.stop(), statuses)
    };
    let count = |s: &str| statuses.iter().filter(|x| *x == s).count();
    let peak = peak_kb.map(|kb| kb as f64 / 1024.0);
    bench.table.result(
        "probe_memory",
        json!({"peak_rss_mib": peak, "answered": count("200"), "refused_503": count("503"),
               "errors": count("error")}),
    );
    bench.table.judged(
        "hardening",
        "peak RSS, 40 probes at once of targets answering 8 MB per call",
        &format!(
            "{} ({} answered, {} refused 503)",
            crate::measure::mib(peak_kb),
            count("200"),
            count("503")
        ),
        "< 128 MiB",
        peak.is_some_and(|mib| mib < 128.0) && count("error") == 0,
    );
    Ok(())
}

/// One client: `connections` keep-alive connections, each with three probes of `target`
/// pipelined (one more written per answer), reconnecting when closed, until `stop`.
fn hold_with_probes(
    port: u16,
    connections: usize,
    target: &str,
    stop: Arc<AtomicBool>,
    answers: Arc<AtomicUsize>,
) -> Vec<std::thread::JoinHandle<()>> {
    let request = format!("GET /probe?target={target} HTTP/1.1\r\nHost: x\r\n\r\n");
    // A few threads, each driving its share of the connections in turn (non-blocking reads).
    let threads = 8;
    (0..threads)
        .map(|t| {
            let (stop, answers, request) = (stop.clone(), answers.clone(), request.clone());
            let share = connections / threads + usize::from(t < connections % threads);
            std::thread::spawn(move || {
                let open = |_| -> Option<TcpStream> {
                    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
                    s.set_nonblocking(true).ok()?;
                    s.write_all(request.repeat(3).as_bytes()).ok()?;
                    Some(s)
                };
                let mut held: Vec<Option<TcpStream>> = (0..share).map(open).collect();
                let mut buf = vec![0u8; 64 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    for slot in held.iter_mut() {
                        let answered = match slot.as_mut().map(|s| s.read(&mut buf)) {
                            Some(Ok(0)) | None => {
                                *slot = open(0);
                                0
                            }
                            Some(Ok(n)) => {
                                buf[..n].windows(9).filter(|w| w == b"HTTP/1.1 ").count()
                            }
                            Some(Err(_)) => 0,
                        };
                        for _ in 0..answered {
                            answers.fetch_add(1, Ordering::Relaxed);
                            let sent = slot.as_mut().map(|s| s.write_all(request.as_bytes()));
                            if !matches!(sent, Some(Ok(()))) {
                                *slot = None;
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect()
}

/// Raise this process's soft open-files limit to the hard one (the holder's 1,100 sockets).
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// A client holds 1,100 connections (more than the 1,024 slots), each with probes of a target
/// that never answers pipelined; 10 scrapes on fresh connections beside it.
fn slots_held_by_probes(bench: &mut Bench) -> Result<(), String> {
    raise_fd_limit();
    // Listens and never accepts: every probe of it waits for its deadline.
    let hung = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("hung target: {e}"))?;
    let target = format!(
        "127.0.0.1:{}",
        hung.local_addr().map_err(|e| e.to_string())?.port()
    );
    let (times, answers) = {
        let fakes = Fakes::start(bench, &[])?;
        let exporter = Exporter::start(bench, &fakes, 1, &["--web.enable-probe"])?;
        let stop = Arc::new(AtomicBool::new(false));
        let answers = Arc::new(AtomicUsize::new(0));
        let holders = hold_with_probes(exporter.port, 1100, &target, stop.clone(), answers.clone());
        std::thread::sleep(Duration::from_secs(5));
        let headers = [("X-Prometheus-Scrape-Timeout-Seconds", "10")];
        let mut times = Vec::new();
        for _ in 0..10 {
            let begun = Instant::now();
            let ask = Ask {
                headers: &headers,
                ..Ask::get(&exporter.url)
            };
            let ok = matches!(
                bench.block_on(fetch(&ask, Duration::from_secs(30))),
                Ok(answer) if answer.status == 200
            );
            times.push(if ok {
                begun.elapsed().as_secs_f64()
            } else {
                f64::INFINITY
            });
            std::thread::sleep(Duration::from_millis(500));
        }
        stop.store(true, Ordering::Relaxed);
        for holder in holders {
            let _ = holder.join();
        }
        (times, answers.load(Ordering::Relaxed))
    };
    drop(hung);
    let worst = crate::measure::max(times.iter().copied());
    bench.table.result(
        "slots_held_by_probes",
        json!({"scrape_s": times, "holder_answers": answers}),
    );
    bench.table.judged(
        "hardening",
        "scrape beside a client holding all 1,024 slots with pipelined probes (worst of 10)",
        &format!(
            "{} (median {})",
            ms(worst * 1000.0),
            ms(median(times.iter().copied()) * 1000.0)
        ),
        "< 10 s",
        worst < 10.0,
    );
    Ok(())
}
