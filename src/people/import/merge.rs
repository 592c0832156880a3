//! Merging rows into people without losing data: the `Draft` a batch leaves a person as.

use super::Options;
use super::validate::Item;
use crate::db::link::Arg;
use crate::people;
use crate::people::default_legal_basis;

/// A person as the batch leaves them: read from the database (`stored`) or created by a row of the batch.
pub(super) struct Draft {
    /// (id, updated_at) of a person read from the database.
    pub(super) stored: Option<(i64, i64)>,
    pub(super) section_id: Option<i64>,
    pub(super) commune_code: Option<String>,
    pub(super) first_name: String,
    pub(super) last_name: String,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
    /// Further addresses and phones; the ones after `stored_others` are to insert.
    pub(super) other_emails: Vec<String>,
    pub(super) other_phones: Vec<String>,
    pub(super) stored_others: (usize, usize),
    pub(super) address: String,
    pub(super) postcode: String,
    pub(super) city: String,
    pub(super) notes: String,
    pub(super) external_id: String,
    pub(super) category: &'static str,
    /// The category's usual legal basis, for a new person when the import gives none.
    pub(super) legal_basis: &'static str,
    /// Search keys of the names, unless a name was filled in since (then worked out when written).
    pub(super) keys: Option<(String, String)>,
    pub(super) tags: Vec<String>,
    pub(super) skills: Vec<i64>,
    /// Tags and skills read from the database: the ones after these are to insert.
    pub(super) stored_tags: usize,
    pub(super) stored_skills: usize,
    /// Something was filled in or added (`updated_at` moves).
    pub(super) changed: bool,
    /// The row must be updated (something changed, or the section was set).
    pub(super) dirty: bool,
}

/// Keeps what is there; fills what is empty.
fn fill(existing: &mut String, new: &str) -> bool {
    let filled = existing.is_empty() && !new.is_empty();
    if filled {
        *existing = new.to_string();
    }
    filled
}

/// Gives a person an address or phone they do not have: as their first one when they have none, else as a further
/// one (up to [`people::contacts::MAX_OTHERS`]). True when it was added.
fn add_contact(first: &mut Option<String>, others: &mut Vec<String>, value: &String) -> bool {
    if first.as_ref() == Some(value) || others.contains(value) {
        return false;
    }
    if first.is_none() {
        *first = Some(value.clone());
    } else if others.len() < people::contacts::MAX_OTHERS {
        others.push(value.clone());
    } else {
        return false;
    }
    true
}

impl Draft {
    /// Names, address, phone and postal address, in the order both the insert and the update bind them.
    pub(super) fn contact_args(&self) -> [Arg<'_>; 7] {
        [
            Arg::from(&self.first_name),
            Arg::from(&self.last_name),
            Arg::from(self.email.as_deref()),
            Arg::from(self.phone.as_deref()),
            Arg::from(&self.address),
            Arg::from(&self.postcode),
            Arg::from(&self.city),
        ]
    }

    /// A new person from a row (moved, not copied: a batch creates tens of thousands).
    pub(super) fn new(item: Item, options: &Options) -> Draft {
        let Item { candidate: c, commune, section, skill_ids, keys } = item;
        let category = c.category.unwrap_or(options.category);
        let mut tags: Vec<String> = Vec::with_capacity(c.tags.len());
        for t in c.tags {
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        Draft {
            stored: None,
            section_id: section,
            commune_code: commune,
            first_name: c.first_name,
            last_name: c.last_name,
            email: c.email,
            phone: c.phone,
            other_emails: c.other_emails,
            other_phones: c.other_phones,
            stored_others: (0, 0),
            address: c.address,
            postcode: c.postcode,
            city: c.city,
            notes: c.notes,
            external_id: c.external_id,
            category: category.as_str(),
            legal_basis: default_legal_basis(category),
            keys: Some(keys),
            tags,
            skills: skill_ids,
            stored_tags: 0,
            stored_skills: 0,
            changed: false,
            dirty: false,
        }
    }

    /// Merges a row: only empty fields are filled; tags, skills, addresses and phones the person does not have yet
    /// are added (an address is only taken when `free` says it is nobody else's). True when something changed.
    pub(super) fn merge(&mut self, item: &Item, free: impl Fn(&str) -> bool) -> bool {
        let c = &item.candidate;
        let had_commune = self.commune_code.is_some();
        let mut changed = fill(&mut self.first_name, &c.first_name);
        changed |= fill(&mut self.last_name, &c.last_name);
        if changed {
            self.keys = None;
        }
        for e in c.email.iter().chain(&c.other_emails).filter(|e| free(e)) {
            changed |= add_contact(&mut self.email, &mut self.other_emails, e);
        }
        for p in c.phone.iter().chain(&c.other_phones) {
            changed |= add_contact(&mut self.phone, &mut self.other_phones, p);
        }
        changed |= fill(&mut self.address, &c.address);
        changed |= fill(&mut self.postcode, &c.postcode);
        changed |= fill(&mut self.city, &c.city);
        if !had_commune && item.commune.is_some() {
            self.commune_code = item.commune.clone();
            changed = true;
        }
        changed |= fill(&mut self.notes, &c.notes);
        changed |= fill(&mut self.external_id, &c.external_id);
        if self.section_id.is_none() && item.section.is_some() && !had_commune {
            self.section_id = item.section;
            self.dirty = true;
        }
        for t in &c.tags {
            if !self.tags.contains(t) {
                self.tags.push(t.clone());
                changed = true;
            }
        }
        for s in &item.skill_ids {
            if !self.skills.contains(s) {
                self.skills.push(*s);
                changed = true;
            }
        }
        self.changed |= changed;
        self.dirty |= changed;
        changed
    }
}
