//! Normalisation of département, commune, bureau and circonscription codes.

/// INSEE prefix of the Ministry's letter codes for overseas territories (3-digit commune numbers whose first digit
/// repeats the territory: ZA 101 → 97101).
fn overseas_prefix(dep: &str, number: &str) -> Option<&'static str> {
    Some(match dep {
        "ZA" => "971",
        "ZB" => "972",
        "ZC" => "973",
        "ZD" => "974",
        "ZS" => "975",
        "ZM" => "976",
        "ZX" if number.starts_with('8') => "978",
        "ZX" => "977",
        "ZW" => "986",
        "ZP" => "987",
        "ZN" => "988",
        _ => return None,
    })
}

/// (département, INSEE commune) from the file's codes: a 5-character commune code is kept, a commune number is
/// prefixed by the département (see the [module documentation](super) for overseas and abroad).
pub(super) fn normalise_location(dep_raw: &str, commune_raw: &str) -> Result<(String, String), String> {
    let mut dep = dep_raw.trim().to_ascii_uppercase();
    if dep.len() == 1 && dep.bytes().all(|b| b.is_ascii_digit()) {
        dep.insert(0, '0');
    }
    let mut commune = commune_raw.trim().to_ascii_uppercase();
    if commune.is_empty() {
        return Err("code commune manquant".into());
    }
    if !commune.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("code commune invalide (« {commune_raw} »)"));
    }
    // Spreadsheets drop the leading zero of "01001".
    if commune.len() == 4 && commune.bytes().all(|b| b.is_ascii_digit()) && (dep.is_empty() || dep.starts_with('0')) {
        commune.insert(0, '0');
    }
    if commune.len() == 5 {
        let dep = if commune.starts_with("ZZ") {
            "ZZ".to_string()
        } else if commune.starts_with("97") || commune.starts_with("98") {
            commune[..3].to_string()
        } else {
            commune[..2].to_string()
        };
        return Ok((dep, commune));
    }
    if commune.len() > 3 {
        return Err(format!("code commune invalide (« {commune_raw} »)"));
    }
    let number = format!("{commune:0>3}");
    if let Some(prefix) = overseas_prefix(&dep, &number) {
        return Ok((prefix.to_string(), format!("{prefix}{}", &number[1..])));
    }
    match dep.len() {
        2 if dep == "ZZ" => Ok((dep, format!("ZZ{number}"))),
        2 => {
            let code = format!("{dep}{number}");
            Ok((dep, code))
        }
        3 if dep.starts_with("97") || dep.starts_with("98") => {
            let code = format!("{dep}{}", &number[1..]);
            Ok((dep, code))
        }
        0 => Err(format!("code département manquant pour la commune « {commune_raw} »")),
        _ => Err(format!("code département invalide (« {dep_raw} »)")),
    }
}

pub(super) fn normalise_bureau(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("code bureau de vote manquant".into());
    }
    Ok(format!("{raw:0>4}"))
}

/// "DD-NN" from a circonscription number ("8", "08") or a code ending with it ("6908"); abroad is "99",
/// Saint-Barthélemy and Saint-Martin share "977-01".
pub(super) fn normalise_circonscription(departement: &str, raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if raw.contains('-') {
        return Some(raw.to_string());
    }
    let prefix = match departement {
        "ZZ" => "99",
        "978" => "977",
        d => d,
    };
    let number = if raw.len() > 2 { &raw[raw.len() - 2..] } else { raw };
    match number.parse::<u32>() {
        Ok(n) => Some(format!("{prefix}-{n:02}")),
        Err(_) => Some(raw.to_string()),
    }
}
