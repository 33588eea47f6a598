//! Trace files on disk: JSON Lines, plain or compressed with zstd (a `.zst` name), written as
//! the run goes and read back by `mqtt-sim report` whichever they are.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use mqttsim_sim::check::{ReadTraceError, read_jsonl};
use mqttsim_sim::trace::Record;

/// The first bytes of a zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The compression level: fast enough not to slow a run down, and traces, being repetitive
/// text, still shrink about tenfold.
const LEVEL: i32 = 3;

/// Whether a trace at `path` is written compressed.
pub fn is_compressed(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "zst")
}

/// A trace file being written.
pub enum TraceWriter {
    /// JSON Lines as they are.
    Plain(BufWriter<File>),
    /// JSON Lines through a streaming zstd encoder.
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
}

impl TraceWriter {
    /// Creates `path`, compressed if its name ends in `.zst`.
    pub fn create(path: &Path) -> io::Result<TraceWriter> {
        let file = BufWriter::with_capacity(1 << 16, File::create(path)?);
        if is_compressed(path) {
            Ok(TraceWriter::Zstd(zstd::Encoder::new(file, LEVEL)?))
        } else {
            Ok(TraceWriter::Plain(file))
        }
    }

    /// Ends the file: writes the end of the zstd frame and flushes.
    pub fn finish(self) -> io::Result<()> {
        match self {
            TraceWriter::Plain(mut w) => w.flush(),
            TraceWriter::Zstd(e) => e.finish()?.flush(),
        }
    }
}

impl Write for TraceWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TraceWriter::Plain(w) => w.write(buf),
            TraceWriter::Zstd(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            TraceWriter::Plain(w) => w.flush(),
            TraceWriter::Zstd(e) => e.flush(),
        }
    }
}

/// Reads a JSON Lines trace, compressed with zstd or not (told by its first bytes, not its
/// name), line by line.
pub fn read_trace(path: &Path) -> Result<Vec<Record>, ReadTraceError> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path)?);
    let compressed = reader.fill_buf()?.starts_with(&ZSTD_MAGIC);
    if compressed {
        let decoder = Corrupt(zstd::Decoder::with_buffer(reader)?);
        read_jsonl(BufReader::with_capacity(1 << 16, decoder))
    } else {
        read_jsonl(reader)
    }
}

/// The decoder's errors (a damaged or cut-off zstd stream) as `InvalidData`: the file is bad
/// input, not a failure of the machine.
struct Corrupt<R>(R);

impl<R: Read> Read for Corrupt<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::Other | io::ErrorKind::UnexpectedEof => {
                io::Error::new(io::ErrorKind::InvalidData, format!("not a whole zstd trace: {e}"))
            }
            _ => e,
        })
    }
}

/// A file's size for people: `812 B`, `45.3 kB`, `12.1 MB`, `3.40 GB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.2} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1.00 kB");
        assert_eq!(human_size(45_300), "45.3 kB");
        assert_eq!(human_size(12_100_000), "12.1 MB");
        assert_eq!(human_size(3_400_000_000), "3.40 GB");
    }
}
