//! How fast petitions are sketched (normalised, shingled, MinHashed) on this machine:
//! `cargo run --release -p minhu-dedup --example sketch_speed -- <messages.jsonl>`.
//! Ends with `sketches=N avg_chars=N us_per_sketch=F us_per_1000_chars=F`.

use std::time::Instant;

use minhu_dedup::sketch::{Scheme, Sketch};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: sketch_speed <messages.jsonl>")?;
    let messages = minhu_dedup::data::read_messages(std::path::Path::new(&path))?;
    let started = Instant::now();
    let (mut sketches, mut chars) = (0usize, 0usize);
    for _ in 0..3 {
        for m in &messages {
            std::hint::black_box(Sketch::of_petition(&Scheme::V1, &m.title, &m.body));
            chars += m.title.chars().count() + m.body.chars().count();
            sketches += 1;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "sketches={sketches} avg_chars={} us_per_sketch={:.2} us_per_1000_chars={:.2}",
        chars / sketches.max(1),
        elapsed * 1e6 / sketches.max(1) as f64,
        elapsed * 1e9 / chars.max(1) as f64
    );
    Ok(())
}
