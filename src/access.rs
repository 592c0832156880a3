//! Roles, scopes and the scope gate.
//!
//! Every role is granted with a scope (national, one federation, or one section). A caller's [`Access`]
//! is the set of its grants. Two questions are answered here and nowhere else:
//! - may the caller do `Perm` at a given place? ([`Access::allows`]);
//! - which rows may the caller see for `Perm`? ([`Access::filter`]), a SQL condition that every scoped
//!   repository query appends. Handlers never write scope conditions themselves.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    NationalAdmin,
    NationalStaff,
    FederationCoordinator,
    FederationStaff,
    SectionSecretary,
    Activist,
}

pub const ALL_ROLES: [Role; 6] = [
    Role::NationalAdmin,
    Role::NationalStaff,
    Role::FederationCoordinator,
    Role::FederationStaff,
    Role::SectionSecretary,
    Role::Activist,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    National,
    Federation,
    Section,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::NationalAdmin => "national_admin",
            Role::NationalStaff => "national_staff",
            Role::FederationCoordinator => "federation_coordinator",
            Role::FederationStaff => "federation_staff",
            Role::SectionSecretary => "section_secretary",
            Role::Activist => "activist",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        ALL_ROLES.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::NationalAdmin => "Administration nationale",
            Role::NationalStaff => "Permanent·e national·e",
            Role::FederationCoordinator => "Coordination fédérale",
            Role::FederationStaff => "Équipe fédérale",
            Role::SectionSecretary => "Secrétariat de section",
            Role::Activist => "Militant·e",
        }
    }

    /// Lower is more powerful. A grantor only hands out roles ranked below its own.
    pub fn rank(self) -> u8 {
        match self {
            Role::NationalAdmin => 0,
            Role::NationalStaff => 1,
            Role::FederationCoordinator => 2,
            Role::FederationStaff => 3,
            Role::SectionSecretary => 4,
            Role::Activist => 5,
        }
    }

    /// The scope kinds a role may be granted with.
    pub fn scope_kinds(self) -> &'static [ScopeKind] {
        match self {
            Role::NationalAdmin | Role::NationalStaff => &[ScopeKind::National],
            Role::FederationCoordinator | Role::FederationStaff => &[ScopeKind::Federation],
            Role::SectionSecretary => &[ScopeKind::Section],
            Role::Activist => &[ScopeKind::Federation, ScopeKind::Section],
        }
    }

    fn perms(self) -> &'static [Perm] {
        use Perm::*;
        match self {
            Role::NationalAdmin => &[
                ViewOrg,
                ViewMembers,
                ManageSections,
                ManageUsers,
                ViewAudit,
                ViewPeople,
                ContactDetails,
                ManagePeople,
                SendNewsletters,
                ManageTerritory,
                ManageMissions,
            ],
            Role::NationalStaff => {
                &[ViewOrg, ViewMembers, ManageSections, ViewPeople, SendNewsletters, ManageTerritory, ManageMissions]
            }
            Role::FederationCoordinator => &[
                ViewOrg,
                ViewMembers,
                ManageSections,
                ManageUsers,
                ViewPeople,
                ContactDetails,
                ManagePeople,
                SendNewsletters,
                ManageMissions,
            ],
            Role::FederationStaff => &[
                ViewOrg,
                ViewMembers,
                ManageSections,
                ViewPeople,
                ContactDetails,
                ManagePeople,
                SendNewsletters,
                ManageMissions,
            ],
            Role::SectionSecretary => {
                &[ViewOrg, ViewMembers, ManageUsers, ViewPeople, ContactDetails, ManagePeople, ManageMissions]
            }
            Role::Activist => &[ViewOrg],
        }
    }
}

/// What a caller wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// See the organisation: federations, their sections and communes.
    ViewOrg,
    /// See the organisation's people (accounts and their roles).
    ViewMembers,
    /// Create, edit and delete sections.
    ManageSections,
    /// Invite people, grant and revoke roles, disable accounts.
    ManageUsers,
    /// Read the security audit log.
    ViewAudit,
    /// See people of the address book (names, e-mail, category, commune, tags).
    ViewPeople,
    /// See their phone numbers and notes too (field-level rule).
    ContactDetails,
    /// Create, edit, import, export and erase people, and record their consents.
    ManagePeople,
    /// Compose and send newsletters to the people in scope, and read their analytics.
    SendNewsletters,
    /// Edit the national territory settings: import election results and socio-economic files, group candidates
    /// into blocs, tune the classification thresholds, write a zone's local issues.
    ManageTerritory,
    /// Publish, edit and close missions in scope, confirm attendance, review flagged field reports.
    ManageMissions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "level", rename_all = "snake_case")]
pub enum Scope {
    National,
    Federation { federation_id: i64 },
    Section { federation_id: i64, section_id: i64 },
}

impl Scope {
    pub fn kind(self) -> ScopeKind {
        match self {
            Scope::National => ScopeKind::National,
            Scope::Federation { .. } => ScopeKind::Federation,
            Scope::Section { .. } => ScopeKind::Section,
        }
    }

    pub fn federation_id(self) -> Option<i64> {
        match self {
            Scope::National => None,
            Scope::Federation { federation_id } | Scope::Section { federation_id, .. } => Some(federation_id),
        }
    }

    pub fn section_id(self) -> Option<i64> {
        match self {
            Scope::Section { section_id, .. } => Some(section_id),
            _ => None,
        }
    }

    /// Builds a scope from the two nullable columns stored with a grant.
    pub fn from_ids(federation_id: Option<i64>, section_id: Option<i64>) -> Scope {
        match (federation_id, section_id) {
            (Some(federation_id), Some(section_id)) => Scope::Section { federation_id, section_id },
            (Some(federation_id), None) => Scope::Federation { federation_id },
            _ => Scope::National,
        }
    }

    /// Does this scope contain `place`?
    pub fn covers(self, place: Scope) -> bool {
        match (self, place) {
            (Scope::National, _) => true,
            (Scope::Federation { federation_id: a }, p) => p.federation_id() == Some(a),
            (Scope::Section { section_id: a, .. }, Scope::Section { section_id: b, .. }) => a == b,
            _ => false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub id: i64,
    pub role: Role,
    pub scope: Scope,
}

/// Everything the caller may do: the grants of the signed-in user (or of the API token's user).
#[derive(Clone, Debug, Default)]
pub struct Access {
    pub user_id: i64,
    pub grants: Vec<Grant>,
}

impl Access {
    fn grants_for(&self, perm: Perm) -> impl Iterator<Item = &Grant> {
        self.grants.iter().filter(move |g| g.role.perms().contains(&perm))
    }

    /// The most powerful role held, for the dashboard and the navigation.
    pub fn top_role(&self) -> Option<Role> {
        self.grants.iter().map(|g| g.role).min_by_key(|r| r.rank())
    }

    pub fn is_national(&self) -> bool {
        self.grants.iter().any(|g| g.scope == Scope::National)
    }

    /// May the caller do `perm` somewhere? (decides 403 for a whole page)
    pub fn allows_somewhere(&self, perm: Perm) -> bool {
        self.grants_for(perm).next().is_some()
    }

    /// May the caller do `perm` at `place`? A section grant reaches up to its federation only to view
    /// the organisation (an activist of a section sees their federation's page, not its people).
    pub fn allows(&self, perm: Perm, place: Scope) -> bool {
        self.grants_for(perm).any(|g| {
            g.scope.covers(place)
                || (perm == Perm::ViewOrg
                    && matches!(g.scope, Scope::Section { .. })
                    && g.scope.federation_id() == place.federation_id())
        })
    }

    /// The SQL condition selecting rows the caller may see for `perm`. `fed_col` is the row's federation
    /// column; `sec_col` its section column when the row can belong to a section. Ids come from our own
    /// grant rows (integers), so they are written inline; nothing from the request reaches this string.
    pub fn filter(&self, perm: Perm, fed_col: &str, sec_col: Option<&str>) -> String {
        let mut parts = Vec::new();
        for g in self.grants_for(perm) {
            match g.scope {
                Scope::National => return "(1=1)".into(),
                Scope::Federation { federation_id } => parts.push(format!("{fed_col} = {federation_id}")),
                Scope::Section { federation_id, section_id } => {
                    if perm == Perm::ViewOrg {
                        parts.push(format!("{fed_col} = {federation_id}"));
                    } else if let Some(sec) = sec_col {
                        parts.push(format!("{sec} = {section_id}"));
                    }
                }
            }
        }
        if parts.is_empty() { "(1=0)".into() } else { format!("({})", parts.join(" OR ")) }
    }

    /// May the caller grant `role` at `scope`? Only roles ranked below one the caller holds with
    /// `ManageUsers` over that scope (national administrators may grant every role).
    pub fn can_grant(&self, role: Role, scope: Scope) -> bool {
        if !role.scope_kinds().contains(&scope.kind()) {
            return false;
        }
        self.grants_for(Perm::ManageUsers)
            .any(|g| g.scope.covers(scope) && (g.role == Role::NationalAdmin || role.rank() > g.role.rank()))
    }

    /// The roles the caller could grant somewhere (for forms).
    pub fn grantable_roles(&self) -> Vec<Role> {
        ALL_ROLES
            .into_iter()
            .filter(|r| {
                self.grants_for(Perm::ManageUsers).any(|g| g.role == Role::NationalAdmin || r.rank() > g.role.rank())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(grants: &[(Role, Scope)]) -> Access {
        Access {
            user_id: 1,
            grants: grants
                .iter()
                .enumerate()
                .map(|(i, (role, scope))| Grant { id: i as i64, role: *role, scope: *scope })
                .collect(),
        }
    }
    const F1: Scope = Scope::Federation { federation_id: 1 };
    const F2: Scope = Scope::Federation { federation_id: 2 };
    const S11: Scope = Scope::Section { federation_id: 1, section_id: 11 };
    const S12: Scope = Scope::Section { federation_id: 1, section_id: 12 };
    const S21: Scope = Scope::Section { federation_id: 2, section_id: 21 };

    #[test]
    fn a_coordinator_stays_in_their_federation() {
        let a = access(&[(Role::FederationCoordinator, F1)]);
        assert!(a.allows(Perm::ManageSections, F1) && a.allows(Perm::ManageSections, S12));
        assert!(!a.allows(Perm::ViewOrg, F2) && !a.allows(Perm::ViewMembers, S21));
        assert_eq!(a.filter(Perm::ViewMembers, "f", Some("s")), "(f = 1)");
        assert!(a.can_grant(Role::FederationStaff, F1));
        assert!(a.can_grant(Role::Activist, S11));
        assert!(!a.can_grant(Role::FederationCoordinator, F1), "no peer grants");
        assert!(!a.can_grant(Role::FederationStaff, F2));
        assert!(!a.can_grant(Role::NationalStaff, Scope::National));
    }

    #[test]
    fn section_roles_see_their_federation_but_only_their_section_people() {
        let a = access(&[(Role::SectionSecretary, S11)]);
        assert!(a.allows(Perm::ViewOrg, F1));
        assert!(
            a.allows(Perm::ViewMembers, S11) && !a.allows(Perm::ViewMembers, S12) && !a.allows(Perm::ViewMembers, F1)
        );
        assert_eq!(a.filter(Perm::ViewMembers, "f", Some("s")), "(s = 11)");
        assert_eq!(a.filter(Perm::ViewMembers, "f", None), "(1=0)");
        assert!(a.can_grant(Role::Activist, S11) && !a.can_grant(Role::Activist, S12));
        assert!(!a.can_grant(Role::SectionSecretary, S11));
    }

    #[test]
    fn activists_manage_nothing() {
        let a = access(&[(Role::Activist, F1)]);
        assert!(a.allows(Perm::ViewOrg, F1));
        for p in [
            Perm::ViewMembers,
            Perm::ManageSections,
            Perm::ManageUsers,
            Perm::ViewAudit,
            Perm::ViewPeople,
            Perm::ContactDetails,
            Perm::ManagePeople,
        ] {
            assert!(!a.allows_somewhere(p), "{p:?}");
            assert_eq!(a.filter(p, "f", Some("s")), "(1=0)");
        }
        assert!(a.grantable_roles().is_empty());
    }

    #[test]
    fn national_roles_see_everything_and_only_admins_grant_national_roles() {
        let admin = access(&[(Role::NationalAdmin, Scope::National)]);
        let staff = access(&[(Role::NationalStaff, Scope::National)]);
        assert_eq!(admin.filter(Perm::ViewAudit, "f", None), "(1=1)");
        assert!(staff.allows(Perm::ViewMembers, S21) && !staff.allows_somewhere(Perm::ManageUsers));
        assert!(admin.can_grant(Role::NationalAdmin, Scope::National));
        assert!(!admin.can_grant(Role::NationalAdmin, F1), "role and scope kind must match");
        assert!(!admin.can_grant(Role::SectionSecretary, F1));
    }

    #[test]
    fn several_grants_add_up() {
        let a = access(&[(Role::FederationStaff, F1), (Role::Activist, F2)]);
        assert_eq!(a.filter(Perm::ViewOrg, "f", None), "(f = 1 OR f = 2)");
        assert_eq!(a.filter(Perm::ViewMembers, "f", None), "(f = 1)");
        assert_eq!(a.top_role(), Some(Role::FederationStaff));
    }
}
