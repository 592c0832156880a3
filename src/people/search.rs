//! Fast people search: accent- and case-folded name keys stored next to the names, searched by index range scans.
//!
//! `LIKE '%…%'` over a million rows cannot meet a 50 ms goal on either backend, so search matches *prefixes* of the
//! last name, first name, e-mail or phone number. Results come in two tiers, each read in index order so a page
//! costs a few index probes however many people match: people whose last name matches first (sorted by name), then
//! people whose first name matches. Counts stop at [`COUNT_CAP`].

use super::segments::Sql;
use crate::error::Result;

/// Counts above this are shown as "more than".
pub const COUNT_CAP: i64 = 10_000;

/// The key a name is searched by: lower case, accents removed, hyphens and apostrophes as spaces.
pub fn name_key(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = true;
    for c in s.chars().flat_map(char::to_lowercase) {
        let folded: &str = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'č' => "c",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ī' => "i",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' => "o",
            'œ' => "oe",
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' => "u",
            'ý' | 'ÿ' => "y",
            'ß' => "ss",
            'š' | 'ś' => "s",
            'ž' | 'ź' | 'ż' => "z",
            'ł' => "l",
            _ if c.is_whitespace() || matches!(c, '-' | '\'' | '’' | '.' | ',' | '_') => {
                if !space {
                    out.push(' ');
                    space = true;
                }
                continue;
            }
            _ if c.is_control() || c == '%' => continue,
            _ => {
                out.push(c);
                space = false;
                continue;
            }
        };
        out.push_str(folded);
        space = false;
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Recomputes a person's name keys after their names were written (the bulk import writes them itself).
pub async fn refresh_keys(conn: &mut sqlx::AnyConnection, person_id: i64) -> Result<()> {
    let (first, last): (String, String) = sqlx::query_as("SELECT first_name, last_name FROM people WHERE id = $1")
        .bind(person_id)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("UPDATE people SET first_key = $1, last_key = $2 WHERE id = $3")
        .bind(name_key(&first))
        .bind(name_key(&last))
        .bind(person_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Fills the keys of rows written before they existed (migration 0003), in batches; a no-op once done.
pub async fn backfill_keys(db: &crate::db::Db) -> Result<u64> {
    let mut done = 0;
    loop {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, first_name, last_name FROM people WHERE first_key = '' AND last_key = '' \
             AND (first_name <> '' OR last_name <> '') LIMIT 1000",
        )
        .fetch_all(&db.pool)
        .await?;
        if rows.is_empty() {
            return Ok(done);
        }
        let mut tx = db.pool.begin().await?;
        for (id, first, last) in &rows {
            let (fk, lk) = (name_key(first), name_key(last));
            // A name made only of punctuation folds to nothing: mark it so that it is not read again.
            let (fk, lk) = if fk.is_empty() && lk.is_empty() { (" ".to_string(), String::new()) } else { (fk, lk) };
            sqlx::query("UPDATE people SET first_key = $1, last_key = $2 WHERE id = $3")
                .bind(fk)
                .bind(lk)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        done += rows.len() as u64;
    }
}

/// `column >= prefix AND column < prefix-successor`: a prefix match that is an index range scan on both backends
/// (the key columns use the C collation on PostgreSQL).
fn prefix(sql: &mut Sql, column: &str, value: &str) -> String {
    let mut upper: Vec<char> = value.chars().collect();
    // The successor of the prefix: its last character incremented (prefixes are never empty).
    while let Some(last) = upper.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            upper.push(next);
            break;
        }
    }
    let lo = sql.text(value);
    if upper.is_empty() {
        return format!("{column} >= {lo}");
    }
    let hi = sql.text(upper.into_iter().collect::<String>());
    // The range uses the index; the exact test guards against collations that order punctuation loosely (e-mails
    // on PostgreSQL use the database's default collation).
    let len = value.chars().count();
    format!("{column} >= {lo} AND {column} < {hi} AND substr({column}, 1, {len}) = {lo}")
}

/// People with a further address or phone (`kind`) starting with `value`, who are not matched by `first`.
fn further(sql: &mut Sql, kind: &str, value: &str, first: &str) -> String {
    format!(
        "p.id IN (SELECT c.person_id FROM person_contacts c WHERE c.kind = '{kind}' AND {}) AND NOT ({first})",
        prefix(sql, "c.value", value)
    )
}

/// How a search text matches, as SQL conditions in two tiers.
pub struct Match {
    /// Matches read in (last name, first name) order.
    pub first: String,
    /// Further matches (not in the first tier), read in (first name, last name) order: first names, or further
    /// e-mail addresses and phones.
    pub second: Option<String>,
    /// The ORDER BY of the first tier.
    pub first_order: &'static str,
}

const BY_LAST: &str = "p.last_key, p.first_key, p.id";
pub const BY_FIRST: &str = "p.first_key, p.last_key, p.id";

/// Compiles a search text; `None` when it is empty once folded.
pub fn compile(q: &str, sql: &mut Sql) -> Option<Match> {
    let q = q.trim();
    if q.contains('@') {
        let email = q.to_lowercase();
        let first = prefix(sql, "p.email", &email);
        let second = Some(further(sql, "email", &email, &first));
        return Some(Match { first, second, first_order: "p.email, p.id" });
    }
    let digits: String = q.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 4 && q.chars().all(|c| c.is_ascii_digit() || " .+-()".contains(c)) {
        // Phones are stored in E.164: a French national number's leading 0 is +33.
        let e164 = if q.starts_with('+') {
            format!("+{digits}")
        } else if let Some(rest) = digits.strip_prefix('0') {
            format!("+33{rest}")
        } else {
            format!("+{digits}")
        };
        let first = prefix(sql, "p.phone", &e164);
        let second = Some(further(sql, "phone", &e164, &first));
        return Some(Match { first, second, first_order: "p.phone, p.id" });
    }
    let key = name_key(q);
    if key.is_empty() {
        return None;
    }
    let words: Vec<&str> = key.split(' ').collect();
    let last_full = prefix(sql, "p.last_key", &key);
    let first_full = prefix(sql, "p.first_key", &key);
    if words.len() == 1 {
        return Some(Match {
            second: Some(format!("{first_full} AND NOT ({last_full})")),
            first: last_full,
            first_order: BY_LAST,
        });
    }
    // "jean dupont", "dupont jean", "jean fr dupont": the words split in two, one part against each name.
    let mut alternatives = vec![format!("({last_full})")];
    for i in 1..words.len().min(6) {
        let (head, tail) = (words[..i].join(" "), words[i..].join(" "));
        alternatives.push(format!("({} AND {})", prefix(sql, "p.first_key", &head), prefix(sql, "p.last_key", &tail)));
        alternatives.push(format!("({} AND {})", prefix(sql, "p.last_key", &head), prefix(sql, "p.first_key", &tail)));
    }
    let tier1 = format!("({})", alternatives.join(" OR "));
    Some(Match { second: Some(format!("{first_full} AND NOT {tier1}")), first: tier1, first_order: BY_LAST })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_accents_and_punctuation() {
        assert_eq!(name_key("Hélène"), "helene");
        assert_eq!(name_key("  Jean-François  D'Œuf "), "jean francois d oeuf");
        assert_eq!(name_key("ÇÀ ÉTÉ"), "ca ete");
        assert_eq!(name_key("Ström 100%"), "strom 100");
        assert_eq!(name_key(""), "");
    }

    #[test]
    fn prefix_is_a_range() {
        let mut sql = Sql::default();
        assert_eq!(prefix(&mut sql, "c", "mar"), "c >= $1 AND c < $2 AND substr(c, 1, 3) = $1");
        assert_eq!(sql.binds.len(), 2);
        assert!(matches!(&sql.binds[1], super::super::segments::Bind::Text(s) if s == "mas"));
    }

    #[test]
    fn texts_choose_their_match() {
        let mut sql = Sql::default();
        let m = compile("06 12 34", &mut sql).unwrap();
        assert!(m.first.starts_with("p.phone >="));
        assert!(m.second.as_deref().is_some_and(|s| s.contains("c.kind = 'phone' AND c.value >=")), "further phones");
        assert!(matches!(&sql.binds[0], super::super::segments::Bind::Text(s) if s == "+3361234"));
        let mut sql = Sql::default();
        assert!(compile("Zoé@Example.org", &mut sql).unwrap().first.starts_with("p.email"));
        let mut sql = Sql::default();
        let m = compile("jean dup", &mut sql).unwrap();
        assert!(m.first.contains("p.first_key") && m.second.is_some());
        assert!(compile(" - ' ", &mut Sql::default()).is_none());
    }
}
