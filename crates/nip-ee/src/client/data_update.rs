//! Changes to a group's data (name, description, image, relays, admins, public id).

use nipee_nostr::PublicKey;

use crate::group_data::{GroupImage, NostrGroupData};
use crate::ids::NostrGroupId;

/// Changes to the group data; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupDataUpdate {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New image fields.
    pub image: Option<GroupImage>,
    /// New relay list.
    pub relays: Option<Vec<String>>,
    /// New admin list (must keep at least one admin who is a member).
    pub admins: Option<Vec<PublicKey>>,
    /// A new public id (moves the group's `h` tag).
    pub nostr_group_id: Option<NostrGroupId>,
}

impl GroupDataUpdate {
    /// No change yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A new description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// New image fields.
    pub fn image(mut self, image: GroupImage) -> Self {
        self.image = Some(image);
        self
    }

    /// A new relay list.
    pub fn relays(mut self, relays: Vec<String>) -> Self {
        self.relays = Some(relays);
        self
    }

    /// A new admin list.
    pub fn admins(mut self, admins: Vec<PublicKey>) -> Self {
        self.admins = Some(admins);
        self
    }

    /// A new public id.
    pub fn nostr_group_id(mut self, id: NostrGroupId) -> Self {
        self.nostr_group_id = Some(id);
        self
    }

    pub(crate) fn apply_to(self, data: &mut NostrGroupData) {
        if let Some(n) = self.name {
            data.name = n;
        }
        if let Some(d) = self.description {
            data.description = d;
        }
        if let Some(i) = self.image {
            data.image = i;
        }
        if let Some(mut r) = self.relays {
            r.sort();
            r.dedup();
            data.relays = r;
        }
        if let Some(mut a) = self.admins {
            a.sort();
            a.dedup();
            data.admins = a;
        }
        if let Some(h) = self.nostr_group_id {
            data.nostr_group_id = *h.as_bytes();
        }
    }
}
