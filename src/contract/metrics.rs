//! The metrics builder a check renders into: metric families under construction for one scrape
//! (the "const metric" pattern), encoded by the renderer in the text exposition format.

use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, TextEncoder};

/// Metric families under construction for one scrape.
#[derive(Default)]
pub struct Families {
    families: Vec<MetricFamily>,
}

impl Families {
    /// Start a gauge family. A family that ends up with no sample is dropped at encoding time.
    pub fn gauge(&mut self, name: &str, help: &str) -> FamilyBuilder<'_> {
        self.family(name, help, MetricType::GAUGE)
    }

    /// Start a counter family (`name` must end in `_total`).
    pub fn counter(&mut self, name: &str, help: &str) -> FamilyBuilder<'_> {
        self.family(name, help, MetricType::COUNTER)
    }

    fn family(&mut self, name: &str, help: &str, kind: MetricType) -> FamilyBuilder<'_> {
        let mut family = MetricFamily::default();
        family.set_name(name.to_string());
        family.set_help(help.to_string());
        family.set_field_type(kind);
        self.families.push(family);
        let family = self.families.last_mut().expect("just pushed");
        FamilyBuilder { family }
    }

    /// Add families gathered elsewhere (the process collector).
    pub fn extend(&mut self, families: Vec<MetricFamily>) {
        self.families.extend(families);
    }

    /// Encode in the text format, families sorted by name, empty ones left out.
    pub fn encode(mut self) -> String {
        self.families.retain(|f| !f.get_metric().is_empty());
        self.families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        // Encoding plain in-memory families into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Adds samples to one family.
pub struct FamilyBuilder<'a> {
    family: &'a mut MetricFamily,
}

impl FamilyBuilder<'_> {
    /// Add one sample with these labels.
    pub fn sample(&mut self, labels: &[(&str, &str)], value: f64) -> &mut Self {
        let mut metric = Metric::default();
        metric.set_label(
            labels
                .iter()
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name(name.to_string());
                    pair.set_value(value.to_string());
                    pair
                })
                .collect(),
        );
        match self.family.get_field_type() {
            MetricType::COUNTER => {
                let mut counter = prometheus::proto::Counter::default();
                counter.set_value(value);
                metric.set_counter(counter);
            }
            _ => {
                let mut gauge = Gauge::default();
                gauge.set_value(value);
                metric.set_gauge(gauge);
            }
        }
        self.family.mut_metric().push(metric);
        self
    }

    /// Add a sample only when the figure is known; an unknown figure is an absent series.
    pub fn maybe(&mut self, labels: &[(&str, &str)], value: Option<f64>) -> &mut Self {
        if let Some(value) = value {
            self.sample(labels, value);
        }
        self
    }

    /// One sample per state, 1 for the current one and 0 for the others (a StateSet).
    pub fn states(
        &mut self,
        extra: &[(&str, &str)],
        label: &str,
        states: &[&str],
        current: &str,
    ) -> &mut Self {
        for state in states {
            let mut labels = extra.to_vec();
            labels.push((label, state));
            self.sample(&labels, bool_value(*state == current));
        }
        self
    }
}

/// 1.0 for true, 0.0 for false.
pub fn bool_value(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_encode_sorted_with_help_and_type() {
        let mut families = Families::default();
        families
            .gauge("b_metric", "B. 1 means yes.")
            .sample(&[("k", "v\"q")], 1.0);
        families.gauge("a_metric", "A.").sample(&[], 2.5);
        families
            .gauge("empty_metric", "Never sampled.")
            .maybe(&[], None);
        let text = families.encode();
        assert_eq!(
            text,
            "# HELP a_metric A.\n# TYPE a_metric gauge\na_metric 2.5\n\
             # HELP b_metric B. 1 means yes.\n# TYPE b_metric gauge\nb_metric{k=\"v\\\"q\"} 1\n"
        );
    }

    #[test]
    fn states_set_exactly_one() {
        let mut families = Families::default();
        families
            .gauge("s", "S.")
            .states(&[], "state", &["a", "b", "c"], "b");
        let text = families.encode();
        assert!(
            text.contains("s{state=\"a\"} 0\ns{state=\"b\"} 1\ns{state=\"c\"} 0\n"),
            "{text}"
        );
    }
}
