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
