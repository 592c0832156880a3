//! Tests of the contacts spreadsheet import: decoding, sniffing, parsing, mapping, validation and export.

use super::email_phone::EMAIL_FORBIDDEN;
use super::parse::parse_in;
use super::sniff::{record_boundary, unclosed_quote};
use super::validate::{collapse_whitespace, has_control, normalise_commune_code};
use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn row(line: usize, cells: &[&str]) -> Row {
    Row::new(line, cells.iter().copied()).unwrap()
}

#[test]
fn a_row_keeps_its_cells_in_one_piece() {
    let r = row(7, &["Hélène", "", "d'Œuf", "", "Lyon 4e"]);
    assert_eq!(r.cells().collect::<Vec<_>>(), ["Hélène", "", "d'Œuf", "", "Lyon 4e"]);
    assert_eq!((r.line, r.len(), r.cell(2), r.cell(3), r.cell(5)), (7, 5, Some("d'Œuf"), Some(""), None));
    assert!(row(1, &[]).is_empty());
    assert_eq!(row(1, &[""]).cells().collect::<Vec<_>>(), [""]);
}

/// decode → sniff → parse, as the upload handler does.
fn read(bytes: &[u8]) -> Result<Table, ImportError> {
    let decoded = decode(bytes.to_vec());
    parse(&decoded.text, sniff_delimiter(&decoded.text))
}

// --- decode -----------------------------------------------------------------------------------------------------

#[test]
fn decodes_excel_windows_1252_with_semicolons_and_accents() {
    let bytes = b"Pr\xe9nom;Nom\r\nH\xe9l\xe8ne;Dupr\xe9\r\n";
    let decoded = decode(bytes.to_vec());
    assert_eq!(decoded.encoding, Encoding::Windows1252);
    assert!(!decoded.had_bom);
    assert_eq!(decoded.text, "Prénom;Nom\r\nHélène;Dupré\r\n");
    assert_eq!(sniff_delimiter(&decoded.text), b';');

    let table = read(bytes).unwrap();
    assert_eq!(table.headers, strings(&["Prénom", "Nom"]));
    assert_eq!(table.rows, vec![row(2, &["Hélène", "Dupré"])]);
    assert_eq!(guess_mapping(&table.headers), vec![Field::FirstName, Field::LastName]);
}

#[test]
fn decodes_windows_1252_specials() {
    // € (0x80), œ (0x9C) and the typographic apostrophe (0x92) are where Windows-1252 differs from Latin-1.
    let decoded = decode(b"\x80 \x9cuvre l\x92\xe9t\xe9".to_vec());
    assert_eq!(decoded.text, "€ œuvre l’été");
}

#[test]
fn decodes_utf8_with_bom() {
    let decoded = decode("\u{FEFF}Prénom,Nom\nHélène,Dupré\n".as_bytes().to_vec());
    assert_eq!(decoded.encoding, Encoding::Utf8);
    assert!(decoded.had_bom);
    assert_eq!(decoded.text, "Prénom,Nom\nHélène,Dupré\n");
    let table = read("\u{FEFF}Prénom,Nom\nHélène,Dupré\n".as_bytes()).unwrap();
    assert_eq!(table.headers[0], "Prénom", "the BOM must not stick to the first header");
}

#[test]
fn decodes_utf8_without_bom() {
    let decoded = decode("Prénom;Nom\nÉloïse;Œillet\n".as_bytes().to_vec());
    assert_eq!(decoded.encoding, Encoding::Utf8);
    assert!(!decoded.had_bom);
    assert_eq!(decoded.text, "Prénom;Nom\nÉloïse;Œillet\n");
}

#[test]
fn decodes_bom_with_invalid_bytes_as_utf8_with_replacement() {
    let decoded = decode(b"\xEF\xBB\xBFa\xe9b".to_vec());
    assert_eq!(decoded.encoding, Encoding::Utf8);
    assert_eq!(decoded.text, "a\u{FFFD}b");
}

// --- sniff_delimiter --------------------------------------------------------------------------------------------

#[test]
fn sniffs_each_delimiter() {
    assert_eq!(sniff_delimiter("a;b;c\n1;2;3\n"), b';');
    assert_eq!(sniff_delimiter("a,b,c\n1,2,3\n"), b',');
    assert_eq!(sniff_delimiter("a\tb\tc\n1\t2\t3\n"), b'\t');
}

#[test]
fn sniff_prefers_consistency_over_raw_counts() {
    // Commas in some addresses, a consistent single `;` on every line.
    let text = "Nom;Adresse\nA;12, rue de la Paix, bât. B\nB;3 place du Marché\nC;5, allée des Tilleuls\n";
    assert_eq!(sniff_delimiter(text), b';');
    // A NationBuilder-like export: commas, tags with ", " inside quotes, a `;` in one note.
    let text = "first_name,last_name,tag_list,note\nA,B,\"x, y, z\",rien\nC,D,,\"a; b\"\nE,F,x,\n";
    assert_eq!(sniff_delimiter(text), b',');
}

#[test]
fn sniff_ignores_delimiters_inside_quotes_even_across_lines() {
    let text = "Nom;Notes\n\"Dupont\";\"a, b, c\nd, e, f\"\nMartin;\"g, h\"\n";
    assert_eq!(sniff_delimiter(text), b';');
}

#[test]
fn sniff_ties_prefer_semicolon_then_comma() {
    assert_eq!(sniff_delimiter("a;b,c\n"), b';');
    assert_eq!(sniff_delimiter("a,b\tc\n"), b',');
    assert_eq!(sniff_delimiter("Nom\nDupont\n"), b';', "a single column reads fine with `;`");
    assert_eq!(sniff_delimiter(""), b';');
}

#[test]
fn sniff_honours_excel_sep_line() {
    assert_eq!(sniff_delimiter("sep=,\r\na;b;c\r\n1;2;3\r\n"), b',');
    assert_eq!(sniff_delimiter("\u{FEFF}SEP=;\na,b\n"), b';');
}

// --- parse ------------------------------------------------------------------------------------------------------

#[test]
fn quoted_newlines_keep_line_numbers_right() {
    let text = "Nom;Notes\r\nDupont;\"première ligne\r\ndeuxième ligne\r\ntroisième\"\r\nMartin;ok\r\n";
    let table = parse(text, b';').unwrap();
    assert_eq!(table.rows.len(), 2);
    assert_eq!(table.rows[0].line, 2);
    assert_eq!(table.rows[0].cell(1).unwrap(), "première ligne\r\ndeuxième ligne\r\ntroisième");
    assert_eq!(table.rows[1].line, 5, "the record after a 3-line cell starts on line 5");
    assert_eq!(table.rows[1].cells().collect::<Vec<_>>(), ["Martin", "ok"]);
}

#[test]
fn blank_lines_are_skipped_and_counted() {
    let text = "Nom;Prénom\n\nDupont;Jean\n   \n;;\n\r\nMartin;Léa\n\n";
    let table = parse(text, b';').unwrap();
    let lines: Vec<usize> = table.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 7]);
}

#[test]
fn crlf_lines_are_numbered_like_an_editor() {
    let table = parse("a;b\r\n1;2\r\n\r\n3;4\r\n", b';').unwrap();
    let lines: Vec<usize> = table.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![2, 4]);
}

#[test]
fn old_mac_carriage_returns_are_line_breaks() {
    let table = parse("a;b\r1;2\r\r3;4", b';').unwrap();
    let lines: Vec<usize> = table.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![2, 4]);
}

#[test]
fn doubled_quotes_and_trimming() {
    let text = "Nom,Surnom\n  Dupont  ,\"Jean \"\"le Grand\"\"\"\n\"Martin, Léa\",\"\"\n";
    let table = parse(text, b',').unwrap();
    assert_eq!(table.rows[0].cells().collect::<Vec<_>>(), ["Dupont", "Jean \"le Grand\""]);
    assert_eq!(table.rows[1].cells().collect::<Vec<_>>(), ["Martin, Léa", ""]);
}

#[test]
fn tab_separated() {
    let text = "Prénom\tNom\tE-mail\nJean\tDupont\tjean@example.fr\n";
    assert_eq!(sniff_delimiter(text), b'\t');
    let table = parse(text, b'\t').unwrap();
    assert_eq!(table.headers, strings(&["Prénom", "Nom", "E-mail"]));
    assert_eq!(table.rows, vec![row(2, &["Jean", "Dupont", "jean@example.fr"])]);
}

#[test]
fn ragged_rows_are_accepted() {
    let table = parse("a;b;c\n1\n1;2;3;4\n", b';').unwrap();
    assert_eq!(table.rows[0].cells().collect::<Vec<_>>(), ["1"]);
    assert_eq!(table.rows[1].cells().collect::<Vec<_>>(), ["1", "2", "3", "4"]);
}

#[test]
fn header_only_file() {
    assert!(matches!(parse("Prénom;Nom\r\n", b';'), Err(ImportError::HeaderOnly)));
    assert!(matches!(parse("Prénom;Nom\r\n;;\r\n\r\n", b';'), Err(ImportError::HeaderOnly)));
    assert_eq!(
        ImportError::HeaderOnly.to_string(),
        "Le fichier ne contient que la ligne d'en-tête : aucune personne à importer."
    );
}

#[test]
fn empty_or_blank_file() {
    for text in ["", "   ", "\r\n\r\n", " \t\n  \n", "\u{FEFF}", ";;;\n;;\n", "sep=;\n"] {
        assert!(matches!(parse(text, b';'), Err(ImportError::Empty)), "{text:?}");
    }
    assert!(matches!(read(b""), Err(ImportError::Empty)));
    assert_eq!(ImportError::Empty.to_string(), "Le fichier est vide.");
}

/// The byte-by-byte state machine `unclosed_quote` replaced (`scan`'s reading of quotes), kept as the
/// reference it must match.
fn unclosed_quote_reference(text: &str, delimiter: u8) -> Option<usize> {
    #[derive(PartialEq)]
    enum State {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut state = State::FieldStart;
    let mut quote_at = 0;
    for (i, &b) in text.as_bytes().iter().enumerate() {
        state = match state {
            State::Quoted if b == b'"' => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
            State::QuoteInQuoted if b == b'"' => State::Quoted,
            _ if b == delimiter || b == b'\r' || b == b'\n' => State::FieldStart,
            State::FieldStart if b == b'"' => {
                quote_at = i;
                State::Quoted
            }
            _ => State::Unquoted,
        };
    }
    (state == State::Quoted).then_some(quote_at)
}

/// [`normalise_email`] as first written, character by character.
fn normalise_email_reference(s: &str) -> Option<String> {
    let s = s.trim();
    let s = match s.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("mailto:") => &s[7..],
        _ => s,
    };
    let email = s.to_lowercase();
    if email.len() > 254 || email.contains("..") {
        return None;
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control() || EMAIL_FORBIDDEN.contains(&c)) {
        return None;
    }
    let (local, domain) = email.split_once('@')?;
    if local.is_empty() || local.len() > 64 || local.starts_with('.') || local.ends_with('.') {
        return None;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let tld = labels.last()?;
    if labels.len() < 2 || !labels.iter().all(label_ok) || tld.len() < 2 || tld.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(email)
}

proptest::proptest! {
    #[test]
    fn record_boundaries_are_the_line_breaks_outside_quoted_fields(
        text in "[a\"; \r\n]{0,40}",
        from in 0usize..40,
    ) {
        proptest::prop_assume!(unclosed_quote(&text, b';').is_none() && from <= text.len());
        let expected = (from..text.len())
            .find(|&i| text.as_bytes()[i] == b'\n' && unclosed_quote_reference(&text[..i], b';').is_none())
            .map(|i| i + 1);
        proptest::prop_assert_eq!(record_boundary(&text, b';', from), expected);
    }

    #[test]
    fn a_file_parsed_in_pieces_reads_as_in_one(
        text in "((([a\" ;]{0,6}|\"[a;\n\"]{0,6}\");){0,4}[a ]?\r?\n{1,2}){2,12}",
        parts in 2usize..5,
    ) {
        let whole = parse_in(&text, b';', 1);
        let pieces = parse_in(&text, b';', parts);
        proptest::prop_assert_eq!(format!("{whole:?}"), format!("{pieces:?}"));
    }

    #[test]
    fn unclosed_quotes_are_found_as_the_byte_by_byte_reading_finds_them(
        text in "[a\"; ,\r\n]{0,40}",
    ) {
        proptest::prop_assert_eq!(unclosed_quote(&text, b';'), unclosed_quote_reference(&text, b';'));
        proptest::prop_assert_eq!(unclosed_quote(&text, b','), unclosed_quote_reference(&text, b','));
    }

    #[test]
    fn email_addresses_are_normalised_as_character_by_character(
        text in "(mailto:)?[aZé. \t\u{0}\u{a0}\"<,'@-]{0,8}@?[aZ0-9.\u{e9}-]{0,8}",
    ) {
        proptest::prop_assert_eq!(normalise_email(&text), normalise_email_reference(&text));
    }

    #[test]
    fn whitespace_and_control_characters_are_found_as_character_by_character(
        text in "[a é\t\n\r\u{0}\u{7f}\u{85}\u{9f}\u{a0}\u{ab}\u{202f}\u{3000}]{0,12}",
    ) {
        let words: Vec<&str> = text.split_whitespace().collect();
        proptest::prop_assert_eq!(collapse_whitespace(&text), words.join(" "));
        let control = text.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
        proptest::prop_assert_eq!(has_control(&text), control);
    }
}

#[test]
fn unclosed_quote_is_reported_where_it_opens() {
    let err = parse("Nom;Notes\nDupont;ok\nMartin;\"oups\nLéa;ok\n", b';').unwrap_err();
    match err {
        ImportError::Malformed { line, ref reason } => {
            assert_eq!(line, 3);
            assert!(reason.contains("guillemet"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("Fichier illisible à la ligne 3 : "));
    // A quote in the middle of a cell is an ordinary character, as for the csv crate.
    let table = parse("Nom;Taille\nDupont;5\" et demi\n", b';').unwrap();
    assert_eq!(table.rows[0].cell(1).unwrap(), "5\" et demi");
}

#[test]
fn utf16_file_is_reported() {
    // Excel's "Texte Unicode": UTF-16LE with a BOM, which is invalid UTF-8 and so decodes as Windows-1252.
    let bytes: Vec<u8> = "\u{FEFF}Nom\tPrénom\r\nDupont\tJean\r\n".encode_utf16().flat_map(u16::to_le_bytes).collect();
    match read(&bytes) {
        Err(ImportError::Malformed { line: 1, reason }) => assert!(reason.contains("UTF-16"), "{reason}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn excel_sep_line_is_skipped_but_counted() {
    let text = "sep=;\r\nPrénom;Nom\r\nJean;Dupont\r\n";
    let table = parse(text, sniff_delimiter(text)).unwrap();
    assert_eq!(table.headers, strings(&["Prénom", "Nom"]));
    assert_eq!(table.rows, vec![row(3, &["Jean", "Dupont"])]);
}

// --- Field and guess_mapping ------------------------------------------------------------------------------------

#[test]
fn field_strings_round_trip_and_match_serde() {
    for (i, field) in Field::ALL.into_iter().enumerate() {
        assert_eq!(field as usize, i, "ALL is in discriminant order");
        assert_eq!(Field::parse(field.as_str()), Some(field));
        assert_eq!(serde_json::to_string(&field).unwrap(), format!("\"{}\"", field.as_str()));
        assert!(!field.label().is_empty());
    }
    assert_eq!(Field::parse("nope"), None);
    assert_eq!(Field::Email.label(), "Adresse e-mail");
    assert_eq!(Field::Ignore.label(), "(ignorer)");
}

#[test]
fn guesses_french_and_english_headers() {
    let headers = strings(&[
        "Prénom",
        "NOM DE FAMILLE",
        "Courriel",
        "Tél.",
        "Adresse",
        "Code postal",
        "Ville",
        "Code INSEE",
        "Statut",
        "Étiquettes",
        "Compétences",
        "Commentaire",
        "Date de naissance",
    ]);
    use Field::*;
    assert_eq!(
        guess_mapping(&headers),
        vec![
            FirstName,
            LastName,
            Email,
            Phone,
            Address,
            Postcode,
            City,
            CommuneCode,
            Category,
            Tags,
            Skills,
            Notes,
            Ignore
        ]
    );
    let headers = strings(&["first_name", "Last Name", "E-mail", "phone", "zip", "city", "Skills", "Notes"]);
    assert_eq!(guess_mapping(&headers), vec![FirstName, LastName, Email, Phone, Postcode, City, Skills, Notes]);
    let headers = strings(&["prenom", "Nom", "Adresse mail", "CP", "Commune", "catégorie", "tags"]);
    assert_eq!(guess_mapping(&headers), vec![FirstName, LastName, Email, Postcode, City, Category, Tags]);
    let headers = strings(&["Nom complet", "email", "Portable"]);
    assert_eq!(guess_mapping(&headers), vec![FullName, Email, Phone]);
}

#[test]
fn guesses_nationbuilder_export_headers() {
    let headers = strings(&[
        "nationbuilder_id",
        "first_name",
        "middle_name",
        "last_name",
        "email",
        "email1",
        "email2",
        "phone_number",
        "mobile_number",
        "work_phone_number",
        "primary_address1",
        "primary_address2",
        "primary_city",
        "primary_state",
        "primary_zip",
        "primary_country_code",
        "tag_list",
        "note",
        "external_id",
    ]);
    use Field::*;
    assert_eq!(
        guess_mapping(&headers),
        vec![
            ExternalId, FirstName, Ignore, LastName, Email, Email, Email, Phone, Phone, Phone, Address, Ignore, City,
            Ignore, Postcode, Ignore, Tags, Notes, Ignore
        ]
    );
}

#[test]
fn stand_in_headers_only_fill_free_fields() {
    use Field::*;
    // No phone column: the mobile is the phone.
    assert_eq!(guess_mapping(&strings(&["nom", "mobile_number"])), vec![LastName, Phone]);
    // A mobile column is a phone column as well.
    assert_eq!(guess_mapping(&strings(&["Portable", "Téléphone"])), vec![Phone, Phone]);
    // The second address line is the address only without a first line.
    assert_eq!(guess_mapping(&strings(&["primary_address2"])), vec![Address]);
    assert_eq!(guess_mapping(&strings(&["primary_address2", "primary_address1"])), vec![Ignore, Address]);
    // Each field once: the first matching column wins; but every e-mail column is kept.
    assert_eq!(guess_mapping(&strings(&["Email", "Courriel", "Ville", "Commune"])), vec![Email, Email, City, Ignore]);
    assert_eq!(guess_mapping(&strings(&["email2", "E-mail pro", "Tél. pro"])), vec![Email, Email, Phone]);
    // Our own rejects columns mean nothing.
    assert_eq!(guess_mapping(&strings(&["ligne", "erreurs", ""])), vec![Ignore, Ignore, Ignore]);
}

// --- Category ---------------------------------------------------------------------------------------------------

#[test]
fn categories_are_read_loosely() {
    use Category::*;
    let cases = [
        ("Adhérent", Member),
        ("adherente", Member),
        ("Adhérent(e)", Member),
        ("ADHÉRENT·E", Member),
        ("membre", Member),
        ("Member", Member),
        ("militante", Member),
        ("Sympathisant·e", Sympathiser),
        ("sympathisants", Sympathiser),
        ("supporter", Sympathiser),
        ("sympathiser", Sympathiser),
        ("Curieux", Curious),
        ("curieuse", Curious),
        ("Curieux·se", Curious),
        ("curious", Curious),
        ("Prospect", Curious),
        ("contact", Curious),
    ];
    for (text, expected) in cases {
        assert_eq!(Category::parse_loose(text), Some(expected), "{text}");
    }
    for category in [Member, Sympathiser, Curious] {
        assert_eq!(Category::parse_loose(category.as_str()), Some(category));
        assert_eq!(Category::parse_loose(category.label()), Some(category));
        assert_eq!(serde_json::to_string(&category).unwrap(), format!("\"{}\"", category.as_str()));
    }
    assert_eq!(Category::parse_loose("truc"), None);
    assert_eq!(Category::parse_loose(""), None);
    assert_eq!(Category::parse_loose("s"), None);
}

// --- normalise_email --------------------------------------------------------------------------------------------

#[test]
fn emails_differing_in_case_normalise_equal() {
    let a = normalise_email("  Jean.Dupont@Example.FR ").unwrap();
    let b = normalise_email("jean.dupont@example.fr").unwrap();
    assert_eq!(a, b);
    assert_eq!(a, "jean.dupont@example.fr");
    assert_eq!(normalise_email("j.e.a.n@gmail.com").unwrap(), "j.e.a.n@gmail.com", "Gmail dots are kept");
    assert_eq!(normalise_email("mailto:Lea@Example.org").unwrap(), "lea@example.org");
    assert_eq!(normalise_email("o'neil+tag@sub.example-domain.ie").unwrap(), "o'neil+tag@sub.example-domain.ie");
}

#[test]
fn invalid_emails_are_refused() {
    let long_local = format!("{}@example.fr", "a".repeat(65));
    let long_total = format!("a@{}.fr", "b.".repeat(130));
    for bad in [
        "",
        "jean",
        "jean@",
        "@example.fr",
        "jean@@example.fr",
        "jean@dupont@example.fr",
        "jean@example",
        "jean dupont@example.fr",
        "\"jean\"@example.fr",
        "Jean <jean@example.fr>",
        "jean@example.fr, lea@example.fr",
        "jean@example.fr;lea@example.fr",
        "jean..dupont@example.fr",
        ".jean@example.fr",
        "jean.@example.fr",
        "jean@example..fr",
        "jean@.example.fr",
        "jean@-example.fr",
        "jean@example-.fr",
        "jean@exa_mple.fr",
        "jean@example.f",
        "jean@1.2.3.4",
        "jean@exämple.fr",
        &long_local,
        &long_total,
    ] {
        assert_eq!(normalise_email(bad), None, "{bad:?}");
    }
}

// --- normalise_phone --------------------------------------------------------------------------------------------

#[test]
fn french_phone_formats() {
    for text in [
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "0612345678",
        "06\u{a0}12\u{a0}34\u{a0}56\u{a0}78",
        "+33 6 12 34 56 78",
        "+33612345678",
        "+33 (0)6 12 34 56 78",
        "+33 06 12 34 56 78",
        "0033612345678",
        "0033 6 12 34 56 78",
        "612345678",   // Excel dropped the 0
        "33612345678", // Excel dropped the +
    ] {
        assert_eq!(normalise_phone(text).as_deref(), Some("+33612345678"), "{text:?}");
    }
    assert_eq!(normalise_phone("01 23 45 67 89").as_deref(), Some("+33123456789"));
    assert_eq!(normalise_phone("09 87 65 43 21").as_deref(), Some("+33987654321"));
}

#[test]
fn overseas_departement_phones() {
    let cases = [
        ("0690 12 34 56", "+590690123456"),
        ("0590 12 34 56", "+590590123456"),
        ("0694 12 34 56", "+594694123456"),
        ("0594 12 34 56", "+594594123456"),
        ("0696 12 34 56", "+596696123456"),
        ("0596 12 34 56", "+596596123456"),
        ("0262 12 34 56", "+262262123456"),
        ("0692 12 34 56", "+262692123456"),
        ("0693 12 34 56", "+262693123456"),
        ("0269 12 34 56", "+262269123456"),
        ("0639 12 34 56", "+262639123456"),
        ("+33 6 90 12 34 56", "+590690123456"),
        ("+590 690 12 34 56", "+590690123456"),
        ("+262 692 12 34 56", "+262692123456"),
    ];
    for (text, expected) in cases {
        assert_eq!(normalise_phone(text).as_deref(), Some(expected), "{text:?}");
    }
}

#[test]
fn foreign_phones_are_kept_international() {
    assert_eq!(normalise_phone("+32 470 12 34 56").as_deref(), Some("+32470123456"));
    assert_eq!(normalise_phone("0041 79 123 45 67").as_deref(), Some("+41791234567"));
    assert_eq!(normalise_phone("+44 (0)20 7946 0958").as_deref(), Some("+442079460958"));
    assert_eq!(normalise_phone("+1 (555) 123-4567").as_deref(), Some("+15551234567"));
    // 00 is the international prefix, whatever follows.
    assert_eq!(normalise_phone("00 12 34 56 78").as_deref(), Some("+12345678"));
}

#[test]
fn invalid_phones_are_refused() {
    for bad in [
        "",
        "12",
        "06 12 34 56",
        "06 12 34 56 78 9",
        "06 12 34 56 78 / 01 23 45 67 89",
        "06 12 34 56 78 poste 12",
        "tél : 0612345678",
        "+33 6 12 34 56",
        "+33 0 12 34 56 78",
        "+0 612 345 678",
        "+1234567",
        "+1234567890123456",
        "06+12345678",
        "++33612345678",
    ] {
        assert_eq!(normalise_phone(bad), None, "{bad:?}");
    }
}

// --- validate_row -----------------------------------------------------------------------------------------------

#[test]
fn validates_a_full_row() {
    use Field::*;
    let mapping = [
        FirstName,
        LastName,
        Email,
        Phone,
        Address,
        Postcode,
        City,
        CommuneCode,
        Category,
        Tags,
        Skills,
        Notes,
        ExternalId,
        Ignore,
    ];
    let r = row(
        2,
        &[
            " Hélène ",
            "Dupré  de   la Tour",
            "Helene.Dupre@Example.fr",
            "06 12 34 56 78",
            "12 rue de la\nPaix",
            "1000",
            "Bourg-en-Bresse",
            "1053",
            "Adhérente",
            "tractage, Porte-à-porte; TRACTAGE | ",
            "graphisme",
            "Disponible le samedi.\r\nA une voiture.",
            "12345",
            "=ignored",
        ],
    );
    let candidate = validate_row(&mapping, &r).unwrap();
    assert_eq!(
        candidate,
        Candidate {
            first_name: "Hélène".into(),
            last_name: "Dupré de la Tour".into(),
            email: Some("helene.dupre@example.fr".into()),
            phone: Some("+33612345678".into()),
            other_emails: Vec::new(),
            other_phones: Vec::new(),
            address: "12 rue de la Paix".into(),
            postcode: "01000".into(),
            city: "Bourg-en-Bresse".into(),
            commune_code: "01053".into(),
            category: Some(super::Category::Member),
            tags: strings(&["tractage", "porte-à-porte"]),
            skills: strings(&["graphisme"]),
            notes: "Disponible le samedi.\nA une voiture.".into(),
            external_id: "12345".into(),
        }
    );
}

#[test]
fn postcode_gets_its_leading_zero_back() {
    let mapping = [Field::LastName, Field::Postcode];
    let candidate = validate_row(&mapping, &row(2, &["Dupont", "1000"])).unwrap();
    assert_eq!(candidate.postcode, "01000");
    assert_eq!(validate_row(&mapping, &row(2, &["Dupont", "75 011"])).unwrap().postcode, "75011");
    for bad in ["750", "750011", "75O11", "Paris"] {
        let errors = validate_row(&mapping, &row(2, &["Dupont", bad])).unwrap_err();
        assert_eq!(errors, vec![format!("code postal invalide : « {bad} »")]);
    }
}

#[test]
fn commune_codes() {
    assert_eq!(normalise_commune_code("75056").as_deref(), Some("75056"));
    assert_eq!(normalise_commune_code("2a004").as_deref(), Some("2A004"));
    assert_eq!(normalise_commune_code("2B033").as_deref(), Some("2B033"));
    assert_eq!(normalise_commune_code("1053").as_deref(), Some("01053"));
    for bad in ["", "750", "750560", "2C004", "2A04", "20A04", "ABCDE"] {
        assert_eq!(normalise_commune_code(bad), None, "{bad:?}");
    }
}

#[test]
fn all_errors_are_listed_at_once() {
    use Field::*;
    let mapping = [LastName, Email, Phone, Category, CommuneCode];
    let errors = validate_row(&mapping, &row(7, &["Dupont", "x", "12", "truc", "99"])).unwrap_err();
    assert_eq!(
        errors,
        vec![
            "adresse e-mail invalide : « x »",
            "téléphone invalide : « 12 »",
            "code INSEE invalide : « 99 »",
            "catégorie inconnue : « truc »",
        ]
    );
}

#[test]
fn a_row_needs_a_name_an_email_or_a_phone() {
    use Field::*;
    let mapping = [FirstName, LastName, Email, Phone, City];
    let errors = validate_row(&mapping, &row(3, &["", "", "", "", "Lyon"])).unwrap_err();
    assert_eq!(errors, vec!["ni nom, ni adresse e-mail, ni téléphone"]);
    // Any one of them is enough.
    assert!(validate_row(&mapping, &row(3, &["Jean", "", "", "", ""])).is_ok());
    assert!(validate_row(&mapping, &row(3, &["", "", "jean@example.fr", "", ""])).is_ok());
    assert!(validate_row(&mapping, &row(3, &["", "", "", "0612345678", ""])).is_ok());
    // A filled but invalid e-mail is reported as such, not as missing.
    let errors = validate_row(&mapping, &row(3, &["", "", "jean@", "", ""])).unwrap_err();
    assert_eq!(errors, vec!["adresse e-mail invalide : « jean@ »"]);
    // Short rows: missing cells are empty.
    let errors = validate_row(&mapping, &row(3, &[])).unwrap_err();
    assert_eq!(errors, vec!["ni nom, ni adresse e-mail, ni téléphone"]);
}

#[test]
fn full_name_is_split_when_there_are_no_name_columns() {
    let mapping = [Field::FullName];
    let split = |full: &str| {
        let c = validate_row(&mapping, &row(2, &[full])).unwrap();
        (c.first_name, c.last_name)
    };
    assert_eq!(split("Jean Dupont"), ("Jean".into(), "Dupont".into()));
    assert_eq!(split("  Jean   Dupont  de la Tour "), ("Jean".into(), "Dupont de la Tour".into()));
    assert_eq!(split("DUPONT Jean"), ("Jean".into(), "DUPONT".into()));
    assert_eq!(split("DE LA TOUR Marie-Hélène"), ("Marie-Hélène".into(), "DE LA TOUR".into()));
    assert_eq!(split("Jean-Pierre DUPONT"), ("Jean-Pierre".into(), "DUPONT".into()));
    assert_eq!(split("Dupont"), (String::new(), "Dupont".into()));
    assert_eq!(split("DUPONT"), (String::new(), "DUPONT".into()));
    assert_eq!(split("J. Dupont"), ("J.".into(), "Dupont".into()));

    // With name columns filled, the full name is not used.
    let mapping = [Field::FirstName, Field::LastName, Field::FullName];
    let c = validate_row(&mapping, &row(2, &["Léa", "Martin", "Jean Dupont"])).unwrap();
    assert_eq!((c.first_name.as_str(), c.last_name.as_str()), ("Léa", "Martin"));
    // Mapped but empty: the full name fills in.
    let c = validate_row(&mapping, &row(2, &["", "", "Jean Dupont"])).unwrap();
    assert_eq!((c.first_name.as_str(), c.last_name.as_str()), ("Jean", "Dupont"));
}

#[test]
fn length_limits() {
    use Field::*;
    let mapping = [FirstName, LastName, Notes];
    let ok = validate_row(&mapping, &row(2, &[&"é".repeat(100), "Dupont", &"n".repeat(2000)]));
    assert!(ok.is_ok());
    let errors = validate_row(&mapping, &row(2, &[&"é".repeat(101), &"d".repeat(101), &"n".repeat(2001)])).unwrap_err();
    assert_eq!(
        errors,
        vec![
            "prénom trop long (plus de 100 caractères)",
            "nom trop long (plus de 100 caractères)",
            "notes trop longues (plus de 2000 caractères)",
        ]
    );
}

#[test]
fn control_characters_are_refused_but_notes_keep_tabs_and_newlines() {
    use Field::*;
    let mapping = [LastName, Notes];
    let c = validate_row(&mapping, &row(2, &["Dupont", "a\tb\nc"])).unwrap();
    assert_eq!(c.notes, "a\tb\nc");
    let errors = validate_row(&mapping, &row(2, &["Dup\u{7}ont", "x\u{0}y"])).unwrap_err();
    assert_eq!(
        errors,
        vec![
            "caractère de contrôle invisible dans le champ « Nom »",
            "caractère de contrôle invisible dans le champ « Notes »",
        ]
    );
    // In single-line fields, tabs and line breaks become spaces.
    let c = validate_row(&mapping, &row(2, &["Dupont\tde\nla Tour", ""])).unwrap();
    assert_eq!(c.last_name, "Dupont de la Tour");
}

#[test]
fn tags_and_skills_are_split_and_deduplicated() {
    let mapping = [Field::LastName, Field::Tags, Field::Skills, Field::Tags];
    let c = validate_row(
        &mapping,
        &row(
            2,
            &["Dupont", "Tractage, porte-à-porte;; |PHONING| tractage", "Rédaction|rédaction, ", "Phoning, Réseaux"],
        ),
    )
    .unwrap();
    assert_eq!(c.tags, strings(&["tractage", "porte-à-porte", "phoning", "réseaux"]));
    assert_eq!(c.skills, strings(&["Rédaction"]));
}

#[test]
fn several_columns_for_one_field() {
    use Field::*;
    let mapping = [LastName, Address, Address, Notes, Notes, Email, Email];
    let c = validate_row(
        &mapping,
        &row(2, &["Dupont", "12 rue de la Paix", "Bât. B", "Note 1", "Note 2", "", "jean@example.fr"]),
    )
    .unwrap();
    assert_eq!(c.address, "12 rue de la Paix, Bât. B");
    assert_eq!(c.notes, "Note 1\nNote 2");
    assert_eq!(c.email.as_deref(), Some("jean@example.fr"), "the first non-empty e-mail cell");
}

#[test]
fn further_emails_and_phones_are_kept_in_order_without_repeats() {
    use Field::*;
    let mapping = [LastName, Email, Email, Email, Phone, Phone, Phone];
    let cells =
        ["Dupont", "", "Jean@Example.fr", "jean.pro@travail.fr", "06 12 34 56 78", "0612345678", "01 23 45 67 89"];
    let c = validate_row(&mapping, &row(2, &cells)).unwrap();
    assert_eq!(c.email.as_deref(), Some("jean@example.fr"));
    assert_eq!(c.other_emails, strings(&["jean.pro@travail.fr"]));
    assert_eq!(c.phone.as_deref(), Some("+33612345678"));
    assert_eq!(c.other_phones, strings(&["+33123456789"]), "the same number twice is one number");
    // A repeated address (any case) is one address.
    let c = validate_row(&mapping, &row(2, &["Dupont", "a@b.fr", "A@B.FR", "", "", "", ""])).unwrap();
    assert!(c.other_emails.is_empty());
    // Every further value is checked like the first.
    let errors =
        validate_row(&mapping, &row(2, &["Dupont", "a@b.fr", "pas-une-adresse", "", "", "12", ""])).unwrap_err();
    assert_eq!(errors, ["adresse e-mail invalide : « pas-une-adresse »", "téléphone invalide : « 12 »"]);
    // A list pasted by mistake.
    let many: Vec<String> = (0..12).map(|i| format!("p{i}@x.fr")).collect();
    let mapping = vec![Email; many.len()];
    let errors = validate_row(&mapping, &Row::new(2, many.iter().map(String::as_str)).unwrap()).unwrap_err();
    assert_eq!(errors, ["trop d'adresses e-mail (11 au plus)"]);
}

#[test]
fn neutralised_cells_re_import() {
    let mapping = [Field::LastName, Field::Phone];
    let c = validate_row(&mapping, &row(2, &["Dupont", "'+33 6 12 34 56 78"])).unwrap();
    assert_eq!(c.phone.as_deref(), Some("+33612345678"));
    // An apostrophe that is not ours stays.
    let c = validate_row(&mapping, &row(2, &["'Dupont", ""])).unwrap();
    assert_eq!(c.last_name, "'Dupont");
}

#[test]
fn long_values_are_shortened_in_messages() {
    let errors = validate_row(&[Field::LastName, Field::Email], &row(2, &["Dupont", &"x".repeat(500)])).unwrap_err();
    assert_eq!(errors, vec![format!("adresse e-mail invalide : « {}… »", "x".repeat(60))]);
}

// --- neutralise_formula and rejected_rows_csv -------------------------------------------------------------------

#[test]
fn formulas_are_neutralised() {
    assert_eq!(neutralise_formula("=HYPERLINK(\"http://evil\")"), "'=HYPERLINK(\"http://evil\")");
    assert_eq!(neutralise_formula("+33 6 12 34 56 78"), "'+33 6 12 34 56 78");
    assert_eq!(neutralise_formula("-2+3"), "'-2+3");
    assert_eq!(neutralise_formula("@SUM(A1)"), "'@SUM(A1)");
    assert_eq!(neutralise_formula("\t=1"), "'\t=1");
    assert_eq!(neutralise_formula("\r=1"), "'\r=1");
    assert_eq!(neutralise_formula("Dupont"), "Dupont");
    assert_eq!(neutralise_formula("a=b"), "a=b");
    assert_eq!(neutralise_formula(""), "");
}

#[test]
fn rejected_rows_csv_for_french_excel() {
    let headers = strings(&["Nom", "E-mail", "Téléphone"]);
    let rejected = vec![
        (
            row(3, &["=cmd|' /C calc'!A0", "x", "12"]),
            vec!["adresse e-mail invalide : « x »".to_owned(), "téléphone invalide : « 12 »".to_owned()],
        ),
        (row(8, &["", "", "", "en trop"]), vec!["ni nom, ni adresse e-mail, ni téléphone".to_owned()]),
    ];
    let csv = rejected_rows_csv(&headers, &rejected);
    assert!(csv.starts_with('\u{FEFF}'));
    assert_eq!(
        csv,
        "\u{FEFF}Nom;E-mail;Téléphone;;ligne;erreurs\r\n\
             '=cmd|' /C calc'!A0;x;12;;3;\"adresse e-mail invalide : « x » ; téléphone invalide : « 12 »\"\r\n\
             ;;;en trop;8;ni nom, ni adresse e-mail, ni téléphone\r\n"
    );

    // The file reads back: same delimiter, same columns, the fixed rows validate.
    let table = read(csv.as_bytes()).unwrap();
    assert_eq!(table.headers.len(), 6);
    assert_eq!(table.rows[0].line, 2);
    assert_eq!(table.rows[0].cell(0).unwrap(), "'=cmd|' /C calc'!A0");
    assert_eq!(table.rows[0].cell(5).unwrap(), "adresse e-mail invalide : « x » ; téléphone invalide : « 12 »");
}

#[test]
fn rejected_rows_csv_quotes_and_replaces_stale_columns() {
    let headers = strings(&["Nom", "Notes", "ligne", "erreurs"]);
    let rejected =
        vec![(row(2, &["Dupont", "a; \"b\"\nc", "5", "ancienne erreur"]), vec!["nouvelle erreur".to_owned()])];
    let csv = rejected_rows_csv(&headers, &rejected);
    assert_eq!(csv, "\u{FEFF}Nom;Notes;ligne;erreurs\r\nDupont;\"a; \"\"b\"\"\nc\";2;nouvelle erreur\r\n");
}

// --- end to end -------------------------------------------------------------------------------------------------

#[test]
fn nationbuilder_export_end_to_end() {
    let file = "nationbuilder_id,first_name,last_name,email,phone_number,mobile_number,primary_address1,\
                    primary_address2,primary_city,primary_zip,tag_list,note\n\
                    42,Jean,Dupont,Jean.Dupont@Example.com,,+33 6 12 34 56 78,12 rue de la Paix,Bât. B,Paris,75002,\
                    \"tractage, phoning\",\"Rencontré au marché,\nà rappeler\"\n\
                    43,Léa,Martin,lea@,0123,,,,Lyon,69001,,\n";
    let table = read(file.as_bytes()).unwrap();
    let mapping = guess_mapping(&table.headers);
    let jean = validate_row(&mapping, &table.rows[0]).unwrap();
    assert_eq!(jean.external_id, "42");
    assert_eq!(jean.email.as_deref(), Some("jean.dupont@example.com"));
    assert_eq!(jean.phone.as_deref(), Some("+33612345678"), "the mobile fills in for an empty phone_number");
    assert_eq!(jean.address, "12 rue de la Paix");
    assert_eq!(jean.tags, strings(&["tractage", "phoning"]));
    assert_eq!(jean.notes, "Rencontré au marché,\nà rappeler");
    assert_eq!(table.rows[1].line, 4);
    let errors = validate_row(&mapping, &table.rows[1]).unwrap_err();
    assert_eq!(errors, vec!["adresse e-mail invalide : « lea@ »", "téléphone invalide : « 0123 »"]);
}
