//! The segment builder: a plain form (no JavaScript) whose criteria compile to a [`Definition`]; "Compter"
//! shows the exact count within the viewer's scope, "Enregistrer" saves it for a federation.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use super::auth::Viewer;
use super::error::WebResult;
use super::pages::{Layout, format_int, render, render_status};
use crate::access::Perm;
use crate::app::App;
use crate::audit;
use crate::error::Error;
use crate::org::{self, Federation};
use crate::people::segments::{self, Definition, Segment};
use crate::people::{self, consent};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/segments", get(builder).post(save))
        .route("/segments/{id}", get(show))
        .route("/segments/{id}/supprimer", post(delete))
}

type Pairs = Vec<(String, String)>;

fn values<'a>(pairs: &'a Pairs, key: &str) -> impl Iterator<Item = &'a str> {
    pairs.iter().filter(move |(k, _)| k == key).map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

fn first<'a>(pairs: &'a Pairs, key: &str) -> &'a str {
    values(pairs, key).next().unwrap_or("")
}

fn date(pairs: &Pairs, key: &str, label: &str) -> Result<Option<i64>, Error> {
    let v = first(pairs, key);
    if v.is_empty() {
        return Ok(None);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(v, &fmt)
        .map(|d| Some(d.midnight().assume_utc().unix_timestamp()))
        .map_err(|_| Error::Invalid(format!("{label} : date invalide (attendu AAAA-MM-JJ).")))
}

fn ids(pairs: &Pairs, key: &str, label: &str) -> Result<Vec<i64>, Error> {
    values(pairs, key)
        .map(|v| v.parse().map_err(|_| Error::Invalid(format!("{label} : identifiant invalide."))))
        .collect()
}

/// Reads the builder's fields into a definition (French messages for bad values).
pub fn definition_from(pairs: &Pairs) -> Result<Definition, Error> {
    let consent =
        first(pairs, "consentement").split_once(':').map(|(purpose, state)| (purpose.to_string(), state == "1"));
    Ok(Definition {
        categories: values(pairs, "categorie").map(str::to_string).collect(),
        tags: values(pairs, "etiquettes")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        skills: ids(pairs, "competence", "Compétence")?,
        sections: ids(pairs, "section", "Section")?,
        communes: values(pairs, "communes")
            .flat_map(|v| v.split([',', ' ', ';']))
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        circonscriptions: values(pairs, "circonscriptions")
            .flat_map(|v| v.split([',', ' ', ';']))
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .collect(),
        consent,
        created_after: date(pairs, "cree_apres", "Créée après")?,
        created_before: date(pairs, "cree_avant", "Créée avant")?,
        active_after: date(pairs, "actif_apres", "Active après")?,
        active_before: date(pairs, "actif_avant", "Active avant")?,
        engaged_last: match first(pairs, "engagement") {
            "" => None,
            v => Some(v.parse().map_err(|_| Error::Invalid("« Engagement » : indiquez un nombre de lettres.".into()))?),
        },
        include: ids(pairs, "inclure", "Segment à inclure")?,
        exclude: ids(pairs, "exclure", "Segment à exclure")?,
    })
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "people/segments.html")]
struct BuilderPage {
    layout: Layout,
    segments: Vec<Segment>,
    categories: Vec<Choice>,
    skills: Vec<Choice>,
    sections: Vec<Choice>,
    consents: Vec<Choice>,
    includes: Vec<Choice>,
    excludes: Vec<Choice>,
    federations: Vec<Choice>,
    tags: String,
    communes: String,
    circonscriptions: String,
    engagement: String,
    dates: [(&'static str, &'static str, String); 4],
    count: Option<String>,
    name: String,
    query: String,
    can_save: bool,
    error: Option<String>,
}

async fn builder_page(
    app: &App,
    viewer: &Viewer,
    pairs: &Pairs,
    error: Option<String>,
    status: StatusCode,
) -> WebResult<Response> {
    let a = &viewer.access;
    if !a.allows_somewhere(Perm::ViewPeople) {
        return Err(Error::Forbidden.into());
    }
    let chosen = |key: &str, v: &str| values(pairs, key).any(|x| x == v);
    let (def, mut error) = match definition_from(pairs) {
        Ok(d) => (d, error),
        Err(Error::Invalid(m)) => (Definition::default(), Some(m)),
        Err(e) => return Err(e.into()),
    };
    let counted = pairs.iter().any(|(k, _)| k == "compter");
    let count = if counted && error.is_none() {
        match segments::count(&app.db, a, &def).await {
            Ok(n) => Some(format_int(n)),
            Err(Error::Invalid(m)) | Err(Error::Conflict(m)) => {
                error = Some(m);
                None
            }
            Err(Error::NotFound) => {
                error = Some("Segment inconnu ou hors de votre périmètre.".into());
                None
            }
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let saved = segments::list(&app.db, a).await?;
    let seg_choices = |key: &str| {
        saved
            .iter()
            .map(|s| Choice {
                value: s.id.to_string(),
                label: s.name.clone(),
                selected: chosen(key, &s.id.to_string()),
            })
            .collect()
    };
    let sections = org::sections_in_scope(&app.db, a, Perm::ViewPeople)
        .await?
        .into_iter()
        .map(|s| Choice {
            selected: chosen("section", &s.id.to_string()),
            value: s.id.to_string(),
            label: format!("{} — {}", s.name, s.federation_name),
        })
        .collect();
    let mut federations: Vec<Choice> = org::list_federations(&app.db, a, "")
        .await?
        .into_iter()
        .map(|f| Federation { id: f.id, code: f.code, name: f.name })
        .filter(|f| a.allows(Perm::ManagePeople, f.scope()))
        .map(|f| Choice {
            selected: chosen("federation_id", &f.id.to_string()),
            value: f.id.to_string(),
            label: f.label(),
        })
        .collect();
    if a.allows(Perm::ManagePeople, crate::access::Scope::National) {
        federations.insert(
            0,
            Choice { value: String::new(), label: "National (toutes les fédérations)".into(), selected: false },
        );
    }
    let mut consents = vec![Choice { value: String::new(), label: "— indifférent —".into(), selected: false }];
    for (p, label) in consent::PURPOSES {
        for (state, word) in [("1", "accepté"), ("0", "non accepté")] {
            let value = format!("{p}:{state}");
            consents.push(Choice {
                selected: first(pairs, "consentement") == value,
                value,
                label: format!("{label} : {word}"),
            });
        }
    }
    let query =
        serde_urlencoded::to_string(pairs.iter().filter(|(k, _)| k != "compter" && k != "nom").collect::<Vec<_>>())
            .unwrap_or_default();
    render_status(
        if error.is_some() && status == StatusCode::OK { StatusCode::UNPROCESSABLE_ENTITY } else { status },
        BuilderPage {
            layout: Layout::new(app, viewer, "Segments", "/personnes"),
            categories: [("member", "Adhérent·es"), ("sympathiser", "Sympathisant·es"), ("curious", "Curieux·ses")]
                .into_iter()
                .map(|(v, l)| Choice { value: v.into(), label: l.into(), selected: chosen("categorie", v) })
                .collect(),
            skills: people::skill_list(&app.db)
                .await?
                .into_iter()
                .map(|(id, n)| Choice {
                    selected: chosen("competence", &id.to_string()),
                    value: id.to_string(),
                    label: n,
                })
                .collect(),
            sections,
            consents,
            includes: seg_choices("inclure"),
            excludes: seg_choices("exclure"),
            federations,
            tags: first(pairs, "etiquettes").to_string(),
            communes: first(pairs, "communes").to_string(),
            circonscriptions: first(pairs, "circonscriptions").to_string(),
            engagement: first(pairs, "engagement").to_string(),
            dates: [
                ("cree_apres", "Fiche créée à partir du", first(pairs, "cree_apres").to_string()),
                ("cree_avant", "Fiche créée avant le", first(pairs, "cree_avant").to_string()),
                ("actif_apres", "Dernière interaction à partir du", first(pairs, "actif_apres").to_string()),
                ("actif_avant", "Dernière interaction avant le", first(pairs, "actif_avant").to_string()),
            ],
            count,
            name: first(pairs, "nom").to_string(),
            query,
            can_save: a.allows_somewhere(Perm::ManagePeople),
            segments: saved,
            error,
        },
    )
}

async fn builder(State(app): State<App>, viewer: Viewer, Query(pairs): Query<Pairs>) -> WebResult<Response> {
    builder_page(&app, &viewer, &pairs, None, StatusCode::OK).await
}

async fn save(State(app): State<App>, viewer: Viewer, Form(form): Form<Pairs>) -> WebResult<Response> {
    // The criteria travel from the counted builder as one hidden field holding its query string.
    let mut pairs: Pairs = serde_urlencoded::from_str(first(&form, "criteres"))
        .map_err(|_| Error::Invalid("Critères illisibles : recomptez avant d'enregistrer.".into()))?;
    pairs.extend(form.iter().filter(|(k, _)| k == "nom" || k == "federation_id").cloned());
    pairs.push(("compter".into(), "1".into()));
    let fed = match first(&pairs, "federation_id") {
        "" => None,
        v => Some(v.parse::<i64>().map_err(|_| Error::Invalid("Fédération invalide.".into()))?),
    };
    let result = match definition_from(&pairs) {
        Ok(def) if def.is_empty() => Err(Error::Invalid("Choisissez au moins un critère.".into())),
        Ok(def) => segments::save(&app.db, &viewer.access, fed, first(&pairs, "nom"), &def).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(s) => {
            audit::record(
                &app.db,
                &viewer.meta,
                viewer.audit("segment_saved").target("segment", s.id).federation(s.federation_id),
            )
            .await?;
            Ok(Redirect::to(&format!("/segments/{}", s.id)).into_response())
        }
        Err(Error::Invalid(m) | Error::Conflict(m)) => {
            builder_page(&app, &viewer, &pairs, Some(m), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "people/segment.html")]
struct SegmentPage {
    layout: Layout,
    segment: Segment,
    count: String,
    criteria: Vec<String>,
    can_manage: bool,
}

/// The criteria of a definition in words.
async fn describe(app: &App, viewer: &Viewer, d: &Definition) -> WebResult<Vec<String>> {
    let mut out = Vec::new();
    if !d.categories.is_empty() {
        out.push(format!(
            "Catégorie : {}",
            d.categories.iter().map(|c| people::category_label(c)).collect::<Vec<_>>().join(" ou ")
        ));
    }
    if !d.tags.is_empty() {
        out.push(format!("Étiquette : {}", d.tags.join(" ou ")));
    }
    if !d.skills.is_empty() {
        let all = people::skill_list(&app.db).await?;
        let names: Vec<String> = all.into_iter().filter(|(id, _)| d.skills.contains(id)).map(|(_, n)| n).collect();
        out.push(format!("Compétence ou cause : {}", names.join(" ou ")));
    }
    if !d.sections.is_empty() {
        let all = org::sections_in_scope(&app.db, &viewer.access, Perm::ViewPeople).await?;
        let names: Vec<String> = all.into_iter().filter(|s| d.sections.contains(&s.id)).map(|s| s.name).collect();
        out.push(format!("Section : {}", names.join(" ou ")));
    }
    if !d.communes.is_empty() {
        out.push(format!("Communes (INSEE) : {}", d.communes.join(", ")));
    }
    if !d.circonscriptions.is_empty() {
        out.push(format!("Circonscriptions : {}", d.circonscriptions.join(", ")));
    }
    if let Some((p, g)) = &d.consent {
        out.push(format!("{} : {}", consent::purpose_label(p), if *g { "accepté" } else { "non accepté" }));
    }
    for (v, label) in [
        (d.created_after, "Fiche créée à partir du"),
        (d.created_before, "Fiche créée avant le"),
        (d.active_after, "Dernière interaction à partir du"),
        (d.active_before, "Dernière interaction avant le"),
    ] {
        if let Some(t) = v {
            out.push(format!("{label} {}", super::pages::format_time(t).split(' ').next().unwrap_or("")));
        }
    }
    if let Some(n) = d.engaged_last {
        out.push(format!("A ouvert ou cliqué l'une des {n} dernières lettres"));
    }
    for (list, label) in [(&d.include, "Dans le segment"), (&d.exclude, "Hors du segment")] {
        for id in list {
            let name = segments::get(&app.db, &viewer.access, *id)
                .await
                .map(|s| s.name)
                .unwrap_or_else(|_| format!("n° {id}"));
            out.push(format!("{label} « {name} »"));
        }
    }
    Ok(out)
}

async fn show(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let segment = segments::get(&app.db, &viewer.access, id).await?;
    let count = segments::count(&app.db, &viewer.access, &segment.definition).await?;
    render(SegmentPage {
        layout: Layout::new(&app, &viewer, &segment.name, "/personnes"),
        criteria: describe(&app, &viewer, &segment.definition).await?,
        count: format_int(count),
        can_manage: viewer.access.allows(Perm::ManagePeople, segment.scope()),
        segment,
    })
}

async fn delete(State(app): State<App>, viewer: Viewer, Path(id): Path<i64>) -> WebResult<Response> {
    let segment = segments::get(&app.db, &viewer.access, id).await?;
    segments::delete(&app.db, &viewer.access, &segment).await?;
    audit::record(
        &app.db,
        &viewer.meta,
        viewer.audit("segment_deleted").target("segment", segment.id).federation(segment.federation_id),
    )
    .await?;
    Ok(Redirect::to("/segments").into_response())
}
