//! Log lines on stderr, as the Prometheus exporters write them: `--log.format logfmt` (the
//! default) or `json`, `--log.level` (RUST_LOG wins when set), one line per event with its
//! fields (`time`, `level`, `source`, `msg`, then the event's own key-values).
//!
//! ```text
//! time=2026-12-07T05:31:02.114Z level=INFO source=lotus_follow_exporter msg="starting lotus-follow-exporter" version=0.2.0 revision=a8470cd8e4f1
//! {"time":"2026-12-07T05:31:02.114Z","level":"INFO","source":"lotus_follow_exporter","msg":"starting lotus-follow-exporter","version":"0.2.0","revision":"a8470cd8e4f1"}
//! ```

use std::io::Write;

/// `--log.format`: how each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs, values quoted when they hold a space, `=` or `"` (go-logfmt's rules).
    #[default]
    Logfmt,
    /// One JSON object per line.
    Json,
}

/// Start logging to stderr at `level` (RUST_LOG, when set, wins) in `format`.
pub fn init(level: &str, format: LogFormat) {
    let env = env_logger::Env::default().default_filter_or(level);
    let logger = env_logger::Builder::from_env(env)
        .format(move |buf, record| {
            let time = buf.timestamp_millis().to_string();
            let line = line(format, &time, record);
            writeln!(buf, "{line}")
        })
        .build();
    let max = logger.filter();
    // Client-triggered work logs at debug, and every call site's flood is cut (see host::log).
    let guarded = crate::host::log::Guarded::new(logger);
    if log::set_boxed_logger(Box::new(guarded)).is_ok() {
        log::set_max_level(max);
    }
}

/// One record as a line (without the newline).
pub fn line(format: LogFormat, time: &str, record: &log::Record) -> String {
    let mut fields: Vec<(String, String)> = vec![
        ("time".into(), time.into()),
        ("level".into(), record.level().as_str().into()),
        ("source".into(), record.target().into()),
        ("msg".into(), record.args().to_string()),
    ];
    let mut visitor = Fields(&mut fields);
    let _ = record.key_values().visit(&mut visitor);
    match format {
        LogFormat::Logfmt => fields
            .iter()
            .map(|(k, v)| format!("{k}={}", logfmt_value(v)))
            .collect::<Vec<_>>()
            .join(" "),
        // Written by hand to keep the fields in order (time, level, source, msg first).
        LogFormat::Json => {
            let pairs: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
                .collect();
            format!("{{{}}}", pairs.join(","))
        }
    }
}

/// Collects a record's key-values as text.
struct Fields<'a>(&'a mut Vec<(String, String)>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        self.0.push((key.to_string(), value.to_string()));
        Ok(())
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

/// A logfmt value: bare when it can be, else quoted with `\`, `"` and control characters
/// escaped (one event stays one line).
fn logfmt_value(value: &str) -> String {
    let bare = !value.is_empty()
        && value
            .chars()
            .all(|c| c > ' ' && c != '=' && c != '"' && c != '\\' && !c.is_control());
    if bare {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record_line(format: LogFormat, msg: &str) -> String {
        let kvs: [(&str, log::kv::Value); 2] = [
            ("version", log::kv::Value::from("0.2.0")),
            (
                "lotus",
                log::kv::Value::from("http://127.0.0.1:1234/rpc/v1"),
            ),
        ];
        line(
            format,
            "2026-12-07T05:31:02.114Z",
            &log::Record::builder()
                .args(format_args!("{msg}"))
                .level(log::Level::Warn)
                .target("lotus_follow_exporter::x")
                .key_values(&kvs)
                .build(),
        )
    }

    #[test]
    fn logfmt_quotes_only_what_needs_it() {
        assert_eq!(
            record_line(LogFormat::Logfmt, "Lotus is down: \"refused\"\nagain"),
            "time=2026-12-07T05:31:02.114Z level=WARN source=lotus_follow_exporter::x \
             msg=\"Lotus is down: \\\"refused\\\"\\nagain\" version=0.2.0 \
             lotus=http://127.0.0.1:1234/rpc/v1"
        );
        assert_eq!(logfmt_value(""), "\"\"");
        assert_eq!(logfmt_value("a=b"), "\"a=b\"");
    }

    #[test]
    fn json_is_one_object_per_line() {
        let line = record_line(LogFormat::Json, "two\nlines");
        assert!(!line.contains('\n'), "{line}");
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["level"], "WARN");
        assert_eq!(value["msg"], "two\nlines");
        assert_eq!(value["version"], "0.2.0");
        assert_eq!(value["time"], "2026-12-07T05:31:02.114Z");
    }
}
