//! The fields a column can hold and the guessing of each column's field from its header.

use serde::{Deserialize, Serialize};

/// What a column of the file holds, as chosen on the mapping form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Ignore,
    FirstName,
    LastName,
    /// "Jean Dupont" in one cell; split by [`validate_row`] when there are no separate name columns.
    ///
    /// [`validate_row`]: super::validate_row
    FullName,
    Email,
    Phone,
    Address,
    Postcode,
    City,
    /// The INSEE code of the commune (not the postcode: one postcode can cover several communes).
    CommuneCode,
    Category,
    Tags,
    Skills,
    Notes,
    /// The person's id in the tool the file comes from (e.g. `nationbuilder_id`), to recognise them on re-import.
    ExternalId,
}

impl Field {
    /// Every field, in the order of the mapping form's drop-down (and of the discriminants: `ALL[f as usize] == f`).
    pub const ALL: [Field; 15] = [
        Field::Ignore,
        Field::FirstName,
        Field::LastName,
        Field::FullName,
        Field::Email,
        Field::Phone,
        Field::Address,
        Field::Postcode,
        Field::City,
        Field::CommuneCode,
        Field::Category,
        Field::Tags,
        Field::Skills,
        Field::Notes,
        Field::ExternalId,
    ];

    /// Stable identifier, the same as the serde form: used in form values and stored mappings.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Ignore => "ignore",
            Field::FirstName => "first_name",
            Field::LastName => "last_name",
            Field::FullName => "full_name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Address => "address",
            Field::Postcode => "postcode",
            Field::City => "city",
            Field::CommuneCode => "commune_code",
            Field::Category => "category",
            Field::Tags => "tags",
            Field::Skills => "skills",
            Field::Notes => "notes",
            Field::ExternalId => "external_id",
        }
    }

    /// Inverse of [`Field::as_str`] (exact match: these come from our own form, not from people).
    pub fn parse(s: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// French label for the mapping form.
    pub fn label(self) -> &'static str {
        match self {
            Field::Ignore => "(ignorer)",
            Field::FirstName => "Prénom",
            Field::LastName => "Nom",
            Field::FullName => "Nom complet",
            Field::Email => "Adresse e-mail",
            Field::Phone => "Téléphone",
            Field::Address => "Adresse",
            Field::Postcode => "Code postal",
            Field::City => "Commune",
            Field::CommuneCode => "Code INSEE",
            Field::Category => "Catégorie",
            Field::Tags => "Étiquettes",
            Field::Skills => "Compétences",
            Field::Notes => "Notes",
            Field::ExternalId => "Identifiant externe",
        }
    }
}

/// Whether a header names its field outright or is only a stand-in when nothing better is in the file.
#[derive(Clone, Copy, PartialEq)]
enum Rank {
    Primary,
    /// `primary_address2` is the address only when there is no `primary_address1`. A further e-mail or phone
    /// column (`email2`, a mobile) is always mapped too: the row's first filled value is the person's, the others
    /// are kept as further ones.
    Fallback,
}

/// The field a header names, from its [`fold`]ed form ("Code postal", "code_postal" and "CODE-POSTAL" all give
/// "codepostal"). Exact matches only: prefixes would turn "Adresse mail" into an address.
fn header_field(folded: &str) -> Option<(Field, Rank)> {
    use Field::*;
    use Rank::*;
    Some(match folded {
        "prenom" | "prenoms" | "firstname" | "givenname" => (FirstName, Primary),
        "nom" | "nomdefamille" | "nomdusage" | "lastname" | "surname" | "familyname" => (LastName, Primary),
        "nomcomplet" | "nometprenom" | "prenometnom" | "nomprenom" | "prenomnom" | "fullname" | "name" => {
            (FullName, Primary)
        }
        "email"
        | "mail"
        | "courriel"
        | "mel"
        | "adressemail"
        | "adresseemail"
        | "adressecourriel"
        | "adresseelectronique"
        | "emailaddress"
        | "email1" => (Email, Primary),
        "email2" | "email3" | "email4" | "email5" | "autreemail" | "autreadressemail" | "emailpro"
        | "emailprofessionnel" | "workemail" => (Email, Fallback),
        "telephone" | "tel" | "telfixe" | "telephonefixe" | "fixe" | "numerodetelephone" | "phone" | "phonenumber"
        | "telephonenumber" => (Phone, Primary),
        "portable"
        | "mobile"
        | "telportable"
        | "telephoneportable"
        | "telmobile"
        | "telephonemobile"
        | "cellulaire"
        | "gsm"
        | "mobilenumber"
        | "mobilephone"
        | "cellphone"
        | "workphonenumber"
        | "telpro"
        | "telephonepro"
        | "telephoneprofessionnel"
        | "workphone" => (Phone, Fallback),
        "adresse" | "adressepostale" | "adresse1" | "rue" | "address" | "address1" | "addressline1" | "street"
        | "primaryaddress1" => (Address, Primary),
        "adresse2" | "complementdadresse" | "address2" | "addressline2" | "primaryaddress2" => (Address, Fallback),
        "codepostal" | "cp" | "zip" | "zipcode" | "postcode" | "postalcode" | "primaryzip" => (Postcode, Primary),
        "ville" | "commune" | "localite" | "city" | "town" | "primarycity" => (City, Primary),
        "codeinsee" | "insee" | "codecommune" | "communecode" | "inseecode" => (CommuneCode, Primary),
        "categorie" | "category" | "statut" | "status" => (Category, Primary),
        "tags" | "tag" | "taglist" | "etiquettes" | "etiquette" | "motscles" => (Tags, Primary),
        "competences" | "competence" | "skills" | "savoirfaire" | "causes" | "cause" | "centresdinteret"
        | "interets" | "themes" => (Skills, Primary),
        "notes" | "note" | "commentaire" | "commentaires" | "remarques" | "remarque" | "observations" | "comments"
        | "comment" => (Notes, Primary),
        "nationbuilderid" | "externalid" | "identifiantexterne" | "identifiant" | "id" => (ExternalId, Primary),
        _ => return None,
    })
}

/// Guesses the field of each header: case/accent/space/punctuation-insensitive matching of French and English
/// headers and of the NationBuilder people export headers. Unknown headers → [`Field::Ignore`].
///
/// Each field is given to at most one column, the first that matches. Stand-in headers ([`Rank::Fallback`]: second
/// address line) only get their field if no column names it outright, whatever the column order. The exceptions are
/// lists: every e-mail column (`email`, `email1` to `email4`) and every phone column (fixed, mobile, work) is mapped,
/// each row's first value being the person's first address or number and the others further ones; several tag or
/// skill/cause columns are merged.
pub fn guess_mapping(headers: &[String]) -> Vec<Field> {
    let guesses: Vec<Option<(Field, Rank)>> = headers.iter().map(|h| header_field(&fold(h))).collect();
    let mut mapping = vec![Field::Ignore; headers.len()];
    let mut taken = [false; Field::ALL.len()];
    for pass in [Rank::Primary, Rank::Fallback] {
        for (column, guess) in guesses.iter().enumerate() {
            if let Some((field, rank)) = *guess
                && rank == pass
                && (!taken[field as usize]
                    || matches!(field, Field::Email | Field::Phone | Field::Tags | Field::Skills))
            {
                taken[field as usize] = true;
                mapping[column] = field;
            }
        }
    }
    mapping
}

/// Lower-cases, removes French (and common Latin) accents and drops everything but ASCII letters and digits:
/// "Tél. portable" → "telportable", "E-mail" → "email", "Adhérent·e" → "adherente".
pub(super) fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'a'..='z' | '0'..='9' => out.push(c),
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => out.push('a'),
            'ç' => out.push('c'),
            'é' | 'è' | 'ê' | 'ë' => out.push('e'),
            'î' | 'ï' | 'í' | 'ì' => out.push('i'),
            'ñ' => out.push('n'),
            'ô' | 'ö' | 'ó' | 'ò' | 'õ' => out.push('o'),
            'ù' | 'û' | 'ü' | 'ú' => out.push('u'),
            'ÿ' | 'ý' => out.push('y'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            _ => {}
        }
    }
    out
}
