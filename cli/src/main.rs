//! The `mqtt-sim` command line.

fn main() {
    println!("mqtt-sim: not yet");
}
