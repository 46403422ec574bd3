//! Entry point: parse flags, start logging, run `serve` (default), `check` or `ports`.

fn main() {}
