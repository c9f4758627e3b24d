//! Entra directory roles a customer's JIT accounts get, by template id (the ids Microsoft lists in
//! https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference).

use super::names::Guid;

/// Well-known built-in roles, so admins can name them instead of pasting GUIDs.
pub const KNOWN_ROLES: &[(&str, &str)] = &[
    (
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    (
        "Privileged Role Administrator",
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
    ),
    (
        "Privileged Authentication Administrator",
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    ),
    ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    (
        "Exchange Administrator",
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
    ),
    (
        "Security Administrator",
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
    ),
    (
        "Intune Administrator",
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
    ),
    (
        "Helpdesk Administrator",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    ),
    (
        "SharePoint Administrator",
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    ),
    (
        "Teams Administrator",
        "69091246-20e8-4a56-aa4d-066075b2a7a8",
    ),
    (
        "Authentication Administrator",
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    ),
    (
        "Conditional Access Administrator",
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    ),
    (
        "Application Administrator",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    ),
    (
        "Cloud Application Administrator",
        "158c047a-c907-4556-b7ef-446551a6b5f7",
    ),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
    (
        "License Administrator",
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
    ),
    (
        "Groups Administrator",
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    ),
    (
        "Password Administrator",
        "966707d0-3269-4727-9be2-8c3a10f19b9d",
    ),
    (
        "Compliance Administrator",
        "17315797-102d-40b4-93e0-432062caca18",
    ),
    (
        "Cloud Device Administrator",
        "7698a772-787b-4ac8-901f-60d6b08affd2",
    ),
];

/// A role given as a template id or a known name ("Company Administrator" is Global
/// Administrator's older name), as its template id.
pub fn parse_role(text: &str) -> Result<String, String> {
    if let Ok(guid) = Guid::parse(text) {
        return Ok(guid.as_str().to_string());
    }
    let wanted = text.trim().to_ascii_lowercase();
    let wanted = if wanted == "company administrator" {
        "global administrator".to_string()
    } else {
        wanted
    };
    KNOWN_ROLES
        .iter()
        .find(|(name, _)| name.to_ascii_lowercase() == wanted)
        .map(|(_, id)| id.to_string())
        .ok_or_else(|| format!("{text:?} is neither a role template id nor a known role name"))
}

pub fn role_name(id: &str) -> Option<&'static str> {
    KNOWN_ROLES
        .iter()
        .find(|(_, rid)| *rid == id)
        .map(|(name, _)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids() {
        assert_eq!(
            parse_role("Company Administrator").unwrap(),
            "62e90394-69f5-4237-9190-012177145e10"
        );
        assert_eq!(
            parse_role("user administrator").unwrap(),
            "fe930be7-5e62-47db-91af-98c3a49a38b1"
        );
        assert!(parse_role("Supreme Leader").is_err());
    }
}
