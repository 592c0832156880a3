//! The streaming parser of election result files: column mapping per layout, row checks and the choice table.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use serde::Serialize;

use super::codes::{normalise_bureau, normalise_circonscription, normalise_location};
use super::columns::{
    BUREAU, CIRC, COMMUNE, DEP, GROUP_START, LIST_LABEL, NOM, NUANCE, PRENOM, find, find_in, norm, numbered,
};
use super::source::{CsvReader, Source, decode, is_blank, open, open_reader, record_line};
use super::{BureauRow, Choice, Layout, ParseError, RowError, TextEncoding, detect_layout};

/// Columns shared by every layout.
#[derive(Debug, Clone)]
struct Fixed {
    dep: Option<usize>,
    commune: usize,
    bureau: usize,
    circ: Option<usize>,
    inscrits: usize,
    votants: usize,
    blancs: Option<usize>,
    nuls: Option<usize>,
    exprimes: usize,
}

/// Where a candidate's fields are (absolute column indices, or offsets within a repeated group).
#[derive(Debug, Clone)]
struct GroupFields {
    nom: Option<usize>,
    prenom: Option<usize>,
    label: Option<usize>,
    nuance: Option<usize>,
    voix: usize,
}

#[derive(Debug, Clone)]
enum Candidates {
    /// Choice `i` is column `columns[i]`.
    Wide { columns: Vec<usize> },
    /// Groups of `len` columns from `start` to the end of the row; `fields` are offsets within a group.
    Repeated { start: usize, len: usize, fields: GroupFields },
    /// Numbered groups with absolute indices, by increasing number.
    Numbered { groups: Vec<GroupFields> },
}

/// Streaming parser of an election result file. The choice table grows as new candidates appear.
pub struct Parser<'a> {
    reader: CsvReader<'a>,
    header: Vec<String>,
    layout: Layout,
    encoding: TextEncoding,
    fixed: Fixed,
    candidates: Candidates,
    /// Fewest columns a row must have (Wide: exactly this many).
    min_len: usize,
    choices: Vec<Choice>,
    choice_index: HashMap<String, u32>,
    record: csv::ByteRecord,
    key: String,
    done: bool,
}

impl std::fmt::Debug for Parser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parser")
            .field("layout", &self.layout)
            .field("encoding", &self.encoding)
            .field("choices", &self.choices.len())
            .finish_non_exhaustive()
    }
}

/// Everything parsed from one file.
#[derive(Debug, Clone, Serialize)]
pub struct ParsedResults {
    pub layout: Layout,
    pub choices: Vec<Choice>,
    pub rows: Vec<BureauRow>,
    pub errors: Vec<RowError>,
}

/// Parses a whole result file into memory (rows that fail a check are in `errors`).
pub fn parse_results(bytes: &[u8]) -> Result<ParsedResults, ParseError> {
    let mut parser = Parser::from_bytes(bytes)?;
    let (mut rows, mut errors) = (Vec::new(), Vec::new());
    while let Some(row) = parser.next_row() {
        match row {
            Ok(r) => rows.push(r),
            Err(e) => errors.push(e),
        }
    }
    Ok(ParsedResults { layout: parser.layout, choices: parser.choices, rows, errors })
}

impl<'a> Parser<'a> {
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, ParseError> {
        Self::new(open(bytes)?)
    }

    pub fn from_reader<R: Read + Send + 'a>(input: R) -> Result<Self, ParseError> {
        Self::new(open_reader(input)?)
    }

    pub fn new(source: Source<'a>) -> Result<Self, ParseError> {
        let Source { reader, header, encoding, .. } = source;
        let layout = detect_layout(&header).ok_or_else(|| ParseError::UnknownLayout(header.join(", ")))?;
        let norms: Vec<String> = header.iter().map(|h| norm(h)).collect();
        let need = |names: &[&str], shown: &str| find(&norms, names).ok_or(ParseError::MissingColumn(shown.into()));
        let fixed = Fixed {
            dep: find(&norms, DEP),
            commune: need(COMMUNE, "commune")?,
            bureau: need(BUREAU, "bureau")?,
            circ: find(&norms, CIRC),
            inscrits: need(&["inscrits"], "Inscrits")?,
            votants: need(&["votants"], "Votants")?,
            blancs: find(&norms, &["blancs"]),
            nuls: find(&norms, &["nuls"]),
            exprimes: need(&["exprimes"], "Exprimés")?,
        };
        let fixed_end = [
            fixed.dep,
            Some(fixed.commune),
            Some(fixed.bureau),
            fixed.circ,
            Some(fixed.inscrits),
            Some(fixed.votants),
            fixed.blancs,
            fixed.nuls,
            Some(fixed.exprimes),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
            + 1;
        let mut choices = Vec::new();
        let mut choice_index = HashMap::new();
        let (candidates, min_len) = match layout {
            Layout::NationalWide => {
                let known: [&[&str]; 5] = [DEP, COMMUNE, BUREAU, CIRC, &["inscrits", "votants", "blancs", "nuls"]];
                let columns: Vec<usize> = (fixed.exprimes + 1..header.len())
                    .filter(|&i| !known.iter().any(|names| names.contains(&norms[i].as_str())))
                    .filter(|&i| !norms[i].contains("libelle") && !header[i].is_empty())
                    .collect();
                // Legislative files have one column per nuance code ("FI", "SOC", "REM"…).
                let nuances = columns
                    .iter()
                    .all(|&i| (2..=4).contains(&header[i].len()) && header[i].bytes().all(|b| b.is_ascii_uppercase()));
                for &i in &columns {
                    let label = header[i].clone();
                    let nuance = nuances.then(|| label.clone());
                    choice_index.insert(choice_key(&label, nuance.as_deref()), choices.len() as u32);
                    choices.push(Choice { label, nuance });
                }
                (Candidates::Wide { columns }, header.len())
            }
            Layout::Official2017 => {
                let start = (fixed.exprimes + 1..header.len())
                    .find(|&i| GROUP_START.contains(&norms[i].as_str()))
                    .ok_or(ParseError::MissingColumn("N°Panneau".into()))?;
                let end = (start + 1..header.len()).find(|&i| norms[i] == norms[start]).unwrap_or(header.len());
                let rel = |i: Option<usize>| i.map(|i| i - start);
                let fields = GroupFields {
                    nom: rel(find_in(&norms, start..end, NOM)),
                    prenom: rel(find_in(&norms, start..end, PRENOM)),
                    label: rel(find_in(&norms, start..end, LIST_LABEL)),
                    nuance: rel(find_in(&norms, start..end, NUANCE)),
                    voix: rel(find_in(&norms, start..end, &["voix"]))
                        .ok_or(ParseError::MissingColumn("Voix".into()))?,
                };
                if fields.nom.is_none() && fields.label.is_none() {
                    return Err(ParseError::MissingColumn("Nom".into()));
                }
                (Candidates::Repeated { start, len: end - start, fields }, fixed_end.max(start))
            }
            Layout::Official2024 => {
                let mut by_number: BTreeMap<u32, [Option<usize>; 5]> = BTreeMap::new();
                for (i, name) in header.iter().enumerate() {
                    let Some((base, k)) = numbered(name) else { continue };
                    let slot = match base.as_str() {
                        b if NOM.contains(&b) => 0,
                        b if PRENOM.contains(&b) => 1,
                        b if LIST_LABEL.contains(&b) => 2,
                        b if NUANCE.contains(&b) => 3,
                        "voix" => 4,
                        _ => continue,
                    };
                    let fields = by_number.entry(k).or_default();
                    // Prefer the first matching column (full list label before the abbreviated one).
                    if fields[slot].is_none() {
                        fields[slot] = Some(i);
                    }
                }
                let groups: Vec<GroupFields> = by_number
                    .into_values()
                    .filter_map(|[nom, prenom, label, nuance, voix]| {
                        Some(GroupFields { nom, prenom, label, nuance, voix: voix? })
                    })
                    .collect();
                if groups.is_empty() {
                    return Err(ParseError::MissingColumn("Voix 1".into()));
                }
                (Candidates::Numbered { groups }, fixed_end)
            }
        };
        Ok(Parser {
            reader,
            header,
            layout,
            encoding,
            fixed,
            candidates,
            min_len,
            choices,
            choice_index,
            record: csv::ByteRecord::new(),
            key: String::new(),
            done: false,
        })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    pub fn encoding(&self) -> TextEncoding {
        self.encoding
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// Candidates / lists / nuances seen so far; `BureauRow::votes` index into it.
    pub fn choices(&self) -> &[Choice] {
        &self.choices
    }

    /// Next bureau, or the error of a row that failed; `None` at the end of the file.
    pub fn next_row(&mut self) -> Option<Result<BureauRow, RowError>> {
        if self.done {
            return None;
        }
        loop {
            match self.reader.read_byte_record(&mut self.record) {
                Ok(true) if is_blank(&self.record) => continue,
                Ok(true) => break,
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    // I/O errors (truncated or corrupt gzip…) end the stream.
                    self.done = true;
                    let line = record_line(&mut self.reader, e.position());
                    return Some(Err(RowError::new(line, format!("lecture impossible ({e})"))));
                }
            }
        }
        let line = record_line(&mut self.reader, self.record.position());
        Some(self.parse_record(line))
    }

    fn parse_record(&mut self, line: u64) -> Result<BureauRow, RowError> {
        let Parser { record, header, encoding, fixed, candidates, min_len, choices, choice_index, key, .. } = self;
        let (record, encoding) = (&*record, *encoding);
        let wide = matches!(candidates, Candidates::Wide { .. });
        if (wide && record.len() != *min_len) || record.len() < *min_len {
            let message = if wide {
                format!("{} colonnes au lieu de {min_len} attendues", record.len())
            } else {
                format!("{} colonnes alors qu'il en faut au moins {min_len}", record.len())
            };
            return Err(RowError::new(line, message));
        }
        let text = |i: usize| match record.get(i) {
            Some(bytes) => match decode(bytes, encoding) {
                Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
                Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
            },
            None => Cow::Borrowed(""),
        };
        let count = |i: usize, name: &str| -> Result<u32, RowError> {
            let raw = text(i);
            parse_count(&raw).ok_or_else(|| {
                if raw.is_empty() {
                    RowError::new(line, format!("« {name} » est vide"))
                } else {
                    RowError::new(line, format!("« {name} » n'est pas un nombre (« {raw} »)"))
                }
            })
        };
        let (departement, commune) = normalise_location(&fixed.dep.map(text).unwrap_or_default(), &text(fixed.commune))
            .map_err(|m| RowError::new(line, m))?;
        let bureau = normalise_bureau(&text(fixed.bureau)).map_err(|m| RowError::new(line, m))?;
        let circonscription = fixed.circ.and_then(|i| normalise_circonscription(&departement, &text(i)));
        let inscrits = count(fixed.inscrits, &header[fixed.inscrits])?;
        let votants = count(fixed.votants, &header[fixed.votants])?;
        let mut blancs = fixed.blancs.map(|i| count(i, &header[i])).transpose()?;
        let mut nuls = fixed.nuls.map(|i| count(i, &header[i])).transpose()?;
        let exprimes = count(fixed.exprimes, &header[fixed.exprimes])?;

        let mut votes = Vec::new();
        match candidates {
            Candidates::Wide { columns } => {
                votes.reserve_exact(columns.len());
                for (choice, &i) in columns.iter().enumerate() {
                    votes.push((choice as u32, count(i, &header[i])?));
                }
            }
            Candidates::Repeated { start, len, fields } => {
                let mut group_start = *start;
                let mut n = 1;
                while group_start < record.len() {
                    let at = |offset: Option<usize>| offset.map(|o| group_start + o);
                    let group = GroupFields {
                        nom: at(fields.nom),
                        prenom: at(fields.prenom),
                        label: at(fields.label),
                        nuance: at(fields.nuance),
                        voix: group_start + fields.voix,
                    };
                    let empty = (group_start..(group_start + *len).min(record.len())).all(|i| text(i).is_empty());
                    if !empty {
                        let name = format!("{} (candidat {n})", header[*start + fields.voix]);
                        let voix = count(group.voix, &name)?;
                        let choice = intern_choice(&group, &text, choices, choice_index, key)
                            .ok_or_else(|| RowError::new(line, format!("candidat {n} sans nom")))?;
                        votes.push((choice, voix));
                    }
                    group_start += *len;
                    n += 1;
                }
            }
            Candidates::Numbered { groups } => {
                for group in groups.iter() {
                    let named =
                        [group.nom, group.prenom, group.label].into_iter().flatten().any(|i| !text(i).is_empty());
                    if !named && text(group.voix).is_empty() {
                        continue;
                    }
                    let voix = count(group.voix, &header[group.voix])?;
                    let choice = intern_choice(group, &text, choices, choice_index, key).ok_or_else(|| {
                        RowError::new(line, format!("candidat sans nom pour « {} »", header[group.voix]))
                    })?;
                    votes.push((choice, voix));
                }
            }
        }

        if votants > inscrits {
            return Err(RowError::new(line, format!("votants ({votants}) supérieurs aux inscrits ({inscrits})")));
        }
        if exprimes > votants {
            return Err(RowError::new(line, format!("exprimés ({exprimes}) supérieurs aux votants ({votants})")));
        }
        match (blancs, nuls) {
            (Some(b), Some(n)) if u64::from(b) + u64::from(n) + u64::from(exprimes) != u64::from(votants) => {
                return Err(RowError::new(
                    line,
                    format!("blancs ({b}) + nuls ({n}) + exprimés ({exprimes}) différent des votants ({votants})"),
                ));
            }
            (Some(b), None) => {
                nuls = Some(votants.checked_sub(exprimes).and_then(|r| r.checked_sub(b)).ok_or_else(|| {
                    RowError::new(
                        line,
                        format!("blancs ({b}) + exprimés ({exprimes}) supérieurs aux votants ({votants})"),
                    )
                })?);
            }
            (None, Some(n)) => {
                blancs = Some(votants.checked_sub(exprimes).and_then(|r| r.checked_sub(n)).ok_or_else(|| {
                    RowError::new(
                        line,
                        format!("nuls ({n}) + exprimés ({exprimes}) supérieurs aux votants ({votants})"),
                    )
                })?);
            }
            _ => {}
        }
        let sum: u64 = votes.iter().map(|&(_, v)| u64::from(v)).sum();
        if sum != u64::from(exprimes) {
            return Err(RowError::new(line, format!("la somme des voix ({sum}) diffère des exprimés ({exprimes})")));
        }
        Ok(BureauRow {
            line,
            departement,
            commune,
            bureau,
            circonscription,
            inscrits,
            votants,
            blancs,
            nuls,
            exprimes,
            votes,
        })
    }
}

impl Iterator for Parser<'_> {
    type Item = Result<BureauRow, RowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_row()
    }
}

fn choice_key(label: &str, nuance: Option<&str>) -> String {
    let mut key = String::with_capacity(label.len() + 8);
    push_choice_key(&mut key, label, nuance);
    key
}

fn push_choice_key(key: &mut String, label: &str, nuance: Option<&str>) {
    key.clear();
    key.push_str(label);
    key.push('\u{1f}');
    key.push_str(nuance.unwrap_or(""));
}

/// Index of the group's candidate ("Nom Prénom", else the list label), added to the table when new; None when the
/// group has no name at all.
fn intern_choice<'r>(
    group: &GroupFields,
    text: &impl Fn(usize) -> Cow<'r, str>,
    choices: &mut Vec<Choice>,
    index: &mut HashMap<String, u32>,
    key: &mut String,
) -> Option<u32> {
    let get = |i: Option<usize>| i.map(text).filter(|s| !s.is_empty());
    let label: Cow<'r, str> = match (get(group.nom), get(group.prenom), get(group.label)) {
        (Some(nom), Some(prenom), _) => Cow::Owned(format!("{nom} {prenom}")),
        (Some(nom), None, _) => nom,
        (None, _, Some(label)) => label,
        (None, _, None) => return None,
    };
    let nuance = get(group.nuance);
    push_choice_key(key, &label, nuance.as_deref());
    if let Some(&i) = index.get(key.as_str()) {
        return Some(i);
    }
    let i = choices.len() as u32;
    index.insert(key.clone(), i);
    choices.push(Choice { label: label.into_owned(), nuance: nuance.map(Cow::into_owned) });
    Some(i)
}

/// Non-negative integer; spaces, no-break spaces and narrow no-break spaces are thousands separators.
pub(super) fn parse_count(raw: &str) -> Option<u32> {
    let mut value: u32 = 0;
    let mut digits = 0;
    for c in raw.chars() {
        match c {
            '0'..='9' => {
                value = value.checked_mul(10)?.checked_add(c as u32 - '0' as u32)?;
                digits += 1;
            }
            ' ' | '\u{a0}' | '\u{202f}' if digits > 0 => {}
            _ => return None,
        }
    }
    (digits > 0).then_some(value)
}
