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
