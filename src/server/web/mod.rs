//! The exporter-toolkit web configuration (`--web.config.file`): TLS, basic auth, extra headers.

pub mod auth;
pub mod config;
pub mod gzip;
pub mod live;

pub use auth::BasicAuth;
pub use config::{ClientCerts, WebConfig, WebConfigError};
pub use live::LiveWebConfig;
