//! `/probe` of a Lotus target: the modules of `--probe.config.file` (token, where the token may
//! go, CA, timeout) and a fresh Lotus check per target, without host-local checks. Module `lotus`
//! always exists and sends no token (the target comes from whoever can reach the exporter); a
//! module's token goes only to the configured Lotus and its `token_targets` ([`targets`]): a
//! probe of any other target with that module is refused before anything is sent.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::rpc::RpcTarget;
use super::{LotusCheck, LotusConfig};
use crate::contract::{Check, ProbeError, Prober};
use crate::net::http_client::Endpoint;
use crate::net::tls_client::ClientTls;
use crate::secret::Secret;

pub mod targets;
use targets::TokenTarget;

/// The module that exists without any file: no token, the system's roots.
pub const DEFAULT_MODULE: &str = "lotus";

/// What one probe may hold of its answers at once, unless its module's `memory_budget_bytes`
/// says otherwise: a Lotus node's answers to a probe are a few KiB each (NetPeers of a node at
/// its 192-peer connection limit is about 25 KiB).
pub const DEFAULT_MEMORY_BUDGET: usize = 4 << 20;

/// The calls one probe makes at once, at most (five health calls, three for the per-session
/// constants and token check, two to discover wallets and [`MAX_WALLETS`] balances, five for
/// finality): each may read an equal share of the memory budget.
pub const CALLS_AT_ONCE: usize = 24;

/// A probe with a token watches at most this many of the node's wallets (`--lotus.max-wallets`
/// lowers it further).
pub const MAX_WALLETS: usize = 8;

/// One probe module.
#[derive(Debug, Clone, Default)]
pub struct Module {
    /// The token sent to targets probed with this module.
    token: Option<Secret>,
    /// Where the token may go besides the configured Lotus (`token_targets`).
    token_targets: Vec<TokenTarget>,
    /// The TLS settings for https targets, built from the module's CA file when the file is
    /// read at start (`None`: the system's roots).
    tls: Option<ClientTls>,
    /// Upper bound of a probe (the scrape's timeout minus the offset lowers it).
    timeout: Option<Duration>,
    /// What one probe may hold of its answers at once (`None`: [`DEFAULT_MEMORY_BUDGET`]).
    memory_budget: Option<usize>,
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
    #[serde(default)]
    token_targets: Vec<String>,
    ca_file: Option<PathBuf>,
    #[serde(default, with = "humantime_serde_opt")]
    timeout: Option<Duration>,
    memory_budget_bytes: Option<usize>,
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
        if token.is_none() && !module.token_targets.is_empty() {
            return Err(format!(
                "--probe.config.file {shown}: module {name}: token_targets says where the token may go, but the module has no token_file"
            ));
        }
        let token_targets = module
            .token_targets
            .iter()
            .map(|entry| TokenTarget::parse(entry))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                format!("--probe.config.file {shown}: module {name}: token_targets {e}")
            })?;
        let tls = match module.ca_file {
            None => None,
            Some(ca) => Some(
                crate::net::tls_client::client_config(Some(&base.join(ca)))
                    .map_err(|e| format!("--probe.config.file {shown}: module {name}: {e}"))?,
            ),
        };
        let timeout = module.timeout;
        let memory_budget = match module.memory_budget_bytes {
            Some(bytes) if bytes < CALLS_AT_ONCE * 1024 => {
                return Err(format!(
                    "--probe.config.file {shown}: module {name}: memory_budget_bytes {bytes} leaves less than 1 KiB per call (at least {})",
                    CALLS_AT_ONCE * 1024
                ))
            }
            other => other,
        };
        modules.insert(
            name,
            Module {
                token,
                token_targets,
                tls,
                timeout,
                memory_budget,
            },
        );
    }
    Ok(modules)
}

/// Builds Lotus checks of probe targets.
pub struct LotusProber {
    modules: BTreeMap<String, Module>,
    /// Settings every probe shares with the main Lotus check (lag threshold, body cap).
    base: LotusConfig,
    /// The system's trusted roots for https targets of modules without a CA file, read on the
    /// first such probe and kept (reading them costs tens of milliseconds).
    system_roots: std::sync::OnceLock<Result<ClientTls, String>>,
    /// The configured Lotus (`--lotus.api`) and whether it speaks TLS: every token may go there.
    home: Option<(Endpoint, bool)>,
}

impl LotusProber {
    /// A prober with these modules, sharing the main Lotus check's limits.
    pub fn new(base: &LotusConfig, modules: BTreeMap<String, Module>) -> LotusProber {
        let home = base
            .target
            .as_ref()
            .ok()
            .map(|t| (t.endpoint.clone(), t.tls.is_some()));
        LotusProber {
            modules,
            home,
            base: base.clone(),
            system_roots: std::sync::OnceLock::new(),
        }
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
        let resolved = super::rpc_target(&address).map_err(bad)?;
        if module.token.is_some() {
            self.token_may_go(module, &resolved.target, resolved.tls)
                .map_err(bad)?;
        }
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
        let target_rpc = match (&token, super::clear_token_refusal(&target_rpc, false)) {
            (Some(_), Some(refusal)) => Err(refusal),
            _ => Ok(target_rpc),
        };
        // The memory budget, shared out among the calls a probe makes at once.
        let budget = module.memory_budget.unwrap_or(DEFAULT_MEMORY_BUDGET);
        Ok(LotusConfig {
            target: target_rpc,
            token,
            api_source: "/probe target".to_string(),
            sources: None,
            wallets: Vec::new(),
            max_body_bytes: self.base.max_body_bytes.min(budget / CALLS_AT_ONCE),
            max_wallets: self.base.max_wallets.min(MAX_WALLETS),
            ..self.base.clone()
        })
    }
}

impl LotusProber {
    /// Refuse a target the module's token may not go to: only the configured Lotus (same
    /// endpoint, same scheme) and the module's `token_targets`.
    fn token_may_go(&self, module: &Module, target: &RpcTarget, tls: bool) -> Result<(), String> {
        let home = self
            .home
            .as_ref()
            .is_some_and(|(endpoint, home_tls)| *endpoint == target.endpoint && *home_tls == tls);
        if home
            || module
                .token_targets
                .iter()
                .any(|t| t.permits(&target.endpoint, tls))
        {
            return Ok(());
        }
        Err(format!(
            "this module's token may go only to the configured Lotus and the targets its \
             token_targets names (in --probe.config.file), and {} is neither: nothing was sent",
            target.display
        ))
    }
}

impl Prober for LotusProber {
    fn default_module(&self) -> &str {
        DEFAULT_MODULE
    }

    fn modules(&self) -> Vec<String> {
        self.modules.keys().cloned().collect()
    }

    fn timeout(&self, module: &str) -> Option<Duration> {
        self.modules.get(module).and_then(|m| m.timeout)
    }

    fn check(&self, target: &str, module: &str) -> Result<Arc<dyn Check>, ProbeError> {
        let found = self.modules.get(module).ok_or_else(|| {
            ProbeError::UnknownModule(module.to_string(), self.modules().join(", "))
        })?;
        let config = self.lotus_config(target, found)?;
        Ok(Arc::new(LotusCheck::new(config).without_host_checks()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let settings =
            crate::checks::test_settings(&["--lotus.api", "/ip4/127.0.0.1/tcp/1/http"], &[]);
        let prober = LotusProber::new(&settings.lotus, modules);
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

    #[test]
    fn a_modules_token_goes_only_to_the_configured_lotus_and_its_token_targets() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "FLEET-TOKEN\n").unwrap();
        let path = dir.path().join("probe.yml");
        std::fs::write(
            &path,
            "modules:\n  read:\n    token_file: token\n  fleet:\n    token_file: token\n    token_targets: ['https://lotus-*.fleet.example:1234', 'unix:/run/lotus/api.sock', '10.0.0.7']\n",
        )
        .unwrap();
        let modules = load_modules(Some(&path)).unwrap();
        let settings =
            crate::checks::test_settings(&["--lotus.api", "/ip4/127.0.0.1/tcp/1234/http"], &[]);
        let prober = LotusProber::new(&settings.lotus, modules);
        let verdict = |module: &str, target: &str| {
            prober
                .lotus_config(target, &prober.modules[module])
                .map(|c| c.token.is_some())
                .map_err(|e| e.to_string())
        };
        // Module `read` says nowhere: only the configured Lotus.
        assert_eq!(verdict("read", "127.0.0.1:1234"), Ok(true));
        assert_eq!(verdict("read", "/ip4/127.0.0.1/tcp/1234/http"), Ok(true));
        for elsewhere in [
            "http://127.0.0.2:1234",
            "127.0.0.1:1235",
            "localhost:1234",
            "https://127.0.0.1:1234",
            "/unix/tmp/attacker.sock",
            "https://lotus-1.fleet.example:1234",
            "https://public.example.com",
        ] {
            let refused = verdict("read", elsewhere).unwrap_err();
            assert!(refused.contains("token_targets"), "{elsewhere}: {refused}");
            assert!(!refused.contains("FLEET-TOKEN"), "{refused}");
        }
        // Module `fleet` names its targets.
        assert_eq!(
            verdict("fleet", "https://lotus-1.fleet.example:1234"),
            Ok(true)
        );
        assert_eq!(verdict("fleet", "/unix/run/lotus/api.sock"), Ok(true));
        assert!(verdict("fleet", "http://lotus-1.fleet.example:1234").is_err());
        assert!(verdict("fleet", "https://lotus-1.fleet.example.evil.com:1234").is_err());
        assert!(verdict("fleet", "/unix/tmp/lotus/api.sock").is_err());
        // Module `lotus` has no token: it may probe anything, sending nothing.
        assert_eq!(verdict("lotus", "http://127.0.0.2:1234"), Ok(false));

        std::fs::write(&path, "modules:\n  m:\n    token_targets: [node]\n").unwrap();
        let err = load_modules(Some(&path)).unwrap_err();
        assert!(err.contains("no token_file"), "{err}");
        std::fs::write(dir.path().join("token"), "T\n").unwrap();
        std::fs::write(
            &path,
            "modules:\n  m:\n    token_file: token\n    token_targets: ['*']\n",
        )
        .unwrap();
        let err = load_modules(Some(&path)).unwrap_err();
        assert!(err.contains("module m: token_targets"), "{err}");
    }

    #[test]
    fn a_probe_reads_at_most_its_memory_budget_shared_among_its_calls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("probe.yml");
        std::fs::write(
            &path,
            "modules:\n  small:\n    memory_budget_bytes: 240000\n",
        )
        .unwrap();
        let modules = load_modules(Some(&path)).unwrap();
        let settings =
            crate::checks::test_settings(&["--lotus.api", "/ip4/127.0.0.1/tcp/1234/http"], &[]);
        let prober = LotusProber::new(&settings.lotus, modules);
        let cap = |module: &str| {
            let config = prober
                .lotus_config("node:1234", &prober.modules[module])
                .unwrap();
            (config.max_body_bytes, config.max_wallets)
        };
        assert_eq!(
            cap("lotus"),
            (DEFAULT_MEMORY_BUDGET / CALLS_AT_ONCE, MAX_WALLETS)
        );
        assert_eq!(cap("small").0, 10_000);
        assert!(
            settings.lotus.max_body_bytes > DEFAULT_MEMORY_BUDGET,
            "a probe holds less than a scrape"
        );
        std::fs::write(&path, "modules:\n  tiny:\n    memory_budget_bytes: 100\n").unwrap();
        let err = load_modules(Some(&path)).unwrap_err();
        assert!(err.contains("memory_budget_bytes"), "{err}");
    }
}
