//! The checks, one folder each, and the registry that lists them: with the typed joins in
//! `joins.rs`, the only place that names every check. Everything above (the collector, the
//! snapshot, `/probe`, the renderers, the server) loops over the [`Registry`].
//!
//! Adding a check is one folder (its flags, settings, run, report, verdict and rendering behind
//! [`crate::contract::Check`] and [`crate::contract::Section`]) and one line in each of
//! [`Args`], [`Settings`] and [`registry`].

use std::sync::Arc;

pub use crate::contract::values::Shared;
use crate::contract::Registry;

pub mod follow;
pub mod joins;
pub mod kubo;
pub mod lotus;
pub mod ports;

pub use ports::holder::port_holder;

/// Every check's flags, flattened into the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub lotus: lotus::LotusArgs,
    #[command(flatten)]
    pub follow: follow::FollowArgs,
    #[command(flatten)]
    pub ports: ports::PortsArgs,
    #[command(flatten)]
    pub kubo: kubo::KuboArgs,
}

/// Every check's settings, resolved from the flags and the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub lotus: lotus::LotusConfig,
    pub follow: follow::FollowConfig,
    pub ports: ports::PortsConfig,
    pub kubo: kubo::KuboConfig,
}

impl Settings {
    /// Resolve every check's flags with the environment (`env` looks a variable up). The Lotus
    /// API in use, when on this host, is handed to the port plan as a typed address; Kubo's
    /// config file (resolved once, for the port plan) and the follow config folder to the Kubo
    /// check, which reads them itself.
    pub fn resolve(args: &Args, shared: &Shared, env: &dyn Fn(&str) -> Option<String>) -> Settings {
        let lotus_path = args
            .lotus
            .lotus_path
            .clone()
            .unwrap_or_else(|| shared.home.join(".lotus"));
        if let Some(warning) = args.lotus.missing_repo_warning(env) {
            log::warn!("{warning}");
        }
        let lotus = lotus::resolve(&args.lotus, &lotus_path, env);
        let follow = follow::resolve(&args.follow, shared);
        let ports = ports::resolve(
            &args.ports,
            shared,
            &lotus_path,
            lotus::local_tcp_api(&lotus),
            env,
        );
        let kubo = kubo::resolve(&args.kubo, &ports.kubo_config, &follow.config_dir);
        Settings {
            lotus,
            follow,
            ports,
            kubo,
        }
    }
}

/// The registry: every check, in the order its section is shown, and their joins.
pub fn registry(settings: &Settings) -> Registry {
    Registry {
        checks: vec![
            Arc::new(lotus::LotusCheck::new(settings.lotus.clone())),
            Arc::new(follow::FollowCheck::new(settings.follow.clone())),
            Arc::new(ports::PortsCheck::new(settings.ports.clone())),
            Arc::new(kubo::KuboCheck::new(settings.kubo.clone())),
        ],
        join: joins::join,
    }
}

/// The `/probe` prober: Lotus targets, with the modules of `--probe.config.file` (read now).
pub fn prober(
    settings: &Settings,
    modules_file: Option<&std::path::Path>,
) -> Result<Arc<dyn crate::contract::Prober>, String> {
    let modules = lotus::probe::load_modules(modules_file)?;
    Ok(Arc::new(lotus::probe::LotusProber::new(
        &settings.lotus,
        modules,
    )))
}

/// [`Settings::resolve`] of a command line (without the program name) in an environment given
/// as pairs, for the checks' tests.
#[cfg(test)]
pub(crate) fn test_settings(args: &[&str], env: &[(&str, &str)]) -> Settings {
    use clap::Parser;
    #[derive(Parser)]
    struct Only {
        #[command(flatten)]
        args: Args,
    }
    let mut argv = vec!["exporter"];
    argv.extend_from_slice(args);
    let parsed = Only::try_parse_from(argv).unwrap();
    let env: std::collections::HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let home = env
        .get("HOME")
        .map_or_else(|| std::path::PathBuf::from("/"), std::path::PathBuf::from);
    let shared = Shared {
        home,
        listen_addresses: vec![":10234".into()],
    };
    Settings::resolve(&parsed.args, &shared, &|name| env.get(name).cloned())
}

#[cfg(test)]
mod tests {
    use super::test_settings;

    #[test]
    fn a_lotus_path_that_does_not_exist_is_named_in_a_warning() {
        use clap::Parser;
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            args: super::Args,
        }
        let warning = |argv: &[&str], env: &[(&str, &str)]| {
            let parsed = Only::try_parse_from(argv).unwrap();
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            parsed.args.lotus.missing_repo_warning(&|name| {
                env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            })
        };
        let typo = warning(&["x", "--lotus.path", "/nonexistent/lotsu"], &[]).unwrap();
        assert!(
            typo.starts_with("--lotus.path /nonexistent/lotsu does not exist")
                && typo.contains("/ip4/127.0.0.1/tcp/1234/http"),
            "{typo}"
        );
        let by_env = warning(
            &["x", "--lotus.path", "/nonexistent/lotsu"],
            &[("LOTUS_PATH", "/nonexistent/lotsu")],
        )
        .unwrap();
        assert!(
            by_env.starts_with("LOTUS_PATH /nonexistent/lotsu"),
            "{by_env}"
        );
        let repo = tempfile::tempdir().unwrap();
        assert_eq!(
            warning(&["x", "--lotus.path", repo.path().to_str().unwrap()], &[]),
            None
        );
        assert_eq!(warning(&["x"], &[]), None, "the default repo may be absent");
    }

    #[test]
    fn only_a_local_lotus_api_is_a_port_claim() {
        let local = test_settings(&["--lotus.api", "/ip4/127.0.0.1/tcp/1234/http"], &[]);
        assert_eq!(local.ports.lotus_api, Some(("127.0.0.1".to_string(), 1234)));
        let remote = test_settings(&["--lotus.api", "http://10.20.30.40:9096"], &[]);
        assert_eq!(remote.ports.lotus_api, None);
    }
}
