//! Demo content: a few sections and one account per role, so a newcomer can log in as each role.
//! Re-running refreshes the accounts' passwords and keeps everything else.

use crate::access::{Role, Scope};
use crate::app::App;
use crate::error::Error;
use crate::org::SectionInput;
use crate::users;

pub struct DemoAccount {
    pub email: String,
    pub role: Role,
    pub place: String,
    pub totp_secret: Option<String>,
}

/// (federation code, section name, communes)
const SECTIONS: &[(&str, &str, &str)] = &[
    ("69", "Lyon 1er", "69381"),
    ("69", "Villeurbanne", "69266"),
    ("69", "Vénissieux", "69259"),
    ("29", "Brest", "29019"),
    ("29", "Quimper", "29232"),
    ("75", "Paris 11e", "75111"),
    ("93", "Saint-Denis", "93066"),
];

/// (e-mail, name, role, federation code, section name)
type DemoAccountSpec = (&'static str, &'static str, Role, Option<&'static str>, Option<&'static str>);

const ACCOUNTS: &[DemoAccountSpec] = &[
    ("admin@demo.terrain.test", "Camille Administratrice", Role::NationalAdmin, None, None),
    ("permanent@demo.terrain.test", "Sacha Permanent", Role::NationalStaff, None, None),
    ("coordination.69@demo.terrain.test", "Louise Coordinatrice", Role::FederationCoordinator, Some("69"), None),
    ("equipe.69@demo.terrain.test", "Nadia Équipe", Role::FederationStaff, Some("69"), None),
    ("secretariat.lyon1@demo.terrain.test", "Jules Secrétaire", Role::SectionSecretary, Some("69"), Some("Lyon 1er")),
    ("militant.69@demo.terrain.test", "Malik Militant", Role::Activist, Some("69"), Some("Villeurbanne")),
    ("coordination.29@demo.terrain.test", "Yann Coordinateur", Role::FederationCoordinator, Some("29"), None),
];

async fn federation_id(app: &App, code: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT id FROM federations WHERE code = $1").bind(code).fetch_one(&app.db.pool).await?)
}

async fn section_id(app: &App, federation: i64, name: &str) -> anyhow::Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT id FROM sections WHERE federation_id = $1 AND name = $2")
        .bind(federation)
        .bind(name)
        .fetch_optional(&app.db.pool)
        .await?)
}

/// Creates (or refreshes) the demo sections and accounts; every account gets `password`.
pub async fn prepare(app: &App, password: &str) -> anyhow::Result<Vec<DemoAccount>> {
    // Sections are created through the same scoped repository as in the app, as a national administrator.
    let admin = crate::access::Access {
        user_id: 0,
        grants: vec![crate::access::Grant { id: 0, role: Role::NationalAdmin, scope: Scope::National }],
    };
    for (code, name, communes) in SECTIONS {
        let fid = federation_id(app, code).await?;
        if section_id(app, fid, name).await?.is_none() {
            let fed = crate::org::get_federation(&app.db, &admin, crate::access::Perm::ViewOrg, fid).await?;
            let input =
                SectionInput { name: name.to_string(), description: String::new(), communes: communes.to_string() };
            crate::org::create_section(&app.db, &admin, &fed, &input).await?;
        }
    }
    let hash = {
        let p = password.to_string();
        tokio::task::spawn_blocking(move || crate::auth::password::hash(&p)).await?
    };
    let mut out = Vec::new();
    for (email, name, role, fed_code, section) in ACCOUNTS {
        let user_id = match users::create(&app.db, email, name, Some(&hash)).await {
            Ok(id) => id,
            Err(Error::Conflict(_)) => {
                let c = users::credentials_by_email(&app.db, email)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("{email} vanished"))?;
                users::set_password_hash(&app.db, c.id, &hash).await?;
                users::set_disabled(&app.db, c.id, false).await?;
                c.id
            }
            Err(e) => return Err(e.into()),
        };
        let scope = match fed_code {
            None => Scope::National,
            Some(code) => {
                let fid = federation_id(app, code).await?;
                match section {
                    None => Scope::Federation { federation_id: fid },
                    Some(s) => Scope::Section {
                        federation_id: fid,
                        section_id: section_id(app, fid, s)
                            .await?
                            .ok_or_else(|| anyhow::anyhow!("section {s} missing"))?,
                    },
                }
            }
        };
        users::grant(&app.db, user_id, *role, scope, None).await?;
        let mut totp_secret = None;
        if scope == Scope::National {
            let existing = users::credentials_by_id(&app.db, user_id)
                .await?
                .and_then(|c| c.totp_secret.filter(|_| c.totp_enabled != 0));
            let secret = existing.unwrap_or_else(crate::auth::totp::new_secret);
            users::set_totp(&app.db, user_id, Some(&secret), true).await?;
            totp_secret = Some(secret);
        }
        let place = match (fed_code, section) {
            (None, _) => "national".to_string(),
            (Some(f), None) => format!("fédération {f}"),
            (Some(f), Some(s)) => format!("section {s} ({f})"),
        };
        out.push(DemoAccount { email: email.to_string(), role: *role, place, totp_secret });
    }
    Ok(out)
}

const PRES2017_T1: &[u8] = include_bytes!("../data/elections/national/2017-presidentielle-1_par_bureau_large.csv.gz");
const EURO2019: &[u8] = include_bytes!("../data/elections/national/2019-europeennes_par_bureau_large.csv.gz");
const FILOSOFI_69: &[u8] = include_bytes!("../data/socio/filosofi2021_communes_69.csv.gz");

/// The header and the rows of one département of a national wide-layout file (gzip).
fn departement_rows(gz: &[u8], departement: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(gz).read_to_string(&mut text)?;
    let prefix = format!("{departement},");
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 || line.starts_with(&prefix) {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out.into_bytes())
}

/// Field demo (run by `terrain demo`, not by the tests' template): the Rhône's bureaux de vote in the 2017
/// presidential election (1st round) and the 2019 European election, with its Filosofi indicators, classified; three upcoming missions of the Rhône; a profile for the
/// demo activist. Skipped parts that already exist.
pub async fn field(app: &App) -> anyhow::Result<()> {
    use crate::field::missions::{self, MissionInput};
    use crate::field::{Method, Turf};
    use crate::territory::{classify, import};
    let db = &app.db;
    let imported: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM elections WHERE key IN ('pres2017t1', 'euro2019')")
        .fetch_one(&db.pool)
        .await?;
    if imported < 2 {
        let elections = [
            (
                "pres2017t1",
                "Présidentielle 2017, 1er tour (Rhône)",
                import::ElectionKind::Presidentielle,
                2017,
                PRES2017_T1,
            ),
            ("euro2019", "Européennes 2019 (Rhône)", import::ElectionKind::Europeennes, 2019, EURO2019),
        ];
        for (key, label, kind, year, gz) in elections {
            let info = import::ElectionInfo {
                key: key.into(),
                label: label.into(),
                kind,
                round: 1,
                year,
                source_file: format!("{key}-69.csv"),
            };
            let rows = departement_rows(gz, "69")?;
            import::import_results(db, &rows, &info, |_| {}).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        import::import_filosofi(db, FILOSOFI_69).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        classify::classify_all(db, "euro2019", "pres2017t1").await?;
    }
    let fed = federation_id(app, "69").await?;
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM missions").fetch_one(&db.pool).await?;
    if existing == 0 {
        let hq = crate::access::Access {
            user_id: 0,
            grants: vec![crate::access::Grant { id: 0, role: Role::NationalAdmin, scope: Scope::National }],
        };
        let skill = |name: &'static str| async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM skills WHERE name = $1")
                .bind(name)
                .fetch_optional(&db.pool)
                .await
        };
        // The three highest-priority bureaux of Vénissieux.
        let bureaux: Vec<String> = sqlx::query_scalar(
            "SELECT z.zone FROM zone_classes z JOIN bureaux b ON b.key = z.zone WHERE z.level = 'bureau' \
             AND b.commune_code = '69259' ORDER BY z.priority DESC LIMIT 3",
        )
        .fetch_all(&db.pool)
        .await?;
        let turf = bureaux.iter().map(|b| format!("bureau:{b}")).collect::<Vec<_>>().join(",");
        // Next Saturday 10:00 (Paris), and the following days.
        let day = 86_400;
        let now = crate::db::now();
        // 1970-01-01 was a Thursday: weekday 0 is Monday, Saturday is 5.
        let weekday = (now / day + 3) % 7;
        let ahead = match (5 - weekday + 7) % 7 {
            0 => 7,
            n => n,
        };
        let saturday_10 = (now / day + ahead) * day + 9 * 3_600;
        let lyon1 = section_id(app, fed, "Lyon 1er").await?;
        let plans = [
            (
                "Porte-à-porte aux Minguettes",
                Method::PorteAPorte,
                "Transports du quotidien",
                turf.as_str(),
                None,
                saturday_10,
                vec![skill("Transports").await?],
            ),
            (
                "Défendre l'hôpital public",
                Method::Tractage,
                "Hôpital et santé",
                "commune:69266",
                None,
                saturday_10 + day,
                vec![skill("Santé").await?, skill("Santé et hôpital").await?],
            ),
            (
                "Débat : nos services publics",
                Method::Debat,
                "Services publics",
                "commune:69123",
                lyon1,
                saturday_10 + 4 * day + 9 * 3_600,
                vec![skill("Services publics").await?],
            ),
        ];
        for (title, method, theme, turf, section, starts, skills) in plans {
            let input = MissionInput {
                federation_id: Some(fed),
                section_id: section,
                title: title.into(),
                method: Some(method),
                theme: theme.into(),
                description: "Mission de démonstration.".into(),
                starts_at: starts,
                ends_at: starts + 3 * 3_600,
                places: 12,
                meeting_point: "Devant la mairie".into(),
                commune_code: None,
                turf: Turf::parse(turf)?,
                skills: skills.into_iter().flatten().collect(),
            };
            missions::create(db, &hq, input).await?;
        }
    }
    let activist: Option<i64> =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'militant.69@demo.terrain.test'")
            .fetch_optional(&db.pool)
            .await?;
    if let Some(user) = activist {
        let has: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_profiles WHERE user_id = $1")
            .bind(user)
            .fetch_one(&db.pool)
            .await?;
        if has == 0 {
            let skills: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM skills WHERE name IN ('Santé', 'Santé et hôpital', 'Services publics')",
            )
            .fetch_all(&db.pool)
            .await?;
            crate::field::matching::save_profile(db, user, Some("69266"), 30, &skills).await?;
        }
    }
    Ok(())
}
