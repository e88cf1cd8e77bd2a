//! Writes the envelope test vectors (`docs/envelope-vectors.json`) to stdout:
//! `cargo run -p privacy --example envelope_vectors > docs/envelope-vectors.json`.

#[path = "../tests/support/vectors.rs"]
#[allow(dead_code, missing_docs)]
mod vectors;

fn main() {
    print!("{}", vectors::render(&vectors::generate()));
}
