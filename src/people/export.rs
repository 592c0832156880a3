//! The filtered people list as CSV.

use super::queries::full_where_clause;
use super::{Filter, PERSON_COLUMNS, Person, csv_import};
use crate::access::{Access, Perm};
use crate::db::Db;
use crate::error::{Error, Result};

/// The filtered people as CSV (French Excel: UTF-8 BOM, `;`), formula-neutralised. Requires `ManagePeople`;
/// contact details only where the caller may see them.
pub async fn export_csv(db: &Db, access: &Access, filter: &Filter) -> Result<(String, usize)> {
    if !access.allows_somewhere(Perm::ManagePeople) {
        return Err(Error::Forbidden);
    }
    let (cond, binds) = full_where_clause(db, access, Perm::ManagePeople, filter).await?;
    let (tags, values) = match db.backend {
        crate::db::Backend::Sqlite => ("GROUP_CONCAT(t.tag, ', ')", "GROUP_CONCAT(c.value, ', ')"),
        crate::db::Backend::Postgres => ("STRING_AGG(t.tag, ', ')", "STRING_AGG(c.value, ', ')"),
    };
    let further = |kind: &str| {
        format!(
            "COALESCE((SELECT {values} FROM person_contacts c WHERE c.person_id = p.id AND c.kind = '{kind}'), '') \
             AS other_{kind}s"
        )
    };
    let sql = format!(
        "SELECT {PERSON_COLUMNS}, COALESCE((SELECT {tags} FROM person_tags t WHERE t.person_id = p.id), '') AS tag_list, \
         {}, {} FROM people p WHERE {cond} ORDER BY p.last_name, p.first_name, p.id",
        further("email"),
        further("phone"),
    );
    let rows = sqlx::query_with(&sql, binds.arguments()?).fetch_all(&db.pool).await?;
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new());
    let header = [
        "id",
        "prénom",
        "nom",
        "e-mail",
        "téléphone",
        "autres e-mails",
        "autres téléphones",
        "adresse",
        "code postal",
        "commune",
        "code INSEE",
        "catégorie",
        "base légale",
        "origine",
        "étiquettes",
    ];
    w.write_record(header).map_err(anyhow::Error::from)?;
    let mut n = 0;
    for row in &rows {
        use sqlx::{FromRow, Row};
        let p = Person::from_row(row)?.redact_for(access);
        let tag_list: String = row.try_get("tag_list")?;
        let other_emails: String = row.try_get("other_emails")?;
        // Further phones follow the first one's rule.
        let other_phones: String =
            if access.allows(Perm::ContactDetails, p.scope()) { row.try_get("other_phones")? } else { String::new() };
        let cells = [
            p.id.to_string(),
            p.first_name.clone(),
            p.last_name.clone(),
            p.email.clone().unwrap_or_default(),
            p.phone.clone().unwrap_or_default(),
            other_emails,
            other_phones,
            p.address.clone(),
            p.postcode.clone(),
            p.city.clone(),
            p.commune_code.clone().unwrap_or_default(),
            p.category_label().to_string(),
            p.legal_basis_label().to_string(),
            p.origin.clone(),
            tag_list,
        ];
        w.write_record(cells.iter().map(|c| csv_import::neutralise_formula(c))).map_err(anyhow::Error::from)?;
        n += 1;
    }
    let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((format!("\u{feff}{}", String::from_utf8_lossy(&bytes)), n))
}
