//! `/probe?target=<lotus api>&module=<module>`: one Lotus endpoint of a fleet checked on demand,
//! the blackbox_exporter pattern.
//!
//! Each probe runs a fresh Lotus check against the target (no host-local section: no ports,
//! followers or processes) under the scrape's deadline, and renders only that target's `lotus_*`
//! figures with `probe_success` and `probe_duration_seconds`. Concurrent probes of the same
//! target and module share one run. Modules come from `--probe.config.file`; module `lotus`
//! always exists and sends no token (the target comes from whoever can reach the exporter).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};

use crate::checks::lotus::rpc::RpcTarget;
use crate::checks::lotus::LotusConfig;
use crate::checks::lotus::{LotusCheck, LotusReport};
use crate::cli::Config;
use crate::net::tls_client::ClientTls;
use crate::secret::{Scrubber, Secret};

/// The module that exists without any file: no token, the system's roots.
pub const DEFAULT_MODULE: &str = "lotus";

/// One probe module.
#[derive(Debug, Clone, Default)]
pub struct Module {
    /// The token sent to targets probed with this module.
    token: Option<Secret>,
    /// The TLS settings for https targets, built from the module's CA file when the file is
    /// read at start (`None`: the system's roots).
    tls: Option<ClientTls>,
    /// Upper bound of a probe (the scrape's timeout minus the offset lowers it).
    timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    modules: BTreeMap<String, RawModule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModule {
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    #[serde(default, with = "humantime_serde_opt")]
    timeout: Option<Duration>,
}

/// `timeout: 10s` in humantime words.
mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Read `--probe.config.file`: modules by name, plus `lotus` unless the file defines it.
pub fn load_modules(path: Option<&Path>) -> Result<BTreeMap<String, Module>, String> {
    let mut modules = BTreeMap::new();
    modules.insert(DEFAULT_MODULE.to_string(), Module::default());
    let Some(path) = path else {
        return Ok(modules);
    };
    let shown = path.display();
    let text = crate::host::files::read_small_file(path)
        .map_err(|e| format!("cannot read --probe.config.file {shown}: {e}"))?;
    let raw: RawFile = serde_norway::from_str(&text)
        .map_err(|e| format!("--probe.config.file {shown} is not valid: {e}"))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for (name, module) in raw.modules {
        let token = match &module.token_file {
            None => None,
            Some(file) => {
                let file = base.join(file);
                let token = crate::host::files::read_small_file(&file).map_err(|e| {
                    format!(
                        "--probe.config.file {shown}: module {name}: token_file {}: {e}",
                        file.display()
                    )
                })?;
                match token.trim() {
                    "" => {
                        return Err(format!(
                            "--probe.config.file {shown}: module {name}: token_file {} is empty",
                            file.display()
                        ))
                    }
                    t => Some(Secret::new(t.to_string())),
                }
            }
        };
        let tls = match module.ca_file {
            None => None,
            Some(ca) => Some(
                crate::net::tls_client::client_config(Some(&base.join(ca)))
                    .map_err(|e| format!("--probe.config.file {shown}: module {name}: {e}"))?,
            ),
        };
        let timeout = module.timeout;
        modules.insert(
            name,
            Module {
                token,
                tls,
                timeout,
            },
        );
    }
    Ok(modules)
}

/// Why a probe request cannot be served (answered 400 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    #[error("target parameter is missing (/probe?target=<lotus api>&module=lotus)")]
    MissingTarget,
    #[error("unknown module {0:?} (modules: {1})")]
    UnknownModule(String, String),
    #[error("target {target:?} cannot be used: {reason}")]
    BadTarget { target: String, reason: String },
}

/// The parameters of a probe request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    pub target: String,
    pub module: String,
}

/// Read `target` and `module` (default `lotus`) from a query string.
pub fn parse_query(query: Option<&str>) -> Result<ProbeRequest, ProbeError> {
    let mut target = None;
    let mut module = None;
    for pair in query.unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match key {
            "target" if !value.is_empty() => target = Some(value),
            "module" if !value.is_empty() => module = Some(value),
            _ => {}
        }
    }
    Ok(ProbeRequest {
        target: target.ok_or(ProbeError::MissingTarget)?,
        module: module.unwrap_or_else(|| DEFAULT_MODULE.to_string()),
    })
}

/// `%XX` and `+` decoding of a query value (invalid escapes are kept as they are).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

type Key = (String, String);
type Slot = watch::Receiver<Option<Arc<LotusReport>>>;

/// Runs probes; concurrent probes of one target and module share a run.
pub struct Prober {
    modules: BTreeMap<String, Module>,
    /// Settings every probe shares with the main Lotus check (lag threshold, body cap).
    base: LotusConfig,
    collector_timeout: Duration,
    running: Arc<Mutex<HashMap<Key, Slot>>>,
    /// The system's trusted roots for https targets of modules without a CA file, read on the
    /// first such probe and kept (reading them costs tens of milliseconds).
    system_roots: std::sync::OnceLock<Result<ClientTls, String>>,
}

impl Prober {
    /// A prober with these modules, sharing the main configuration's Lotus limits.
    pub fn new(config: &Config, modules: BTreeMap<String, Module>) -> Prober {
        Prober {
            modules,
            base: config.lotus.clone(),
            collector_timeout: config.collector_timeout,
            running: Arc::new(Mutex::new(HashMap::new())),
            system_roots: std::sync::OnceLock::new(),
        }
    }

    /// The deadline budget of a probe: the module's timeout (or `--collector.timeout`) lowered
    /// by the scrape's `X-Prometheus-Scrape-Timeout-Seconds` minus the offset.
    pub fn budget(&self, module: &str, header: Option<&str>) -> Result<Duration, String> {
        let cap = self
            .modules
            .get(module)
            .and_then(|m| m.timeout)
            .unwrap_or(self.collector_timeout);
        crate::exporter::collector::scrape_budget(cap, header)
    }

    /// Probe `request.target` with `request.module` and render the answer, by `budget`.
    pub async fn probe(
        &self,
        request: &ProbeRequest,
        budget: Duration,
    ) -> Result<String, ProbeError> {
        let module = self.modules.get(&request.module).ok_or_else(|| {
            let names: Vec<&str> = self.modules.keys().map(String::as_str).collect();
            ProbeError::UnknownModule(request.module.clone(), names.join(", "))
        })?;
        let lotus = self.lotus_config(&request.target, module)?;
        let begun = Instant::now();
        let deadline = begun + budget;
        let report = self.run_shared(request, lotus, deadline).await;
        let took = begun.elapsed();
        Ok(crate::render::prometheus::render_probe(&report, took))
    }

    /// The Lotus settings for one target: the module's token and CA, never a token from the URL.
    fn lotus_config(&self, target: &str, module: &Module) -> Result<LotusConfig, ProbeError> {
        let bad = |reason: String| ProbeError::BadTarget {
            target: target.to_string(),
            reason,
        };
        let address = if target.starts_with('/') || target.contains("://") {
            target.to_string()
        } else {
            format!("http://{target}")
        };
        let resolved = crate::cli::rpc_target(&address).map_err(bad)?;
        let target_rpc = match (&module.tls, resolved.tls) {
            (_, false) => resolved.target,
            // The module's CA, read once at start.
            (Some(tls), true) => RpcTarget {
                tls: Some(tls.clone()),
                ..resolved.target
            },
            (None, true) => {
                let roots = self
                    .system_roots
                    .get_or_init(|| crate::net::tls_client::client_config(None));
                RpcTarget {
                    tls: Some(roots.clone().map_err(bad)?),
                    ..resolved.target
                }
            }
        };
        let token = module.token.clone();
        let target_rpc = match (&token, crate::cli::clear_token_refusal(&target_rpc, false)) {
            (Some(_), Some(refusal)) => Err(refusal),
            _ => Ok(target_rpc),
        };
        Ok(LotusConfig {
            target: target_rpc,
            token,
            api_source: "/probe target".to_string(),
            wallets: Vec::new(),
            ..self.base.clone()
        })
    }

    /// Join a probe of the same target and module in flight, or start one.
    async fn run_shared(
        &self,
        request: &ProbeRequest,
        lotus: LotusConfig,
        deadline: Instant,
    ) -> Arc<LotusReport> {
        let key = (request.module.clone(), request.target.clone());
        let started = SystemTime::now();
        let mut slot = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            match running.get(&key) {
                Some(slot) => slot.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    running.insert(key.clone(), rx.clone());
                    let registry = self.running.clone();
                    tokio::spawn(async move {
                        let scrubber = lotus
                            .token
                            .as_ref()
                            .map(|t| Scrubber::for_token(t.expose()))
                            .unwrap_or_default();
                        let check = LotusCheck::new(lotus).without_host_checks();
                        let mut report = check
                            .run(deadline, Err("not looked at in a probe".into()))
                            .await;
                        // A probed target is anyone's: its strings are bounded as a scrape's are.
                        crate::bound::bound_lotus(&mut report, &scrubber);
                        let _ = tx.send(Some(Arc::new(report)));
                        registry
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&key);
                    });
                    rx
                }
            }
        };
        let finished = timeout_at(deadline, slot.wait_for(Option::is_some))
            .await
            .ok()
            .and_then(|r| r.ok().and_then(|report| report.clone()));
        finished.unwrap_or_else(|| timed_out(request, started))
    }
}

fn timed_out(request: &ProbeRequest, started: SystemTime) -> Arc<LotusReport> {
    let elapsed = started.elapsed().unwrap_or_default();
    Arc::new(LotusReport::timed_out(
        request.target.clone(),
        started,
        elapsed,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_target_and_module() {
        let r = parse_query(Some("target=https%3A%2F%2Fnode%3A443&module=read")).unwrap();
        assert_eq!(r.target, "https://node:443");
        assert_eq!(r.module, "read");
        let r = parse_query(Some("target=node:1234")).unwrap();
        assert_eq!(r.module, "lotus");
        assert_eq!(
            parse_query(Some("module=lotus")),
            Err(ProbeError::MissingTarget)
        );
        assert_eq!(parse_query(None), Err(ProbeError::MissingTarget));
        assert_eq!(percent_decode("a%2"), "a%2");
    }

    #[test]
    fn modules_come_from_the_file_and_lotus_always_exists() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "TOKEN\n").unwrap();
        let path = dir.path().join("probe.yml");
        std::fs::write(
            &path,
            "modules:\n  read:\n    token_file: token\n    timeout: 3s\n",
        )
        .unwrap();
        let modules = load_modules(Some(&path)).unwrap();
        assert!(modules[DEFAULT_MODULE].token.is_none());
        assert_eq!(modules["read"].timeout, Some(Duration::from_secs(3)));
        assert_eq!(modules["read"].token.as_ref().unwrap().expose(), "TOKEN");
        std::fs::write(&path, "modules:\n  bad:\n    token_file: missing\n").unwrap();
        let err = load_modules(Some(&path)).unwrap_err();
        assert!(err.contains("module bad: token_file"), "{err}");
    }

    #[test]
    fn a_modules_ca_is_read_at_start_and_serves_every_https_probe() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["ca".to_string()]).unwrap();
        std::fs::write(dir.path().join("ca.pem"), cert.cert.pem()).unwrap();
        let path = dir.path().join("probe.yml");
        std::fs::write(&path, "modules:\n  fleet:\n    ca_file: ca.pem\n").unwrap();
        let modules = load_modules(Some(&path)).unwrap();
        let fleet = modules["fleet"]
            .tls
            .clone()
            .expect("the CA was read at start");
        std::fs::remove_file(dir.path().join("ca.pem")).unwrap();
        let flags = crate::cli::parse_flags([
            "lotus-follow-exporter",
            "--lotus.api",
            "/ip4/127.0.0.1/tcp/1/http",
        ])
        .unwrap();
        let config = crate::cli::Config::resolve(flags, &|_| None).unwrap();
        let prober = Prober::new(&config, modules);
        for target in ["https://node-a:1234", "https://node-b:1234"] {
            let lotus = prober
                .lotus_config(target, &prober.modules["fleet"])
                .unwrap();
            let tls = lotus.target.unwrap().tls.expect("https is spoken");
            assert!(
                Arc::ptr_eq(&tls, &fleet),
                "{target}: the CA is not read again"
            );
        }
        let plain = prober
            .lotus_config("http://node-a:1234", &prober.modules["fleet"])
            .unwrap();
        assert!(plain.target.unwrap().tls.is_none());
        // Module `lotus` has no CA file: https targets share the system's roots, read once.
        let system: Vec<_> = ["https://node-a:1234", "https://node-b:1234"]
            .into_iter()
            .filter_map(|target| {
                let lotus = prober.lotus_config(target, &prober.modules["lotus"]).ok()?;
                lotus.target.ok()?.tls
            })
            .collect();
        if let [a, b] = system.as_slice() {
            assert!(Arc::ptr_eq(a, b), "the system's roots are read once");
        }
        std::fs::write(&path, "modules:\n  bad:\n    ca_file: missing.pem\n").unwrap();
        let err = load_modules(Some(&path)).unwrap_err();
        assert!(err.contains("module bad"), "{err}");
    }
}
