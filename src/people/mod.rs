//! People (address book): members, sympathisers and curious people of each federation.
//!
//! Scoped repository like `org`: every query goes through [`Access::filter`] with [`Perm::ViewPeople`] (or
//! [`Perm::ManagePeople`] for writes) over the person's federation and section, and a [`Person`] value is
//! only handed out by [`get`]. Phone numbers and notes are shown only to roles with [`Perm::ContactDetails`].
//!
//! [`Access::filter`]: crate::access::Access::filter
//! [`Perm::ViewPeople`]: crate::access::Perm::ViewPeople
//! [`Perm::ManagePeople`]: crate::access::Perm::ManagePeople
//! [`Perm::ContactDetails`]: crate::access::Perm::ContactDetails

pub mod consent;
pub mod contacts;
pub mod csv_import;
pub mod import;
pub mod register;
pub mod retention;
pub mod search;
pub mod segments;
pub mod selfservice;

mod catalog;
mod duplicates;
mod edit;
mod erasure;
mod events;
mod export;
mod input;
mod model;
mod queries;
mod subject_access;

pub use catalog::{add_skill, curated, person_curated, skill_ids, skill_list};
pub use duplicates::{duplicates_of, merge};
pub use edit::{FieldContact, add_from_field, bulk_tag, create, update};
pub(crate) use erasure::erase_unchecked;
pub use erasure::{candidate_suppressed, erase, pepper, suppress, suppressed, suppression_hash};
pub use events::{Event, add_event, timeline};
pub use export::export_csv;
pub use input::{PersonInput, Valid, resolve_commune, section_for_commune, validate};
pub(crate) use model::PERSON_COLUMNS;
pub use model::{
    LEGAL_BASES, Person, PersonRow, category_label, default_legal_basis, display_name, legal_basis_label, phone_display,
};
pub use queries::{Filter, get, others, search, skills, tags};
pub use subject_access::{personal_data, personal_data_csv};
