use super::*;

#[test]
fn filters_parse_odata_literals() {
    assert_eq!(
        parse_eq_filter("userPrincipalName eq 'o''neil@x.example'"),
        Some(("userPrincipalName".into(), "o'neil@x.example".into()))
    );
    assert_eq!(parse_eq_filter("userPrincipalName eq 'bad'quote'"), None);
    assert_eq!(parse_eq_filter("startswith(displayName,'a')"), None);
}

#[test]
fn password_rules() {
    assert!(password_meets_entra_rules("Abcdefg1"));
    assert!(password_meets_entra_rules("abcdefg1!"));
    assert!(!password_meets_entra_rules("abcdefgh1"));
    assert!(!password_meets_entra_rules("Ab1!"));
    assert!(!password_meets_entra_rules("Abcdefg1é"));
    assert!(!password_meets_entra_rules(&"Aa1!".repeat(65)));
}

#[test]
fn guids_look_like_guids() {
    assert!(is_guid(&new_guid()));
    assert!(!is_guid("not-a-guid"));
}

#[test]
fn tenants_get_an_initial_onmicrosoft_domain_after_the_default() {
    let spec =
        TenantSpec::new("t", "c", "s", "Contoso.example").with_federated_domain("corp.example");
    let domains = spec.all_domains();
    let names: Vec<&str> = domains.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(
        names,
        ["Contoso.example", "contoso.onmicrosoft.com", "corp.example"]
    );
    assert!(domains[0].is_default && !domains[1].is_default && domains[1].is_initial);
    assert_eq!(
        domains[2].authentication_type,
        DomainAuthentication::Federated
    );
}
