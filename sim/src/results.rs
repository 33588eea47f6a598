//! The results file of a sweep: a header line saying what was swept, then one line per seed,
//! in seed order (JSON Lines).
//!
//! The file holds nothing that varies between runs (no wall times), so the results of a sweep
//! split into shards, merged, are byte for byte those of the whole sweep run at once; and a
//! sweep interrupted part way can be resumed from its file. The header names the scenario (and
//! a digest of its file), the seeds, and the options that change what a seed does; shards of
//! one sweep share it, and results of different sweeps are never mixed.
//!
//! ```text
//! {"sweep":{"scenario":"will-takeover","file":"scenarios/will-takeover.yaml","digest":"…","seeds":"1..=1000","swarm":false}}
//! {"seed":1,"failed":false,"violations":0,"failed_guarantees":[]}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::explore::SeedResult;

/// What a sweep swept: the same for every shard of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepHeader {
    /// The scenario's name.
    pub scenario: String,
    /// The scenario file, as the sweep was given it.
    pub file: String,
    /// A digest of the scenario file's bytes (64-bit FNV-1a, hex).
    pub digest: String,
    /// The whole sweep's seeds, `A..=B` (a shard runs part of them).
    pub seeds: String,
    /// Whether each seed varied the scenario (`--swarm`).
    pub swarm: bool,
    /// `--duration`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// `--tick`, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct HeaderLine {
    sweep: SweepHeader,
}

/// The digest of a scenario file's bytes that a header holds.
pub fn digest(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The header line, with its newline.
pub fn header_line(header: &SweepHeader) -> String {
    let line = HeaderLine { sweep: header.clone() };
    serde_json::to_string(&line).expect("a header always serialises") + "\n"
}

/// A seed's line, with its newline.
pub fn seed_line(result: &SeedResult) -> String {
    serde_json::to_string(result).expect("a seed result always serialises") + "\n"
}

/// A whole results file: the header, then the results in seed order.
pub fn render(header: &SweepHeader, results: &[SeedResult]) -> String {
    let mut out = header_line(header);
    for r in results {
        out.push_str(&seed_line(r));
    }
    out
}

/// A results file read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsFile {
    /// Its header.
    pub header: SweepHeader,
    /// Its seeds' results, in file order.
    pub results: Vec<SeedResult>,
    /// Whether its last line was cut short (the sweep was interrupted while writing it); that
    /// line is left out.
    pub truncated: bool,
}

/// Why results cannot be read, merged or resumed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResultsError {
    /// The file has no sweep header.
    #[error(
        "{path}: not a results file of `mqtt-sim explore` (the first line is not a sweep header)"
    )]
    NoHeader {
        /// The file.
        path: PathBuf,
    },
    /// A line is not a seed's result.
    #[error("{path}:{line}: not a seed result: {source}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        source: serde_json::Error,
    },
    /// Two files are of different sweeps.
    #[error("{path} is of another sweep than {first}: {what}")]
    OtherSweep {
        /// The first file.
        first: PathBuf,
        /// The file that differs.
        path: PathBuf,
        /// How.
        what: String,
    },
    /// A seed has two different results.
    #[error("seed {seed} has two different results ({first} and {path})")]
    Conflict {
        /// The seed.
        seed: u64,
        /// Where it was first seen.
        first: PathBuf,
        /// Where it differs.
        path: PathBuf,
    },
    /// Seeds of the sweep have no result.
    #[error(
        "{missing} of the sweep's {total} seeds have no result (the first: {first}); merge every shard, or resume the interrupted ones with --resume"
    )]
    Missing {
        /// How many.
        missing: usize,
        /// Of how many.
        total: usize,
        /// Some of them.
        first: String,
    },
    /// A seed is not one of the sweep's.
    #[error("{path} holds seed {seed}, which this sweep does not run")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The seed.
        seed: u64,
    },
}

/// Reads a results file's text; `path` names it in errors.
///
/// # Errors
///
/// A missing header, or a line (other than a last, unfinished one) that is not a seed result.
pub fn parse(text: &str, path: &Path) -> Result<ResultsFile, ResultsError> {
    let mut lines = text.split_inclusive('\n').enumerate();
    let header = lines
        .next()
        .and_then(|(_, l)| serde_json::from_str::<HeaderLine>(l).ok())
        .ok_or_else(|| ResultsError::NoHeader { path: path.to_owned() })?
        .sweep;
    let mut results = Vec::new();
    let mut truncated = false;
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<SeedResult>(line) {
            Ok(r) => results.push(r),
            // A last line without its newline was being written when the sweep stopped.
            Err(_) if !line.ends_with('\n') => truncated = true,
            Err(source) => {
                return Err(ResultsError::BadLine { path: path.to_owned(), line: i + 1, source });
            }
        }
    }
    Ok(ResultsFile { header, results, truncated })
}

/// How `b` differs from `a` as sweeps (the file's path may differ), if it does.
pub fn differs(a: &SweepHeader, b: &SweepHeader) -> Option<String> {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".to_owned());
    let pairs = [
        ("scenario", a.scenario.clone(), b.scenario.clone()),
        ("scenario digest", a.digest.clone(), b.digest.clone()),
        ("seeds", a.seeds.clone(), b.seeds.clone()),
        ("swarm", a.swarm.to_string(), b.swarm.to_string()),
        ("duration", opt(&a.duration), opt(&b.duration)),
        ("tick", opt(&a.tick), opt(&b.tick)),
    ];
    let what: Vec<String> = pairs
        .into_iter()
        .filter(|(_, x, y)| x != y)
        .map(|(name, x, y)| format!("{name} {y} instead of {x}"))
        .collect();
    (!what.is_empty()).then(|| what.join(", "))
}

/// Merges the results of the files (each with its path) into the whole sweep's, in seed
/// order, under the first file's header; `all_seeds` are the seeds the header's range holds.
///
/// # Errors
///
/// Files of different sweeps, a seed with two different results, a seed outside the sweep, or
/// seeds of the sweep without a result.
pub fn merge(
    files: &[(PathBuf, ResultsFile)],
    all_seeds: &[u64],
) -> Result<(SweepHeader, Vec<SeedResult>), ResultsError> {
    let Some((first_path, first)) = files.first() else {
        return Err(ResultsError::Missing {
            missing: all_seeds.len(),
            total: all_seeds.len(),
            first: "all".to_owned(),
        });
    };
    let wanted: std::collections::BTreeSet<u64> = all_seeds.iter().copied().collect();
    let mut merged: BTreeMap<u64, (&SeedResult, &Path)> = BTreeMap::new();
    for (path, file) in files {
        if let Some(what) = differs(&first.header, &file.header) {
            return Err(ResultsError::OtherSweep {
                first: first_path.clone(),
                path: path.clone(),
                what,
            });
        }
        for r in &file.results {
            if !wanted.contains(&r.seed) {
                return Err(ResultsError::Foreign { path: path.clone(), seed: r.seed });
            }
            match merged.get(&r.seed) {
                Some((seen, _)) if *seen == r => {}
                Some((_, where_)) => {
                    return Err(ResultsError::Conflict {
                        seed: r.seed,
                        first: where_.to_path_buf(),
                        path: path.clone(),
                    });
                }
                None => {
                    merged.insert(r.seed, (r, path));
                }
            }
        }
    }
    let missing: Vec<u64> = all_seeds.iter().copied().filter(|s| !merged.contains_key(s)).collect();
    if !missing.is_empty() {
        let first: Vec<String> = missing.iter().take(5).map(u64::to_string).collect();
        return Err(ResultsError::Missing {
            missing: missing.len(),
            total: all_seeds.len(),
            first: first.join(", "),
        });
    }
    Ok((first.header.clone(), merged.into_values().map(|(r, _)| r.clone()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> SweepHeader {
        SweepHeader {
            scenario: "s".to_owned(),
            file: "s.yaml".to_owned(),
            digest: digest(b"name: s"),
            seeds: "1..=3".to_owned(),
            swarm: false,
            duration: None,
            tick: Some("20ms".to_owned()),
        }
    }

    fn result(seed: u64, failed: bool) -> SeedResult {
        SeedResult {
            seed,
            failed,
            violations: u64::from(failed),
            failed_guarantees: if failed { vec!["wills".to_owned()] } else { Vec::new() },
            error: None,
            wall_ms: 12,
            check_ms: 3,
            not_exercised: Vec::new(),
            coverage: Default::default(),
        }
    }

    #[test]
    fn a_file_reads_back_without_wall_times() {
        let text = render(&header(), &[result(1, false), result(2, true)]);
        assert!(!text.contains("wall_ms") && !text.contains("check_ms"), "{text}");
        let file = parse(&text, Path::new("r.jsonl")).unwrap();
        assert_eq!(file.header, header());
        assert_eq!(
            file.results.iter().map(|r| (r.seed, r.failed)).collect::<Vec<_>>(),
            [(1, false), (2, true)]
        );
        assert!(!file.truncated);
        // An interrupted write leaves a line without its newline: it is left out.
        let cut = &text[..text.len() - 10];
        let file = parse(cut, Path::new("r.jsonl")).unwrap();
        assert!(file.truncated && file.results.len() == 1);
        assert!(matches!(
            parse("{\"seed\":1}\n", Path::new("x")),
            Err(ResultsError::NoHeader { .. })
        ));
    }

    #[test]
    fn shards_merge_into_the_whole_and_mismatches_are_errors() {
        let f =
            |results: Vec<SeedResult>| parse(&render(&header(), &results), Path::new("x")).unwrap();
        let a = (PathBuf::from("a"), f(vec![result(1, false), result(3, false)]));
        let b = (PathBuf::from("b"), f(vec![result(2, true)]));
        let (h, merged) = merge(&[a.clone(), b.clone()], &[1, 2, 3]).unwrap();
        assert_eq!(
            render(&h, &merged),
            render(&header(), &[result(1, false), result(2, true), result(3, false)])
        );
        assert!(matches!(
            merge(std::slice::from_ref(&a), &[1, 2, 3]),
            Err(ResultsError::Missing { missing: 1, .. })
        ));
        let mut other = b.clone();
        other.1.header.tick = None;
        let err = merge(&[a.clone(), other], &[1, 2, 3]).unwrap_err();
        assert!(err.to_string().contains("tick none instead of 20ms"), "{err}");
        let conflict = (PathBuf::from("c"), f(vec![result(1, true)]));
        assert!(matches!(
            merge(&[a.clone(), b.clone(), conflict], &[1, 2, 3]),
            Err(ResultsError::Conflict { seed: 1, .. })
        ));
        assert!(matches!(merge(&[a, b], &[1, 2]), Err(ResultsError::Foreign { seed: 3, .. })));
    }
}
