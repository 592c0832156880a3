//! Tests of the result and Filosofi parsers on the shipped data files and on hand-made corrupt inputs.

use std::io::{Read, Write};

use encoding_rs::WINDOWS_1252;
use flate2::read::MultiGzDecoder;

use super::filosofi::parse_indicator;
use super::parser::parse_count;
use super::*;

const NATIONAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/elections/national/");
const RHONE_T1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/elections/rhone-69/pres2017_t1_bv_69.csv.gz");
const RHONE_T2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/elections/rhone-69/pres2017_t2_bv_69.csv.gz");
const FINISTERE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/data/elections/finistere-29/leg2024_t1_bv_29_circ2-3.csv.gz");
const FILOSOFI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/socio/filosofi2021_communes_69.csv.gz");
const NATIONAL_FILES: [(&str, usize, usize); 5] = [
    ("2017-presidentielle-1", 69_242, 11),
    ("2017-presidentielle-2", 69_242, 2),
    ("2017-legislatives-1", 69_242, 17),
    ("2017-legislatives-2", 68_767, 16),
    ("2019-europeennes", 69_297, 34),
];

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn national(name: &str) -> Vec<u8> {
    read(&format!("{NATIONAL}{name}_par_bureau_large.csv.gz"))
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn choice(parsed: &ParsedResults, label: &str) -> u32 {
    parsed.choices.iter().position(|c| c.label == label).unwrap_or_else(|| panic!("no choice {label}")) as u32
}

fn votes_for(row: &BureauRow, choice: u32) -> u32 {
    row.votes.iter().find(|&&(c, _)| c == choice).map_or(0, |&(_, v)| v)
}

fn row<'p>(parsed: &'p ParsedResults, commune: &str, bureau: &str) -> &'p BureauRow {
    parsed.rows.iter().find(|r| r.commune == commune && r.bureau == bureau).expect("bureau not found")
}

#[test]
fn national_presidential_2017_round_1_totals() {
    let parsed = parse_results(&national("2017-presidentielle-1")).unwrap();
    assert_eq!(parsed.layout, Layout::NationalWide);
    assert_eq!(parsed.errors, vec![]);
    assert_eq!(parsed.rows.len(), 69_242);
    assert_eq!(parsed.choices.len(), 11);
    let melenchon = choice(&parsed, "MÉLENCHON");
    assert_eq!(parsed.choices[melenchon as usize].nuance, None);
    let total = |f: &dyn Fn(&BureauRow) -> u32| parsed.rows.iter().map(|r| u64::from(f(r))).sum::<u64>();
    assert_eq!(total(&|r| votes_for(r, melenchon)), 7_059_951);
    let macron = choice(&parsed, "MACRON");
    assert_eq!(total(&|r| votes_for(r, macron)), 8_656_346);
    // Official figure (metropolitan France, overseas and abroad).
    assert_eq!(total(&|r| r.inscrits), 47_582_183);
    assert_eq!(total(&|r| r.votants), 37_003_728);
    assert_eq!(total(&|r| r.exprimes), 36_054_394);

    let first = &parsed.rows[0];
    assert_eq!((first.line, first.departement.as_str(), first.commune.as_str()), (2, "01", "01001"));
    assert_eq!((first.bureau.as_str(), first.circonscription.as_deref()), ("0001", Some("01-04")));
    assert_eq!(
        (first.inscrits, first.votants, first.blancs, first.nuls, first.exprimes),
        (598, 506, Some(2), Some(9), 495)
    );
    assert_eq!(votes_for(first, melenchon), 59);

    let lyon = row(&parsed, "69123", "0101");
    assert_eq!((lyon.departement.as_str(), lyon.circonscription.as_deref(), lyon.inscrits), ("69", Some("69-02"), 828));
    assert_eq!(row(&parsed, "14118", "01.1").inscrits, 1267);
    assert_eq!(row(&parsed, "2A004", "0001").departement, "2A");
    let abymes = row(&parsed, "97101", "0001");
    assert_eq!(
        (abymes.departement.as_str(), abymes.circonscription.as_deref(), abymes.inscrits),
        ("971", Some("971-01"), 510)
    );
    assert_eq!(row(&parsed, "97601", "0025").departement, "976");
    assert_eq!(row(&parsed, "98711", "0001").departement, "987");
    assert_eq!(row(&parsed, "98801", "0001").departement, "988");
    assert_eq!(row(&parsed, "97501", "0001").departement, "975");
    assert_eq!(row(&parsed, "97701", "0001").circonscription.as_deref(), Some("977-01"));
    let saint_martin = parsed.rows.iter().find(|r| r.commune == "97801").unwrap();
    assert_eq!((saint_martin.departement.as_str(), saint_martin.circonscription.as_deref()), ("978", Some("977-01")));
    assert_eq!(row(&parsed, "98601", "0001").inscrits, 8464);
    let abidjan = row(&parsed, "ZZ001", "0001");
    assert_eq!((abidjan.departement.as_str(), abidjan.circonscription.as_deref()), ("ZZ", Some("99-09")));
    assert_eq!(abidjan.inscrits, 11294);
    assert!(parsed.rows.iter().all(|r| r.commune.len() == 5 && r.bureau.len() == 4));
}

#[test]
fn every_national_file_parses_without_errors() {
    for (name, rows, choices) in NATIONAL_FILES {
        let parsed = parse_results(&national(name)).unwrap();
        assert_eq!(parsed.layout, Layout::NationalWide, "{name}");
        assert_eq!(parsed.errors, vec![], "{name}");
        assert_eq!((parsed.rows.len(), parsed.choices.len()), (rows, choices), "{name}");
        let legislative = name.contains("legislatives");
        assert!(parsed.choices.iter().all(|c| c.nuance.is_some() == legislative), "{name}");
        assert_eq!(parsed.rows.iter().all(|r| r.circonscription.is_some()), !name.contains("europeennes"));
    }
}

#[test]
fn national_legislative_nuances() {
    let parsed = parse_results(&national("2017-legislatives-1")).unwrap();
    let fi = choice(&parsed, "FI");
    assert_eq!(parsed.choices[fi as usize].nuance.as_deref(), Some("FI"));
    assert_eq!(parsed.rows.iter().map(|r| u64::from(votes_for(r, fi))).sum::<u64>(), 2_497_622);
}

#[test]
fn rhone_official_2017() {
    let bytes = read(RHONE_T1);
    let source = open(&bytes).unwrap();
    assert!(source.compressed());
    assert_eq!(
        (source.delimiter(), source.encoding(), source.layout()),
        (b';', TextEncoding::Utf8, Some(Layout::Official2017))
    );
    let parsed = parse_results(&bytes).unwrap();
    assert_eq!(parsed.layout, Layout::Official2017);
    assert_eq!(parsed.errors, vec![]);
    assert_eq!(parsed.rows.len(), 1287);
    assert_eq!(parsed.choices.len(), 11);
    assert_eq!(parsed.choices[0], Choice { label: "DUPONT-AIGNAN Nicolas".into(), nuance: None });
    let melenchon = choice(&parsed, "MÉLENCHON Jean-Luc");
    let affoux = &parsed.rows[0];
    assert_eq!((affoux.line, affoux.departement.as_str(), affoux.commune.as_str()), (2, "69", "69001"));
    assert_eq!((affoux.bureau.as_str(), affoux.circonscription.as_deref()), ("0001", Some("69-08")));
    assert_eq!(
        (affoux.inscrits, affoux.votants, affoux.blancs, affoux.nuls, affoux.exprimes),
        (259, 230, Some(0), Some(3), 227)
    );
    assert_eq!(votes_for(affoux, melenchon), 24);
    assert_eq!(affoux.votes.len(), 11);
    assert_eq!(parsed.rows.iter().map(|r| u64::from(r.inscrits)).sum::<u64>(), 1_155_604);

    let t2 = parse_results(&read(RHONE_T2)).unwrap();
    assert_eq!((t2.errors.len(), t2.rows.len(), t2.choices.len()), (0, 1287, 2));
}

#[test]
fn latin1_and_utf8_give_identical_rows() {
    let utf8 = gunzip(&read(RHONE_T1));
    let text = std::str::from_utf8(&utf8).unwrap();
    let (latin1, _, unmappable) = WINDOWS_1252.encode(text);
    assert!(!unmappable);
    assert_ne!(latin1.as_ref(), utf8.as_slice());
    assert!(std::str::from_utf8(&latin1).is_err());
    assert_eq!(open(&latin1).unwrap().encoding(), TextEncoding::Windows1252);
    let (a, b) = (parse_results(&utf8).unwrap(), parse_results(&latin1).unwrap());
    assert_eq!(a.rows, b.rows);
    assert_eq!(a.choices, b.choices);
    assert_eq!(a.errors, b.errors);
    // Latin-1 header names are recognised too.
    assert_eq!(b.layout, Layout::Official2017);
}

#[test]
fn gzip_bom_and_plain_text_are_equivalent() {
    let compressed = read(RHONE_T2);
    let plain = gunzip(&compressed);
    assert!(!open(&plain).unwrap().compressed());
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(&plain);
    let reference = parse_results(&compressed).unwrap();
    for bytes in [plain, with_bom.clone(), gzip(&with_bom)] {
        let parsed = parse_results(&bytes).unwrap();
        assert_eq!((parsed.rows, parsed.choices), (reference.rows.clone(), reference.choices.clone()));
    }
    // Streaming from a reader gives the same rows.
    let streamed: Vec<_> = Parser::from_reader(io::Cursor::new(compressed)).unwrap().map(Result::unwrap).collect();
    assert_eq!(streamed, reference.rows);
}

#[test]
fn finistere_official_2024_with_nuances() {
    let parsed = parse_results(&read(FINISTERE)).unwrap();
    assert_eq!(parsed.layout, Layout::Official2024);
    assert_eq!(parsed.errors, vec![]);
    assert_eq!((parsed.rows.len(), parsed.choices.len()), (201, 18));
    assert!(parsed.choices.iter().all(|c| c.nuance.is_some()));
    let cadalen = choice(&parsed, "CADALEN Pierre-Yves");
    assert_eq!(parsed.choices[cadalen as usize].nuance.as_deref(), Some("UG"));
    let bohars = row(&parsed, "29011", "0001");
    assert_eq!((bohars.departement.as_str(), bohars.circonscription.as_deref()), ("29", None));
    assert_eq!(
        (bohars.inscrits, bohars.votants, bohars.blancs, bohars.nuls, bohars.exprimes),
        (997, 787, Some(8), Some(3), 776)
    );
    assert_eq!(votes_for(bohars, cadalen), 223);
    assert_eq!(bohars.votes.len(), 10);
    let mut group_counts: Vec<usize> = parsed.rows.iter().map(|r| r.votes.len()).collect();
    group_counts.sort_unstable();
    group_counts.dedup();
    assert_eq!(group_counts, vec![8, 10]);
    assert!(parsed.rows.iter().any(|r| r.commune == "29299"));
}

#[test]
fn filosofi_secret_is_none() {
    let (rows, errors) = parse_filosofi(&read(FILOSOFI)).unwrap();
    assert_eq!(errors, vec![]);
    assert_eq!(rows.len(), 265);
    let value = |commune: &str, code: &str| {
        let row = rows.iter().find(|r| r.commune == commune).unwrap();
        row.values.iter().find(|(c, _)| c == code).unwrap().1
    };
    assert_eq!(value("69001", "MED21"), Some(24970.0));
    assert_eq!(value("69001", "TP6021"), None);
    assert_eq!(value("69003", "TP6021"), Some(11.0));
    assert_eq!(value("69003", "PIMPOT21"), Some(-20.8));
    assert_eq!(value("69003", "D121"), Some(13400.0));
    assert_eq!(rows[0].values.len(), 27);
    assert_eq!(rows[0].line, 2);
}

#[test]
fn filosofi_reports_bad_cells_and_rows() {
    let text = "CODGEO;LIBGEO;MED21;TP6021\n1001;Abergement;22 150;s\n69002;X;12x;\n69003;Y\n";
    let (rows, errors) = parse_filosofi(text.as_bytes()).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].commune, "01001");
    assert_eq!(rows[0].values, vec![("MED21".into(), Some(22150.0)), ("TP6021".into(), None)]);
    assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 4]);
    assert_eq!(errors[0].message, "ligne 3 : « MED21 » n'est pas un nombre (« 12x »)");
}

#[test]
fn line_numbers_survive_blank_lines_crlf_and_quoted_newlines() {
    let text = "CODGEO;LIBGEO;MED21\r\n69001;\"A\r\nB\";1\r\n\r\n\r\n69002;C;x\r\n69003;D;2";
    for ending in ["\r\n", "\n", "\r"] {
        let text = format!("\n{}", text.replace("\r\n", ending));
        let (rows, errors) = parse_filosofi(text.as_bytes()).unwrap();
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![3, 7, 8], "{ending:?}");
        assert_eq!(errors.iter().map(|e| e.line).collect::<Vec<_>>(), vec![7], "{ending:?}");
    }
    let source = open(b"\r\n\r\ndepartement,commune,bureau,inscrits,exprimes,X\n").unwrap();
    assert_eq!(source.header_line(), 3);
}

/// Replaces the `field`-th field of 1-based line `line`, or truncates the line to `field` fields.
fn corrupt(text: &str, line: usize, field: usize, value: Option<&str>) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut fields: Vec<&str> = lines[line - 1].split(';').collect();
    match value {
        Some(v) => fields[field] = v,
        None => fields.truncate(field),
    }
    lines[line - 1] = fields.join(";");
    // The official files end lines with CRLF.
    lines.join("\r\n")
}

#[test]
fn corrupted_file_reports_line_numbers() {
    let text = String::from_utf8(gunzip(&read(RHONE_T1))).unwrap();
    let text = corrupt(&text, 57, 7, Some("12a"));
    let text = corrupt(&text, 120, 5, None);
    let text = corrupt(&text, 300, 25, Some("77777"));
    let text = corrupt(&text, 400, 10, Some("99999"));
    let parsed = parse_results(gzip(text.as_bytes()).as_slice()).unwrap();
    let lines: Vec<u64> = parsed.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![57, 120, 300, 400]);
    assert_eq!(parsed.errors[0].message, "ligne 57 : « Inscrits » n'est pas un nombre (« 12a »)");
    assert_eq!(parsed.errors[1].message, "ligne 120 : 5 colonnes alors qu'il en faut au moins 21");
    assert!(parsed.errors[2].message.starts_with("ligne 300 : la somme des voix ("), "{}", parsed.errors[2]);
    assert!(parsed.errors[3].message.contains("supérieurs aux inscrits"), "{}", parsed.errors[3]);
    assert_eq!(parsed.rows.len(), 1287 - 4);
}

#[test]
fn wide_rows_are_checked() {
    let header = "departement,commune,bureau,commune_libelle,inscrits,votants,blancs,exprimes,A LIST,B LIST\n";
    let body = "1,1,1,X,\"1 200\",1000,10,990,490,500\n\
                    \n\
                    01,002,1,Y,100,101,0,101,1,100\n\
                    01,003,1,Z,100,50,5,45,40\n\
                    01,004,2,W,100,50,10,45,40,5\n\
                    01,005,A1,V,100,50,0,45,45,0\n";
    let parsed = parse_results(format!("{header}{body}").as_bytes()).unwrap();
    assert_eq!(parsed.rows.len(), 2);
    let r = &parsed.rows[0];
    assert_eq!((r.commune.as_str(), r.bureau.as_str(), r.inscrits, r.nuls), ("01001", "0001", 1200, Some(0)));
    assert_eq!(parsed.rows[1].bureau, "00A1");
    assert_eq!(parsed.rows[1].nuls, Some(5));
    let messages: Vec<&str> = parsed.errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        vec![
            "ligne 4 : votants (101) supérieurs aux inscrits (100)",
            "ligne 5 : 9 colonnes au lieu de 10 attendues",
            "ligne 6 : blancs (10) + exprimés (45) supérieurs aux votants (50)",
        ]
    );
}

#[test]
fn numbers_accept_thousands_separators() {
    assert_eq!(parse_count("12 345"), Some(12_345));
    assert_eq!(parse_count("12\u{a0}345"), Some(12_345));
    assert_eq!(parse_count("1\u{202f}234\u{202f}567"), Some(1_234_567));
    assert_eq!(parse_count("12a"), None);
    assert_eq!(parse_count(""), None);
    assert_eq!(parse_count("-3"), None);
    assert_eq!(parse_count("99999999999"), None);
    assert_eq!(parse_indicator("1 234,5"), Some(Some(1234.5)));
    assert_eq!(parse_indicator("s"), Some(None));
    assert_eq!(parse_indicator("abc"), None);
}

#[test]
fn layout_detection_and_errors() {
    let h = |s: &str, d: char| s.split(d).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(
        detect_layout(&h("departement,commune,bureau,commune_libelle,inscrits,votants,blancs,exprimes,X", ',')),
        Some(Layout::NationalWide)
    );
    assert_eq!(
        detect_layout(&h(
            "Code du departement;Code de la commune;Code B.Vote;Inscrits;Votants;Exprimes;N°Panneau;Nom;Voix",
            ';'
        )),
        Some(Layout::Official2017)
    );
    assert_eq!(
        detect_layout(&h("Code département;Code commune;Code BV;Inscrits;Votants;Exprimés;Nuance liste 1;Voix 1", ';')),
        Some(Layout::Official2024)
    );
    assert_eq!(detect_layout(&h("CODGEO;MED21", ';')), None);
    let err = Parser::from_bytes(b"a;b;c\n1;2;3\n").unwrap_err();
    assert_eq!(err.to_string(), "format de fichier non reconnu (colonnes : a, b, c)");
    assert_eq!(Parser::from_bytes(b"\n\n").unwrap_err().to_string(), "le fichier est vide");
    assert!(matches!(open(b"\x1f\x8bnot gzip"), Err(ParseError::Io(_))));
}

#[test]
fn tab_separated_official_2017_legislative_with_nuance() {
    let text = "Code du département\tCode de la circonscription\tCode de la commune\tCode du b.vote\tInscrits\t\
                    Votants\tBlancs\tNuls\tExprimés\tN°Panneau\tSexe\tNom\tPrénom\tNuance\tVoix\n\
                    ZA\t1\t101\t12\t100\t60\t2\t3\t55\t1\tF\tDURAND\tAnne\tFI\t30\t2\tM\tMARTIN\tLuc\tREM\t25\n\
                    ZZ\t5\t3\t1\t100\t60\t2\t3\t55\t2\tM\tMARTIN\tLuc\tREM\t55\t\t\t\t\t\t\n";
    let parsed = parse_results(text.as_bytes()).unwrap();
    assert_eq!(parsed.errors, vec![]);
    assert_eq!(
        parsed.choices,
        vec![
            Choice { label: "DURAND Anne".into(), nuance: Some("FI".into()) },
            Choice { label: "MARTIN Luc".into(), nuance: Some("REM".into()) },
        ]
    );
    let (a, b) = (&parsed.rows[0], &parsed.rows[1]);
    assert_eq!((a.departement.as_str(), a.commune.as_str(), a.bureau.as_str()), ("971", "97101", "0012"));
    assert_eq!(a.circonscription.as_deref(), Some("971-01"));
    assert_eq!(a.votes, vec![(0, 30), (1, 25)]);
    assert_eq!(
        (b.departement.as_str(), b.commune.as_str(), b.circonscription.as_deref()),
        ("ZZ", "ZZ003", Some("99-05"))
    );
    assert_eq!(b.votes, vec![(1, 55)]);
}

/// Release timing: `cargo test --release -- --ignored --nocapture national_timing`.
#[test]
#[ignore]
fn national_timing() {
    let files: Vec<Vec<u8>> = NATIONAL_FILES.iter().map(|(name, _, _)| national(name)).collect();
    let started = std::time::Instant::now();
    let mut rows = 0usize;
    for bytes in &files {
        for row in Parser::from_bytes(bytes).unwrap() {
            rows += usize::from(row.is_ok());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("{rows} rows in {elapsed:.2} s: {:.0} rows/s", rows as f64 / elapsed);
}
